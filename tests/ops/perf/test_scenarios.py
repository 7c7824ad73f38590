"""The scenarios: their parameters, the request mix, what the order flow tracks from the
answers, what is a failure and what a meant rejection; the plan; one process's part."""

from __future__ import annotations

import dataclasses
import json
import stat
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ops.perf.scenarios import (
    BOOK,
    CANCEL,
    CANCEL_ALL,
    FILLS,
    LOGIN,
    ORDERS,
    PLACE,
    QUOTE,
    Account,
    HotSymbol,
    Instrument,
    LoadProcess,
    OrderFlow,
    Plan,
    ReadMix,
    ScenarioProblem,
    Trader,
    TraderMix,
    expected_requests,
    parameters,
    scenario_hash,
    seeded,
    share,
)
from ops.perf.schedule import EXPECTED, OK, Answer, Rate, Request, failed
from ops.perf.slo import Slo
from tests.ops.perf.perf_support import DelayedSender, VirtualLoop, slo

AAPL = Instrument(symbol="AAPL", tick=Decimal("0.01"), lot=Decimal(1), reference=Decimal(190))
MSFT = Instrument(symbol="MSFT", tick=Decimal("0.01"), lot=Decimal(1), reference=Decimal(410))
MARKET = {"AAPL": AAPL, "MSFT": MSFT}
TRADING = {"accounts": 4, "makers": 1, "symbols": ["AAPL", "MSFT"], "cross_share": 0.35,
           "cancel_share": 0.15, "replay_share": 0.05}  # fmt: skip
OPEN = frozenset({"new", "partially_filled"})


def trader_mix(**overrides: Any) -> TraderMix:
    params = parameters("trader-mix", slo(scenarios={"trader-mix": {**TRADING, **overrides}}))
    assert isinstance(params, TraderMix)
    return params


def traders() -> list[Trader]:
    return [Trader("m@x.io", "maker", "maker-token"), Trader("t1@x.io", "taker", "t1-token"),
            Trader("t2@x.io", "taker", "t2-token")]  # fmt: skip


class Exchange:
    """The order API as the flow sees it, in price-time priority: off-tick prices are
    rejected, a known client_order_id is answered with its order, an IOC remainder
    expires, a GTC remainder rests; cancels of closed orders are refused."""

    def __init__(self) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self.by_client: dict[str, dict[str, Any]] = {}
        self.owners: dict[int, str] = {}

    def answer(self, request: Request) -> Answer:
        if request.name == CANCEL:
            order = self.orders.get(int(request.path.split("/")[3]))
            if order is None or order["status"] not in OPEN:
                return Answer(409, b'{"error": {"code": "conflict", "message": "closed"}}')
            order["status"] = "canceled"
            return Answer(200, json.dumps(order).encode())
        assert request.json is not None
        body = dict(request.json)
        known = self.by_client.get(body["client_order_id"])
        if known is not None:
            return Answer(200, json.dumps(known).encode())
        order = self._placed(body)
        self.owners[order["id"]] = request.token
        return Answer(201, json.dumps(order).encode())

    def resting(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [order for order in self.orders.values()
                if order["status"] in OPEN and symbol in (None, order["symbol"])]  # fmt: skip

    def _placed(self, body: dict[str, Any]) -> dict[str, Any]:
        order = {**body, "id": len(self.orders) + 1, "filled_qty": "0",
                 "remaining_qty": body["qty"], "status": "new", "reject_reason": None}  # fmt: skip
        self.orders[order["id"]] = order
        self.by_client[body["client_order_id"]] = order
        if Decimal(body["limit_price"]) % Decimal("0.01"):
            order.update(status="rejected", remaining_qty="0", reject_reason="price_not_on_tick")
            return order
        for maker in self._crossed(order):
            traded = min(Decimal(order["remaining_qty"]), Decimal(maker["remaining_qty"]))
            for side in (order, maker):
                side["filled_qty"] = str(Decimal(side["filled_qty"]) + traded)
                side["remaining_qty"] = str(Decimal(side["remaining_qty"]) - traded)
                side["status"] = "filled" if side["remaining_qty"] == "0" else "partially_filled"
            if order["status"] == "filled":
                break
        if order["time_in_force"] == "IOC" and order["status"] != "filled":
            order.update(status="expired", remaining_qty="0")
        return order

    def _crossed(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        price, buying = Decimal(order["limit_price"]), order["side"] == "buy"

        def crosses(maker: dict[str, Any]) -> bool:
            resting = Decimal(maker["limit_price"])
            return resting <= price if buying else resting >= price

        opposite = [m for m in self.resting(order["symbol"]) if m["side"] != order["side"]]
        makers = [maker for maker in opposite if crosses(maker)]
        return sorted(
            makers, key=lambda m: (Decimal(m["limit_price"]) * (1 if buying else -1), m["id"])
        )


def drive(flow: OrderFlow, exchange: Exchange, count: int) -> list[tuple[Request, Any]]:
    """``count`` requests answered by ``exchange``: each with its outcome."""
    seen = []
    for _ in range(count):
        request = flow.next_request()
        seen.append((request, flow.observe(request, exchange.answer(request))))
    return seen


def is_replay(request: Request) -> bool:
    return request.name == PLACE and request.success == frozenset({200})


def flow(params: TraderMix, seed: int = 1) -> OrderFlow:
    return OrderFlow(params, traders(), [AAPL, MSFT], seeded(seed), "perf0-test")


# -- parameters ---------------------------------------------------------------------------


def test_the_default_scenarios_are_valid() -> None:
    model = slo()
    assert isinstance(parameters("trader-mix", model), TraderMix)
    hot = parameters("hot-symbol", model)
    assert isinstance(hot, HotSymbol)
    assert hot.rate(model.run) == Rate(20, 20, 10, 1000)
    assert hot.traded == ["AAPL"]
    reads = parameters("read-mix", model)
    assert isinstance(reads, ReadMix)
    assert reads.roles() == ["maker", "reader", "reader", "reader"]
    assert parameters("trader-mix", model).rate(model.run) == Rate(model.run.rate)
    assert expected_requests("trader-mix", model) == (LOGIN, PLACE, CANCEL)
    assert expected_requests("read-mix", model) == (LOGIN, QUOTE, BOOK, ORDERS, FILLS)


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("trader-mix", {**TRADING, "cross_share": 2},
         "scenarios.trader-mix.cross_share: Input should be less than or equal to 1"),
        ("trader-mix", {**TRADING, "colour": "red"},
         "scenarios.trader-mix.colour: Extra inputs are not permitted"),
        ("trader-mix", {**TRADING, "makers": 4},
         "scenarios.trader-mix: makers (4) must leave accounts (4) for the others"),
        ("trader-mix", {**TRADING, "symbols": ["aapl"]},
         "scenarios.trader-mix.symbols.0: String should match pattern"),
        ("trader-mix", {"accounts": 4},
         "scenarios.trader-mix.makers: Field required"),
        ("trader-mix", {**TRADING, "replay_share": 0.6, "reject_share": 0.5},
         "scenarios.trader-mix: replay_share + reject_share must not exceed 1"),
        ("hot-symbol", {"symbol": "AAPL", "accounts": 4, "start_rate": 50, "step_rate": 1,
                        "step_seconds": 1, "max_rate": 10},
         "scenarios.hot-symbol: start_rate must not exceed max_rate"),
        ("read-mix", {"accounts": 4, "symbols": ["AAPL"], "quote_share": 0.9},
         "scenarios.read-mix: quote_share + book_share + orders_share must not exceed 1"),
        ("no-such", {}, "unknown scenario 'no-such' (one of: trader-mix, hot-symbol, read-mix)"),
    ],
)  # fmt: skip
def test_bad_parameters_are_one_line_naming_the_key(
    name: str, values: dict[str, Any], message: str
) -> None:
    model = Slo.model_validate({"scenarios": {name: values}})
    with pytest.raises(ScenarioProblem) as raised:
        parameters(name, model)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_the_scenario_hash_follows_its_parameters_and_the_slo() -> None:
    model = slo()
    assert scenario_hash("trader-mix", model) == scenario_hash("trader-mix", slo())
    assert scenario_hash("trader-mix", model) != scenario_hash("read-mix", model)
    changed = slo(scenarios={"trader-mix": {"cross_share": 0.5}})
    assert scenario_hash("trader-mix", model) != scenario_hash("trader-mix", changed)
    stricter = slo(defaults={"p99_ms": 400})
    assert scenario_hash("trader-mix", model) != scenario_hash("trader-mix", stricter)


def test_each_process_gets_its_share_of_the_accounts() -> None:
    assert share([1, 2, 3, 4, 5], 0, 2) == [1, 3, 5]
    assert share([1, 2, 3, 4, 5], 1, 2) == [2, 4]
    assert share([1], 3, 4) == [1]  # fewer than processes: shared
    assert share([1, 2], 3, 4) == [2]
    assert share([], 0, 1) == []


# -- the order flow -------------------------------------------------------------------------


def test_the_request_mix_follows_the_shares_and_the_seed() -> None:
    params = trader_mix()
    seen = drive(flow(params), Exchange(), 6000)
    assert [r.json for r, _ in seen] != [
        r.json for r, _ in drive(flow(params, 2), Exchange(), 6000)
    ]
    again = drive(flow(params), Exchange(), 6000)
    assert [(r.name, r.path) for r, _ in seen] == [(r.name, r.path) for r, _ in again]
    names = Counter(request.name for request, _ in seen)
    assert names[CANCEL] / len(seen) == pytest.approx(0.15, abs=0.02)
    orders = [request for request, _ in seen if request.name == PLACE]
    replays = [request for request in orders if is_replay(request)]
    assert len(replays) / len(orders) == pytest.approx(0.05, abs=0.015)
    takers = [r for r in orders if r.token != "maker-token" and r not in replays]
    crossing = [r for r in takers if r.json and r.json["time_in_force"] == "IOC"]
    assert len(crossing) / len(takers) == pytest.approx(0.35, abs=0.03)
    assert all(outcome in (OK, EXPECTED) for _, outcome in seen)


def test_makers_rest_liquidity_first_and_takers_sweep_it() -> None:
    params = trader_mix(depth_lots=20, cancel_share=0, replay_share=0)
    exchange = Exchange()
    seen = drive(flow(params), exchange, 300)
    # Two symbols, two sides, 20 lots each in 10-lot maker orders: eight maker orders.
    opening = [request.json for request, _ in seen[:8]]
    assert {request.token for request, _ in seen[:8]} == {"maker-token"}
    resting = [body for _, _, body in bodies(seen) if body["time_in_force"] == "GTC"]
    for body in [*opening, *resting]:
        assert body is not None
        assert body["time_in_force"] == "GTC"
        ticks = (Decimal(body["limit_price"]) - MARKET[body["symbol"]].reference) / AAPL.tick
        assert 1 <= (-ticks if body["side"] == "buy" else ticks) <= params.levels
    crossing = [body for _, _, body in bodies(seen) if body["time_in_force"] == "IOC"]
    for body in crossing:
        through = Decimal(body["limit_price"]) - MARKET[body["symbol"]].reference
        assert through == (5 if body["side"] == "buy" else -5) * AAPL.tick
    statuses = Counter(order["status"] for order in exchange.orders.values())
    assert min(statuses["filled"], statuses["partially_filled"], statuses["new"]) > 0
    # The sweeps use the book up: makers come back to refill it.
    assert any(r.token == "maker-token" for r, _ in seen[50:])


def bodies(seen: list[tuple[Request, Any]]) -> list[tuple[Request, Any, dict[str, str]]]:
    return [(r, o, dict(r.json)) for r, o in seen if r.json is not None and not is_replay(r)]


def test_the_book_does_not_grow_through_a_run() -> None:
    exchange = Exchange()
    orders = flow(trader_mix())
    drive(orders, exchange, 3000)
    early = len(exchange.resting())
    drive(orders, exchange, 6000)
    assert len(exchange.resting()) <= max(early * 1.5, 60)


def test_replays_resend_an_earlier_order_whole() -> None:
    seen = drive(flow(trader_mix(replay_share=0.3)), Exchange(), 400)
    first_bodies: dict[str, tuple[str, Any]] = {}
    for request, outcome in seen:
        if request.name != PLACE or request.json is None:
            continue
        key = request.json["client_order_id"]
        if is_replay(request):
            assert first_bodies[key] == (request.token, request.json)
            assert outcome == OK
        else:
            assert key not in first_bodies  # every new order has its own client_order_id
            first_bodies[key] = (request.token, request.json)
    assert sum(1 for request, _ in seen if is_replay(request)) > 50


def test_cancels_target_the_process_own_resting_orders_once() -> None:
    exchange = Exchange()
    seen = drive(flow(trader_mix(cancel_share=0.4)), exchange, 600)
    cancels = [(r, outcome) for r, outcome in seen if r.name == CANCEL]
    cancelled = [int(request.path.split("/")[3]) for request, _ in cancels]
    assert len(cancelled) == len(set(cancelled)) > 100
    for (request, outcome), order_id in zip(cancels, cancelled, strict=True):
        assert exchange.owners[order_id] == request.token
        # Cancelled, or traded before the cancel came: a race the scenario means.
        assert outcome == (OK if exchange.orders[order_id]["status"] == "canceled" else EXPECTED)
    assert Counter(outcome for _, outcome in cancels)[OK] > len(cancels) / 2


def test_a_cancel_takes_back_the_newest_resting_order_it_remembers() -> None:
    exchange = Exchange()
    orders = flow(trader_mix(cancel_share=0.3, tracked_orders=5))
    remembered: list[int] = []
    for _ in range(400):
        request = orders.next_request()
        answer = exchange.answer(request)
        orders.observe(request, answer)
        order = json.loads(answer.body)
        if request.name == CANCEL:
            assert request.path == f"/v1/orders/{remembered.pop()}/cancel"
        elif not is_replay(request) and order["status"] in OPEN:
            remembered = [*remembered, order["id"]][-5:]


def test_a_cancel_that_loses_the_race_to_a_fill_is_an_expected_rejection() -> None:
    orders = flow(trader_mix(cancel_share=0.99))
    exchange = Exchange()
    first = orders.next_request()
    assert first.name == PLACE
    orders.observe(first, exchange.answer(first))
    exchange.orders[1]["status"] = "filled"  # another process's sweep got there first
    request = orders.next_request()
    assert request.path == "/v1/orders/1/cancel"
    assert orders.observe(request, exchange.answer(request)) == EXPECTED


def test_a_rejected_order_is_a_failure_unless_the_scenario_meant_it() -> None:
    orders = flow(trader_mix(depth_lots=1))
    request = orders.next_request()
    assert request.name == PLACE
    assert request.json is not None
    rejected = {
        **request.json,
        "id": 1,
        "status": "rejected",
        "reject_reason": "insufficient_buying_power: needs 1900 but buying power is 0",
    }
    answer = Answer(201, json.dumps(rejected).encode())
    assert orders.observe(request, answer) == failed(
        "201: order rejected: insufficient_buying_power: needs 1900 but buying power is 0"
    )  # fmt: skip
    invalid = Answer(422, b'{"error": {"code": "validation_error", "message": "bad qty"}}')
    assert orders.observe(request, invalid) == failed("422: validation_error: bad qty")
    assert orders.observe(request, Answer(error="TimeoutError: timed out")).kind == "failed"

    meaning = flow(trader_mix(reject_share=0.95, replay_share=0, cancel_share=0))
    meant = meaning.next_request()
    assert meant.json is not None
    price = Decimal(meant.json["limit_price"])
    assert price % AAPL.tick != 0
    assert meaning.observe(meant, Exchange().answer(meant)) == EXPECTED
    accepted = Answer(201, json.dumps({**meant.json, "id": 2, "status": "new"}).encode())
    assert meaning.observe(meant, accepted) == failed(
        "201: an off-tick price was not rejected (order new)"
    )


def test_a_replay_answered_with_another_order_is_a_failure() -> None:
    orders = flow(trader_mix(replay_share=0.99, depth_lots=1))
    exchange = Exchange()
    replay = next(r for r, _ in drive(orders, exchange, 50) if is_replay(r))
    assert replay.json is not None
    other = {**replay.json, "client_order_id": "someone-else", "id": 99, "status": "new"}
    outcome = orders.observe(replay, Answer(200, json.dumps(other).encode()))
    assert outcome == failed("200: a replay was answered with another order")


def test_instrument_prices_stay_on_the_grid() -> None:
    coarse = Instrument(symbol="BTC-USD", tick=Decimal("0.5"), lot=Decimal("0.0001"),
                        reference=Decimal("60000.3"))  # fmt: skip
    assert coarse.price(0) == "60000.5"
    assert coarse.price(-3) == "59999"
    assert coarse.off_grid_price() == "60000.75"
    assert coarse.qty(10) == "0.001"
    cheap = Instrument(symbol="X", tick=Decimal("0.01"), lot=Decimal(1), reference=Decimal("0.02"))
    assert cheap.price(-5) == "0.01"  # never below one tick


# -- reads --------------------------------------------------------------------------------


def test_reads_follow_their_shares_and_name_their_routes() -> None:
    params = parameters("read-mix", slo())
    readers = [Trader("r@x.io", "reader", "r-token"), Trader("m@x.io", "maker", "m-token")]
    reads = params.workload(readers, MARKET | {"TSLA": AAPL}, seeded(3), "t")
    requests = [reads.next_request() for _ in range(4000)]
    names = Counter(request.name for request in requests)
    assert names[QUOTE] / 4000 == pytest.approx(0.4, abs=0.03)
    assert names[BOOK] / 4000 == pytest.approx(0.3, abs=0.03)
    assert names[ORDERS] / 4000 == pytest.approx(0.15, abs=0.03)
    assert names[FILLS] / 4000 == pytest.approx(0.15, abs=0.03)
    assert {request.token for request in requests} == {"r-token"}
    paths = {request.path for request in requests}
    assert {"/v1/market/MSFT/book", "/v1/orders?limit=20", "/v1/fills?limit=20"} <= paths
    quote = next(request for request in requests if request.name == QUOTE)
    assert reads.observe(quote, Answer(200, b"{}")) == OK
    assert reads.observe(quote, Answer(503, b"busy")) == failed("503: busy")


# -- the plan -------------------------------------------------------------------------------


def accounts(*roles: str) -> tuple[Account, ...]:
    return tuple(Account(email=f"{role}{n}@x.io", password=f"secret-{n}", role=role)
                 for n, role in enumerate(roles))  # fmt: skip


def read_plan(processes: int = 1, **run: Any) -> Plan:
    model = slo(run={"rate": 20, "warmup_seconds": 0, "duration_seconds": 2, **run},
                scenarios={"read-mix": {"accounts": 3, "symbols": ["AAPL"]}})  # fmt: skip
    return Plan("read-mix", model, accounts("maker", "reader", "reader"), 7, processes,
                scenario_hash("read-mix", model), {"AAPL": AAPL})  # fmt: skip


def test_a_plan_survives_its_file_which_only_its_owner_can_read(tmp_path: Path) -> None:
    plan = read_plan()
    path = tmp_path / "plan.json"
    plan.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Plan.read(path) == plan
    assert "secret-1" not in repr(plan.accounts)
    header = plan.header(workers=2)
    assert (header.scenario, header.offered_rate, header.workers) == ("read-mix", 20, 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "plan.json: no such plan"),
        ("{", "plan.json is not a plan: JSONDecodeError: "),
        ('{"scenario": "read-mix"}', "plan.json is not a plan: KeyError: 'slo'"),
        ('{"scenario": "x", "slo": {"run": {"rate": -1}}, "accounts": [], "seed": 1,'
         ' "processes": 1, "scenario_hash": ""}',
         "plan.json: run.rate: Input should be greater than 0"),
        ('{"scenario": "x", "slo": {}, "accounts": [], "seed": 1, "processes": 1,'
         ' "scenario_hash": ""}', "unknown scenario 'x'"),
        ('{"scenario": "x", "slo": {}, "accounts": [], "seed": 1, "processes": 0,'
         ' "scenario_hash": ""}', "plan.json: processes must be at least 1"),
    ],
)  # fmt: skip
def test_a_bad_plan_is_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ScenarioProblem) as raised:
        Plan.read(path)
    assert message in str(raised.value)


# -- one process's part ----------------------------------------------------------------------


class Service:
    """The API the read-mix needs, on a virtual clock: log-ins check the password."""

    def __init__(self, loop: VirtualLoop, passwords: dict[str, str]) -> None:
        self.passwords = passwords
        self.sender = DelayedSender(loop, 0.02, self.answer)

    def answer(self, request: Request) -> Answer:
        if request.name != LOGIN:
            return Answer(200, b"{}")
        assert request.form is not None
        if self.passwords.get(request.form["username"]) != request.form["password"]:
            return Answer(401, b'{"error": {"code": "unauthorized", "message": "bad login"}}')
        return Answer(200, json.dumps({"access_token": request.form["username"]}).encode())


def test_a_process_logs_in_its_share_of_the_accounts_and_runs_its_share() -> None:
    plan = read_plan(processes=2)
    loop = VirtualLoop()
    service = Service(loop, {account.email: account.password for account in plan.accounts})
    process = LoadProcess(plan, 1, service.sender, loop=loop)
    assert loop.run(process.run) == ""
    assert [trader.email for trader in process.traders] == ["reader2@x.io"]
    snapshot = process.recorder.snapshot("worker-1")
    assert snapshot["requests"][LOGIN]["count"] == 1
    # Its half of 20/s for 2 s.
    assert snapshot["scheduled"] == pytest.approx(20, abs=8)
    assert sum(row["count"] for row in snapshot["requests"].values()) == snapshot["sent"] + 1
    tokens = {request.token for request in service.sender.sent if request.name != LOGIN}
    assert tokens == {"reader2@x.io"}


def test_a_failed_log_in_stops_the_process_with_a_reason_and_no_password() -> None:
    plan = read_plan()
    loop = VirtualLoop()
    service = Service(loop, {})
    process = LoadProcess(plan, 0, service.sender, loop=loop)
    reason = loop.run(process.run)
    assert "secret" not in repr(service.sender.sent)
    assert reason.startswith("log in as reader")
    assert reason.endswith(": 401: unauthorized: bad login")
    assert "secret" not in reason
    assert process.recorder.aborted == reason
    # Log-ins go one after another, and the first refusal ends them.
    assert [request.name for request in service.sender.sent] == [LOGIN]
    assert process.recorder.snapshot("standalone")["requests"][LOGIN]["failures"] == 1


def test_a_log_in_answered_without_a_token_stops_the_process() -> None:
    plan = read_plan()
    loop = VirtualLoop()
    process = LoadProcess(plan, 0, DelayedSender(loop, 0.01, Answer(200, b"[]")), loop=loop)
    reason = loop.run(process.run)
    assert reason.startswith("log in as reader")
    assert reason.endswith(": 200: no access_token in the answer")


def test_a_process_outside_the_plan_or_without_its_roles_cannot_run() -> None:
    plan = read_plan(processes=2)
    with pytest.raises(ScenarioProblem, match="process 2 is not one of the plan's 2"):
        LoadProcess(plan, 2, DelayedSender(VirtualLoop(), 0))
    makers_only = Plan(plan.scenario, plan.slo, accounts("maker"), 1, 1, "", plan.market)
    with pytest.raises(ScenarioProblem, match="needs at least one 'reader' account"):
        LoadProcess(makers_only, 0, DelayedSender(VirtualLoop(), 0))
    unpriced = Plan(plan.scenario, plan.slo, plan.accounts, 1, 1, "", {})
    with pytest.raises(ScenarioProblem, match="the plan has no reference price for AAPL"):
        LoadProcess(unpriced, 0, DelayedSender(VirtualLoop(), 0))


def test_a_trading_process_cancels_what_it_left_resting_unjudged() -> None:
    model = slo(run={"rate": 20, "warmup_seconds": 0, "duration_seconds": 2},
                scenarios={"trader-mix": TRADING})  # fmt: skip
    plan = Plan("trader-mix", model, accounts("maker", "taker", "taker"), 3, 1, "h", MARKET)
    exchange = Exchange()

    def answer(request: Request) -> Answer:
        if request.name == LOGIN:
            assert request.form is not None
            return Answer(200, json.dumps({"access_token": request.form["username"]}).encode())
        if request.name == CANCEL_ALL:
            return Answer(200, b'{"canceled": 0, "orders": []}')
        return exchange.answer(request)

    loop = VirtualLoop()
    sender = DelayedSender(loop, 0.01, answer)
    process = LoadProcess(plan, 0, sender, loop=loop)
    assert loop.run(process.run) == ""
    tidying = [request for request in sender.sent if request.name == CANCEL_ALL]
    assert sorted(request.token for request in tidying) == sorted(a.email for a in plan.accounts)
    assert sender.sent[-3:] == tidying
    judged = process.recorder.snapshot("standalone")["requests"]
    assert set(judged) == {LOGIN, PLACE, CANCEL}
    assert all(row["failures"] == 0 for row in judged.values())


def test_a_process_stopped_before_it_starts_sends_nothing() -> None:
    plan = read_plan()
    loop = VirtualLoop()
    service = Service(loop, {account.email: account.password for account in plan.accounts})
    process = LoadProcess(plan, 0, service.sender, loop=loop)
    process.stop()
    assert loop.run(process.run) == ""
    assert service.sender.sent == []


class MetricsService(Service):
    """The read-mix API, with a /metrics page (or a refusal of it)."""

    def __init__(self, loop: VirtualLoop, passwords: dict[str, str], status: int = 200) -> None:
        super().__init__(loop, passwords)
        self.status = status

    def answer(self, request: Request) -> Answer:
        if request.path == "/metrics":
            return Answer(self.status, b"# metrics\n" if self.status == 200 else b"{}")
        return super().answer(request)


def test_process_0_keeps_the_servers_metrics_as_the_window_opens_and_closes() -> None:
    plan = dataclasses.replace(read_plan(processes=2), scrape_metrics=True)
    passwords = {account.email: account.password for account in plan.accounts}
    scrapes = {}
    for index in (0, 1):
        loop = VirtualLoop()
        service = MetricsService(loop, passwords)
        process = LoadProcess(plan, index, service.sender, loop=loop)
        assert loop.run(process.run) == ""
        snapshot = process.recorder.snapshot(f"worker-{index}")
        scrapes[index] = snapshot["server_metrics"]
        assert "GET /metrics" not in snapshot["requests"]
    assert scrapes == {0: {"open": "# metrics\n", "close": "# metrics\n"}, 1: {}}


def test_a_refused_scrape_is_kept_as_the_reason_there_is_no_cross_check() -> None:
    plan = dataclasses.replace(read_plan(), scrape_metrics=True)
    loop = VirtualLoop()
    service = MetricsService(loop, {a.email: a.password for a in plan.accounts}, status=403)
    process = LoadProcess(plan, 0, service.sender, loop=loop)
    assert loop.run(process.run) == ""
    assert process.recorder.server_metrics == {}
    assert process.recorder.server_metrics_problem.startswith("GET /metrics (open): 403")
