"""Accounts and market facts for a run: registered and funded on a real local server (the
makers' opening book resting, the readers with some history), or read from
PERF_ACCOUNTS for a deployed environment; and one process's schedule against the real
app, where nothing the scenario sends may fail."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ops.core.exits import CannotRun
from ops.live.client import TradingClient
from ops.live.server import AppServer, seeded_server
from ops.perf.provision import (
    ACCOUNTS_VARIABLE,
    CASH,
    HOLDING_LOTS,
    Provisioned,
    ProvisionProblem,
    deployed_accounts,
    market_facts,
    provision,
)
from ops.perf.scenarios import CANCEL, LOGIN, PLACE, Account, LoadProcess, Plan, parameters
from ops.perf.schedule import HttpSender
from ops.perf.slo import Slo
from tests.ops.monitor.http_support import StubServer, json_answer
from tests.ops.perf.perf_support import slo

TRADING = {"accounts": 3, "makers": 1, "symbols": ["AAPL", "MSFT"], "levels": 2}
READING = {"accounts": 2, "symbols": ["AAPL"], "levels": 2}


def model(**run: float) -> Slo:
    return slo(run={"rate": 20, "warmup_seconds": 0.5, "duration_seconds": 3, **run},
               scenarios={"trader-mix": TRADING, "read-mix": READING})  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    logs = tmp_path_factory.mktemp("logs")
    with seeded_server(dict(os.environ), {"RATE_LIMIT_ENABLED": "false"}, logs) as started:
        yield started


@pytest.fixture(scope="module")
def trading(server: AppServer) -> Provisioned:
    return provision(server.url, "trader-mix", model(), {}, local=True)


def client_of(server: AppServer, account: Account) -> TradingClient:
    client = TradingClient(server.url)
    client.login(account.email, account.password)
    return client


def test_local_accounts_are_registered_with_random_passwords_and_funded(
    server: AppServer, trading: Provisioned
) -> None:
    assert [account.role for account in trading.accounts] == ["maker", "taker", "taker"]
    passwords = {account.password for account in trading.accounts}
    assert len(passwords) == 3
    assert all(len(password) >= 20 for password in passwords)
    taker = trading.accounts[1]
    assert taker.password not in repr(trading)
    with client_of(server, taker) as client:
        account = client.json("GET", "/v1/account")
        positions = {row["symbol"]: row["qty"] for row in client.json("GET", "/v1/positions")}
    assert Decimal(account["cash"]) == Decimal(CASH)
    assert positions == {"AAPL": str(HOLDING_LOTS), "MSFT": str(HOLDING_LOTS)}


def test_the_makers_opening_book_rests_around_the_listing_price(
    server: AppServer, trading: Provisioned
) -> None:
    assert trading.market["AAPL"].reference == Decimal("190.00")  # an empty book: the listing
    assert trading.market["MSFT"].tick == Decimal("0.01")
    with client_of(server, trading.accounts[0]) as maker:
        orders = maker.orders(limit=50)["items"]
        book = maker.book("AAPL")
    # Two symbols, two levels, both sides.
    assert len(orders) == 8
    assert {order["status"] for order in orders} == {"new"}
    assert [level["price"] for level in book["bids"]] == ["189.99", "189.98"]
    assert [level["price"] for level in book["asks"]] == ["190.01", "190.02"]
    assert {level["qty"] for level in book["bids"] + book["asks"]} == {"10"}


def test_readers_get_a_fill_and_a_resting_order(server: AppServer) -> None:
    reading = provision(server.url, "read-mix", model(), {}, local=True)
    reader = reading.accounts[1]
    assert reader.role == "reader"
    with client_of(server, reader) as client:
        fills = client.json("GET", "/v1/fills")["items"]
        orders = client.orders()["items"]
    assert [fill["side"] for fill in fills] == ["buy"]
    assert sorted(order["status"] for order in orders) == ["filled", "new"]


def test_a_deployed_environment_uses_the_accounts_it_names(
    server: AppServer, trading: Provisioned, tmp_path: Path
) -> None:
    listing = tmp_path / "accounts.json"
    listing.write_text(json.dumps([account.model_dump() for account in trading.accounts]))
    found = provision(server.url, "trader-mix", model(), {ACCOUNTS_VARIABLE: str(listing)},
                      local=False)  # fmt: skip
    assert found.accounts == trading.accounts
    # With a book, the reference is its middle.
    with TradingClient(server.url) as client:
        quote = client.quote("AAPL")
    middle = (Decimal(quote["bid"]) + Decimal(quote["ask"])) / 2
    assert found.market["AAPL"].reference == middle
    unlisted = r"^NOPE is not listed at http://127\.0\.0\.1:"
    with TradingClient(server.url) as client, pytest.raises(ProvisionProblem, match=unlisted):
        market_facts(client, ["NOPE"])


@pytest.mark.slow
def test_the_trader_mix_runs_against_the_real_app_without_a_failure(server: AppServer) -> None:
    run = model()
    trading = provision(server.url, "trader-mix", run, {}, local=True)
    plan = Plan("trader-mix", run, trading.accounts, 5, 1, "h", trading.market)
    sender = HttpSender(server.url, concurrency=plan.max_in_flight_per_process())
    try:
        process = LoadProcess(plan, 0, sender)
        assert process.run() == ""
    finally:
        sender.close()
    figures = process.recorder.snapshot("standalone")["requests"]
    assert {name: row["failure_samples"] for name, row in figures.items()} == {
        LOGIN: [],
        PLACE: [],
        CANCEL: [],
    }
    assert figures[LOGIN]["count"] == 3
    assert figures[PLACE]["count"] > 20
    with client_of(server, trading.accounts[1]) as taker:
        assert taker.json("GET", "/v1/fills")["items"]
        # What the run left resting was cancelled at its end.
        assert not taker.json("GET", "/v1/orders", params={"status": "new"})["items"]


# -- a deployed environment's accounts, read -------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("[{", "not JSON: "),
        ('[{"email": "a@b.io", "password": "p", "role": "boss"}]',
         "0.role: Input should be 'maker', 'taker' or 'reader'"),
        ('[{"email": "a@b.io", "role": "maker"}]', "0.password: Field required"),
        ('[{"email": "a@b.io", "password": "p", "role": "maker"}]',
         "the scenario needs at least one 'taker' account"),
    ],
)  # fmt: skip
def test_bad_deployed_accounts_are_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    listing = tmp_path / "accounts.json"
    if content is not None:
        listing.write_text(content)
    with pytest.raises(CannotRun) as raised:
        deployed_accounts({ACCOUNTS_VARIABLE: str(listing)}, parameters("trader-mix", model()))
    assert str(raised.value).startswith(f"{ACCOUNTS_VARIABLE} ({listing}): ")
    assert message in str(raised.value)
    assert '"p"' not in str(raised.value)


def test_a_deployed_environment_needs_its_accounts_named() -> None:
    with pytest.raises(ProvisionProblem, match=f"^{ACCOUNTS_VARIABLE}: required to load"):
        deployed_accounts({}, parameters("trader-mix", model()))


# -- reference prices ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quote", "last_price", "reference"),
    [
        ({"bid": "99.5", "ask": "100.5", "last": "97"}, "97", Decimal(100)),
        ({"bid": None, "ask": "100.5", "last": "97"}, "97", Decimal(97)),
        ({"bid": None, "ask": None, "last": None}, None, Decimal("190.00")),  # the listing
    ],
)
def test_the_reference_price_is_the_quote_middle_else_the_last_trade_else_the_listing(
    quote: dict[str, str | None], last_price: str | None, reference: Decimal
) -> None:
    with StubServer() as stub:
        listed = {"symbol": "AAPL", "tick_size": "0.01", "lot_size": "1",
                  "last_price": last_price}  # fmt: skip
        stub.answer("/v1/instruments", json_answer([listed]))
        stub.answer("/v1/market/AAPL/quote", json_answer(quote))
        with TradingClient(stub.url) as client:
            assert market_facts(client, ["AAPL"])["AAPL"].reference == reference


def test_a_symbol_with_no_price_at_all_cannot_be_traded() -> None:
    with StubServer() as stub:
        listed = {"symbol": "NEW", "tick_size": "0.01", "lot_size": "1", "last_price": None}
        stub.answer("/v1/instruments", json_answer([listed]))
        stub.answer("/v1/market/NEW/quote", json_answer({"bid": None, "ask": None}))
        with TradingClient(stub.url) as client, pytest.raises(ProvisionProblem) as raised:
            market_facts(client, ["NEW"])
    assert str(raised.value) == "NEW: no quote, no last trade, no listing price"
