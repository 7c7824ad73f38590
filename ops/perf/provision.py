"""The accounts and market facts a load run acts with.

Against a local server, the scenario's accounts are registered through the API with
random passwords (kept in the plan, never printed), funded by the local admin (cash and
a holding of every traded symbol), and the makers rest their opening orders a few ticks
either side of the reference price -- so the first takers find a book. Readers trade a
little first, so that their orders and fills are not empty lists.

A named deployed environment's accounts are its load accounts (``[users]``, made by
``invoke users.provision``; their passwords derive from one secret,
:mod:`ops.users.accounts`). A bare ``--host`` has no definition: ``PERF_ACCOUNTS`` names
a JSON file in the plan's format (``[{"email", "password", "role"}]``). Nothing is written
to a deployed service before the run.

The reference price of a symbol is the middle of its quote, else its last trade, else
the price the instrument was listed at (migration 0002).
"""

from __future__ import annotations

import importlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ops.core.exits import CannotRun
from ops.environments import EnvironmentDefinition, known_secrets
from ops.live.client import TradingClient, limit_order
from ops.live.server import funded_admin
from ops.perf.scenarios import (
    Account,
    Instrument,
    Role,
    ScenarioParameters,
    check_accounts,
    instruments,
    parameters,
)
from ops.perf.slo import Slo, _first_problem
from ops.users.accounts import scenario_accounts

ACCOUNTS_VARIABLE = "PERF_ACCOUNTS"
CASH = "100000000"  # each local account's deposit
HOLDING_LOTS = 100_000  # each local account's holding of every traded symbol
EMAIL_DOMAIN = "perf.example.com"
LISTING_MIGRATION = "app.db.migrations.versions.0002_seed_instruments"


class ProvisionProblem(CannotRun):
    """The run's accounts or market facts cannot be had; one line."""


@dataclass(frozen=True)
class Provisioned:
    """The accounts a run acts as, and the market facts of the symbols it trades."""

    accounts: tuple[Account, ...]
    market: dict[str, Instrument]


def provision(
    base_url: str,
    scenario: str,
    slo: Slo,
    env: Mapping[str, str],
    *,
    local: bool,
    environment: EnvironmentDefinition | None = None,
) -> Provisioned:
    """Accounts and market facts for ``scenario`` at ``base_url``: registered and funded
    there (``local``); a named ``environment``'s load accounts (``invoke users.provision``
    made them); else the ``PERF_ACCOUNTS`` file (a bare ``--host``)."""
    params = parameters(scenario, slo)
    accounts = None
    if not local:
        accounts = (
            scenario_accounts(environment, params, known_secrets(environment, env))
            if environment is not None
            else deployed_accounts(env, params)
        )
    with TradingClient(base_url) as client:
        market = market_facts(client, params.traded)
    if accounts is None:
        accounts = register(base_url, params, market)
    return Provisioned(accounts, market)


def deployed_accounts(env: Mapping[str, str], params: ScenarioParameters) -> tuple[Account, ...]:
    """The accounts ``PERF_ACCOUNTS`` names; ProvisionProblem saying what is wrong."""
    name = env.get(ACCOUNTS_VARIABLE, "")
    if not name:
        raise ProvisionProblem(f"{ACCOUNTS_VARIABLE}: required to load a deployed environment "
                               '(a JSON file of [{"email", "password", "role"}])')  # fmt: skip
    where = f"{ACCOUNTS_VARIABLE} ({name})"
    try:
        data = json.loads(Path(name).read_text(encoding="utf-8"))
        accounts = TypeAdapter(list[Account]).validate_python(data)
    except FileNotFoundError:
        raise ProvisionProblem(f"{where}: no such file") from None
    except ValidationError as error:
        raise ProvisionProblem(f"{where}: {_first_problem(error)}") from None
    except ValueError as error:
        raise ProvisionProblem(f"{where}: not JSON: {error}") from None
    check_accounts(params, accounts, where)
    return tuple(accounts)


def market_facts(client: TradingClient, symbols: Sequence[str]) -> dict[str, Instrument]:
    """Grid and reference price of each symbol, as the service lists and quotes it."""
    listed = {item["symbol"]: item for item in client.instruments()}
    facts = {}
    for symbol in symbols:
        if symbol not in listed:
            raise ProvisionProblem(f"{symbol} is not listed at {client.base_url}")
        item = listed[symbol]
        reference = _reference(client.quote(symbol), item.get("last_price"), symbol)
        facts[symbol] = Instrument(
            symbol=symbol, tick=item["tick_size"], lot=item["lot_size"], reference=reference
        )
    return facts


def _reference(quote: Mapping[str, Any], last_price: str | None, symbol: str) -> Decimal:
    bid, ask = quote.get("bid"), quote.get("ask")
    if bid and ask:
        return (Decimal(bid) + Decimal(ask)) / 2
    last = quote.get("last") or last_price or listing_prices().get(symbol)
    if not last:
        raise ProvisionProblem(f"{symbol}: no quote, no last trade, no listing price")
    return Decimal(last)


def listing_prices() -> dict[str, str]:
    """The reference price each instrument was listed at (the migration that lists them)."""
    listing = importlib.import_module(LISTING_MIGRATION)
    return {symbol: reference for symbol, _name, _tick, _lot, reference in listing.INSTRUMENTS}


def register(
    base_url: str, params: ScenarioParameters, market: Mapping[str, Instrument]
) -> tuple[Account, ...]:
    """Register and fund the scenario's accounts (as the local admin), then let the makers
    rest their opening orders and the readers make some history."""
    tag = secrets.token_hex(3)
    traded = instruments(market, params.traded)
    with funded_admin(base_url) as admin:
        accounts = tuple(
            _funded(admin, f"perf-{tag}-{number:03d}@{EMAIL_DOMAIN}", role, traded)
            for number, role in enumerate(params.roles())
        )
        for account in accounts:
            orders = _opening_orders(params, account, traded)
            if orders:
                client = TradingClient(base_url, http=admin.http)
                client.login(account.email, account.password)
                for order in orders:
                    _placed(client, order)
    return accounts


def _funded(admin: TradingClient, email: str, role: Role, traded: Sequence[Instrument]) -> Account:
    account = Account(email=email, password=secrets.token_urlsafe(18), role=role)
    account_id = admin.register(account.email, account.password)["account_id"]
    admin.deposit(account_id, CASH)
    for instrument in traded:
        admin.transfer_in(account_id, instrument.symbol, instrument.qty(HOLDING_LOTS),
                          instrument.price(0))  # fmt: skip
    return account


def _opening_orders(
    params: ScenarioParameters, account: Account, traded: Sequence[Instrument]
) -> list[dict[str, str]]:
    orders = []
    for instrument in traded:
        symbol, levels = instrument.symbol, params.levels
        if account.role == "maker":
            orders += [limit_order(symbol, side, qty, price)
                       for side, qty, price in params.opening_book(instrument)]  # fmt: skip
        elif account.role == "reader":
            one = instrument.qty(1)
            orders.append(
                limit_order(symbol, "buy", one, instrument.price(levels), time_in_force="IOC")
            )
            orders.append(limit_order(symbol, "buy", one, instrument.price(-2 * levels)))
    return orders


def _placed(client: TradingClient, order: Mapping[str, str]) -> None:
    body = client.place(order)
    if body.get("status") == "rejected":
        raise ProvisionProblem(f"an opening {order['side']} order for {order['symbol']} was "
                               f"rejected: {body.get('reject_reason')}")  # fmt: skip
