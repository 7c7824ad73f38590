"""The scenarios a run offers, and the plan that hands one to every locust process.

- ``trader-mix`` -- many funded accounts: makers keep liquidity resting a few ticks
  either side of each symbol's reference price; takers' orders sweep through it with
  probability ``cross_share`` (fills, partial fills) or rest among it;
  ``cancel_share`` of the requests cancel the process's newest resting order,
  ``replay_share`` of the orders resend an earlier ``client_order_id`` with the same
  body (the API answers the original: a success), ``reject_share`` of them are priced
  off the tick grid on purpose (a rejection the scenario meant). Any other rejected
  order is a failure.
- ``hot-symbol`` -- the same order flow on one symbol, the rate stepped up
  (``start_rate``, ``+step_rate`` every ``step_seconds``, at most ``max_rate``) to
  find the knee.
- ``read-mix`` -- quotes, books, the readers' own orders and fills.

Their parameters are ``[scenarios.<name>]`` of the SLO file (deploy/perf.toml),
validated here. A :class:`Plan` (written by the orchestrator, read by each locust
process from ``PERF_PLAN``) carries the scenario, the SLO model, the accounts, the
market's reference prices, the seed and the number of processes; a
:class:`LoadProcess` is one process's share of the run.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.api.schemas import SYMBOL_PATTERN
from ops.core.console import write_atomically
from ops.core.exits import CannotRun
from ops.live.client import TIMEOUT_SECONDS, limit_order
from ops.perf.measurements import Measurements
from ops.perf.schedule import (
    EXPECTED,
    OK,
    Answer,
    Dispatcher,
    GeventLoop,
    Loop,
    Observer,
    Outcome,
    Rate,
    Recorder,
    Request,
    Sender,
    Workload,
    arrival_offsets,
    failed,
)
from ops.perf.slo import RunSettings, Slo, _first_problem

LOGIN = "POST /v1/auth/token"
PLACE = "POST /v1/orders"
CANCEL = "POST /v1/orders/{order_id}/cancel"
QUOTE = "GET /v1/market/{symbol}/quote"
BOOK = "GET /v1/market/{symbol}/book"
ORDERS = "GET /v1/orders"
FILLS = "GET /v1/fills"
CANCEL_ALL = "DELETE /v1/orders"
METRICS = "GET /metrics"  # the cross-check's scrapes: never part of the figures
PAGE = 20  # orders or fills a reader asks for
OPEN_STATUSES = frozenset({"new", "partially_filled"})
REPLAYS_KEPT = 256  # recent orders a replay picks from

Role = Literal["maker", "taker", "reader"]
Share = Annotated[float, Field(ge=0, le=1)]
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN)]
T = TypeVar("T")


class ScenarioProblem(CannotRun):
    """A scenario, its parameters, its accounts or its plan cannot be used; one line."""


class Account(BaseModel):
    """A trading account a run acts as (the password is never printed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, repr=False)
    role: Role


class Instrument(BaseModel):
    """A symbol's grid and the reference price the scenario quotes around."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    tick: Decimal = Field(gt=0)
    lot: Decimal = Field(gt=0)
    reference: Decimal = Field(gt=0)

    def price(self, ticks: int) -> str:
        """The reference moved by ``ticks`` (never below one tick), as the API writes it."""
        grid = (self.reference / self.tick).to_integral_value() * self.tick
        return text(max(grid + ticks * self.tick, self.tick))

    def off_grid_price(self) -> str:
        """A price between two ticks: risk rejects it (``price_not_on_tick``)."""
        return text(Decimal(self.price(0)) + self.tick / 2)

    def qty(self, lots: int) -> str:
        """``lots`` lots."""
        return text(self.lot * lots)


def seeded(seed: int | str) -> random.Random:
    """A random generator for the traffic's shape (reproducible from the seed)."""
    return random.Random(seed)  # noqa: S311 - traffic shape, not security


def text(value: Decimal) -> str:
    """A decimal as the API takes it: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


# -- parameters ------------------------------------------------------------------------


class ScenarioParameters(BaseModel, ABC):
    """What every scenario has: how many accounts it provisions, and of which roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acting: ClassVar[tuple[Role, ...]] = ("maker", "taker")  # whose requests are the load
    leaves_orders: ClassVar[bool] = True  # orders may still rest when the run ends

    accounts: int = Field(ge=2, le=10_000)
    makers: int = Field(ge=1)
    levels: int = Field(default=5, ge=1, le=100)  # ticks of maker liquidity on each side
    maker_lots: int = Field(default=10, ge=1)  # the size of a maker order

    @model_validator(mode="after")
    def _someone_acts(self) -> ScenarioParameters:
        if self.makers >= self.accounts:
            raise ValueError(f"makers ({self.makers}) must leave accounts ({self.accounts}) "
                             "for the others")  # fmt: skip
        return self

    def roles(self) -> list[Role]:
        """The role of each account to provision: the makers first."""
        makers: list[Role] = ["maker"] * self.makers
        other: Role = "taker" if "taker" in self.acting else "reader"
        return makers + [other] * (self.accounts - self.makers)

    @property
    @abstractmethod
    def traded(self) -> list[str]:
        """The symbols the scenario trades or reads."""

    def opening_book(self, instrument: Instrument) -> list[tuple[str, str, str]]:
        """(side, qty, price) of each order one maker rests before the run: a maker order
        at every level on both sides."""
        qty = instrument.qty(self.maker_lots)
        return [(side, qty, instrument.price(ticks if side == "sell" else -ticks))
                for ticks in range(1, self.levels + 1) for side in ("buy", "sell")]  # fmt: skip

    def rate(self, run: RunSettings) -> Rate:
        """The offered rate: the run's, constant."""
        return Rate(run.rate)

    @abstractmethod
    def request_names(self) -> tuple[str, ...]:
        """Every request name the scenario makes."""

    @abstractmethod
    def workload(
        self,
        traders: Sequence[Trader],
        market: Mapping[str, Instrument],
        rng: random.Random,
        tag: str,
    ) -> Workload:
        """One process's traffic, acting as ``traders``."""


class _Trading(ScenarioParameters):
    """An order flow: makers, crossing and resting takers, cancels, replays."""

    cross_share: float = Field(gt=0, le=1)
    cancel_share: float = Field(ge=0, lt=1)
    replay_share: Share
    reject_share: Share = 0.0
    taker_lots: int = Field(default=5, ge=1)  # the largest resting taker order
    depth_lots: int = Field(default=50, ge=1)  # what a process keeps resting on each side
    tracked_orders: int = Field(default=200, ge=1)  # own resting orders remembered for cancels

    @model_validator(mode="after")
    def _shares_fit(self) -> _Trading:
        if self.replay_share + self.reject_share > 1:
            raise ValueError("replay_share + reject_share must not exceed 1")
        return self

    @property
    def crossing_lots(self) -> int:
        """The largest crossing order: large enough that crossing orders take, on
        average, at least what resting takers add -- the book does not grow."""
        balance = (1 - self.cross_share) / self.cross_share * (1 + self.taker_lots) - 1
        return max(self.taker_lots, math.ceil(balance))

    def request_names(self) -> tuple[str, ...]:
        """Log-ins, orders and cancels."""
        return (LOGIN, PLACE, CANCEL)

    def workload(
        self,
        traders: Sequence[Trader],
        market: Mapping[str, Instrument],
        rng: random.Random,
        tag: str,
    ) -> Workload:
        """The order flow on :attr:`traded`."""
        return OrderFlow(self, traders, instruments(market, self.traded), rng, tag)


class TraderMix(_Trading):
    """``trader-mix``: the order flow on several symbols."""

    symbols: list[Symbol] = Field(min_length=1)

    @property
    def traded(self) -> list[str]:
        """The configured symbols."""
        return list(self.symbols)


class HotSymbol(_Trading):
    """``hot-symbol``: the order flow on one symbol, the rate stepped up to the knee."""

    symbol: Symbol
    start_rate: float = Field(gt=0)
    step_rate: float = Field(gt=0)
    step_seconds: float = Field(gt=0)
    max_rate: float = Field(gt=0)
    makers: int = Field(default=2, ge=1)
    cross_share: float = Field(default=0.5, gt=0, le=1)
    cancel_share: float = Field(default=0.1, ge=0, lt=1)
    replay_share: Share = 0.0

    @model_validator(mode="after")
    def _climbs(self) -> HotSymbol:
        if self.start_rate > self.max_rate:
            raise ValueError("start_rate must not exceed max_rate")
        return self

    @property
    def traded(self) -> list[str]:
        """The one symbol."""
        return [self.symbol]

    def rate(self, run: RunSettings) -> Rate:
        """The stepped rate (the run's own rate is not used)."""
        return Rate(self.start_rate, self.step_rate, self.step_seconds, self.max_rate)


class ReadMix(ScenarioParameters):
    """``read-mix``: readers' quotes, books, orders and fills (the one maker only gives
    the book something to show)."""

    symbols: list[Symbol] = Field(min_length=1)
    makers: int = Field(default=1, ge=1)
    quote_share: Share = 0.4
    book_share: Share = 0.3
    orders_share: Share = 0.15  # and the rest: fills
    acting: ClassVar[tuple[Role, ...]] = ("reader",)
    leaves_orders: ClassVar[bool] = False

    @model_validator(mode="after")
    def _shares_fit(self) -> ReadMix:
        if self.quote_share + self.book_share + self.orders_share > 1:
            raise ValueError("quote_share + book_share + orders_share must not exceed 1")
        return self

    @property
    def traded(self) -> list[str]:
        """The configured symbols."""
        return list(self.symbols)

    def request_names(self) -> tuple[str, ...]:
        """Log-ins and the four reads."""
        return (LOGIN, QUOTE, BOOK, ORDERS, FILLS)

    def workload(
        self,
        traders: Sequence[Trader],
        market: Mapping[str, Instrument],
        rng: random.Random,
        tag: str,
    ) -> Workload:
        """The reads."""
        return Reads(self, traders, rng)


SCENARIOS: dict[str, type[ScenarioParameters]] = {
    "trader-mix": TraderMix,
    "hot-symbol": HotSymbol,
    "read-mix": ReadMix,
}


def parameters(name: str, slo: Slo) -> ScenarioParameters:
    """The validated parameters of scenario ``name`` (``[scenarios.<name>]``)."""
    model = SCENARIOS.get(name)
    if model is None:
        raise ScenarioProblem(f"unknown scenario {name!r} (one of: {', '.join(SCENARIOS)})")
    try:
        return model.model_validate(slo.scenarios.get(name, {}))
    except ValidationError as error:
        joint = "." if error.errors()[0]["loc"] else ": "
        raise ScenarioProblem(f"scenarios.{name}{joint}{_first_problem(error)}") from None


def scenario_hash(name: str, slo: Slo) -> str:
    """What baselines compare like with like by: the scenario, its parameters, the SLO."""
    identity = json.dumps([name, slo.scenarios.get(name, {}), slo.digest()], sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def instruments(market: Mapping[str, Instrument], symbols: Sequence[str]) -> list[Instrument]:
    """The market facts of ``symbols``; ScenarioProblem naming one that has none."""
    missing = [symbol for symbol in symbols if symbol not in market]
    if missing:
        raise ScenarioProblem(f"the plan has no reference price for {missing[0]}")
    return [market[symbol] for symbol in symbols]


def check_accounts(params: ScenarioParameters, accounts: Sequence[Account], where: str) -> None:
    """ScenarioProblem when ``accounts`` lack a role the scenario acts as."""
    for role in params.acting:
        if not any(account.role == role for account in accounts):
            raise ScenarioProblem(f"{where}: the scenario needs at least one {role!r} account")


def share(items: Sequence[T], index: int, processes: int) -> list[T]:
    """Process ``index``'s share of ``items``: every ``processes``-th one, or one of them
    (shared) when there are fewer items than processes."""
    if not items:
        return []
    if len(items) < processes:
        return [items[index % len(items)]]
    return list(items[index::processes])


# -- the order flow ---------------------------------------------------------------------


@dataclass
class Trader:
    """An account as one process acts as it."""

    email: str
    role: Role
    token: str = ""


@dataclass(frozen=True)
class _Resting:
    """One of the process's own orders resting on the book (as far as it knows)."""

    order_id: int
    trader: Trader
    symbol: str
    side: str


@dataclass(frozen=True)
class _Order:
    """Why an order was sent: ``maker``, ``cross``, ``rest``, ``reject`` or ``replay``."""

    kind: str
    trader: Trader
    symbol: str
    side: str
    body: Mapping[str, str]


@dataclass(frozen=True)
class _Cancel:
    resting: _Resting


def _opposite(side: str) -> str:
    return "sell" if side == "buy" else "buy"


class OrderFlow:
    """``trader-mix`` and ``hot-symbol`` for one process.

    Every resting order (a maker's or a taker's) rests within ``levels`` ticks of the
    reference, and crossing orders sweep up to ``levels`` ticks through it, so whatever
    rests is eventually traded or cancelled: the book does not grow through a run. The
    makers top the book up whenever the process's estimate of a side (what it rested,
    less what its own crossing orders filled and its cancels took back) falls below
    ``depth_lots``. A cancel takes back the process's newest resting order (the one most
    likely still resting); a replay resends one of its recent orders."""

    def __init__(
        self,
        params: _Trading,
        traders: Sequence[Trader],
        market: Sequence[Instrument],
        rng: random.Random,
        tag: str,
    ) -> None:
        self._params, self._market, self._rng, self._tag = params, list(market), rng, tag
        self._makers = [trader for trader in traders if trader.role == "maker"]
        self._takers = [trader for trader in traders if trader.role == "taker"]
        self._numbers = iter(range(1, 1 << 62))
        self._resting: list[_Resting] = []  # the newest, at most tracked_orders
        self._placed: deque[_Order] = deque(maxlen=REPLAYS_KEPT)
        sides = [(i.symbol, side) for i in self._market for side in ("buy", "sell")]
        self._depth = {key: Decimal(0) for key in sides}  # resting qty, as estimated
        self._grid = {instrument.symbol: instrument for instrument in self._market}

    # -- choosing the next request -----------------------------------------------------

    def next_request(self) -> Request:
        """A cancel, a replay, a meant rejection, a maker's or a taker's order."""
        params = self._params
        if self._resting and self._rng.random() < params.cancel_share:
            return self._cancel(self._resting.pop())
        roll = self._rng.random()
        if roll < params.replay_share:
            if self._placed:
                return self._replay(self._rng.choice(self._placed))
        elif roll < params.replay_share + params.reject_share:
            return self._rejected()
        thin = self._thinnest()
        if thin is not None and self._makers:
            return self._maker_order(*thin)
        if self._rng.random() < params.cross_share:
            return self._crossing()
        return self._resting_order()

    def _thinnest(self) -> tuple[str, str] | None:
        floor = self._params.depth_lots
        thin = [(qty / self._grid[key[0]].lot, key) for key, qty in self._depth.items()]
        lots, key = min(thin)
        return key if lots < floor else None

    def _maker_order(self, symbol: str, side: str) -> Request:
        instrument = self._grid[symbol]
        qty = instrument.qty(self._params.maker_lots)
        self._depth[(symbol, side)] += Decimal(qty)  # counted now, taken back if it fails
        return self._order("maker", self._rng.choice(self._makers), instrument, side, qty,
                           self._inside(instrument, side))  # fmt: skip

    def _crossing(self) -> Request:
        instrument, side = self._rng.choice(self._market), self._side()
        levels = self._params.levels
        price = instrument.price(levels if side == "buy" else -levels)
        qty = instrument.qty(self._rng.randint(1, self._params.crossing_lots))
        return self._order("cross", self._taker(), instrument, side, qty, price, "IOC")

    def _resting_order(self) -> Request:
        instrument, side = self._rng.choice(self._market), self._side()
        qty = instrument.qty(self._rng.randint(1, self._params.taker_lots))
        return self._order("rest", self._taker(), instrument, side, qty,
                           self._inside(instrument, side))  # fmt: skip

    def _inside(self, instrument: Instrument, side: str) -> str:
        ticks = self._rng.randint(1, self._params.levels)
        return instrument.price(-ticks if side == "buy" else ticks)

    def _rejected(self) -> Request:
        instrument, side = self._rng.choice(self._market), self._side()
        price, qty = instrument.off_grid_price(), instrument.qty(1)
        return self._order("reject", self._taker(), instrument, side, qty, price)

    def _side(self) -> str:
        return self._rng.choice(("buy", "sell"))

    def _taker(self) -> Trader:
        return self._rng.choice(self._takers or self._makers)

    def _order(
        self,
        kind: str,
        trader: Trader,
        instrument: Instrument,
        side: str,
        qty: str,
        price: str,
        time_in_force: str = "GTC",
    ) -> Request:
        client_order_id = f"{self._tag}-{next(self._numbers)}"
        body = limit_order(instrument.symbol, side, qty, price, time_in_force=time_in_force,
                           client_order_id=client_order_id)  # fmt: skip
        intent = _Order(kind, trader, instrument.symbol, side, body)
        return Request(PLACE, "POST", "/v1/orders", trader.token, json=body,
                       success=frozenset({201}), context=intent)  # fmt: skip

    def _replay(self, original: _Order) -> Request:
        intent = _Order("replay", original.trader, original.symbol, original.side, original.body)
        return Request(PLACE, "POST", "/v1/orders", original.trader.token, json=original.body,
                       context=intent)  # fmt: skip

    def _cancel(self, resting: _Resting) -> Request:
        # 409: the order traded (or was cancelled) before the cancel arrived -- a race the
        # scenario means, not a failure.
        return Request(CANCEL, "POST", f"/v1/orders/{resting.order_id}/cancel",
                       resting.trader.token, expected=frozenset({409}),
                       context=_Cancel(resting))  # fmt: skip

    # -- reading the answers ----------------------------------------------------------

    def observe(self, request: Request, answer: Answer) -> Outcome:
        """Judge the answer; track resting orders, the book's depth, replayable orders."""
        outcome = request.outcome(answer)
        intent = request.context
        if isinstance(intent, _Cancel):
            if outcome == OK:
                key = (intent.resting.symbol, intent.resting.side)
                self._depth[key] -= _decimal(answer.json(), "remaining_qty")
            return outcome
        assert isinstance(intent, _Order)
        order = answer.json() if outcome == OK else None
        judged = self._judged(intent, order, answer.status) if isinstance(order, dict) else outcome
        if intent.kind == "maker":
            resting = _decimal(order, "remaining_qty") if judged == OK else Decimal(0)
            self._depth[(intent.symbol, intent.side)] += resting - Decimal(intent.body["qty"])
        return judged

    def _judged(self, intent: _Order, order: dict[str, Any], status: int) -> Outcome:
        state = order.get("status")
        if intent.kind == "reject":
            if state == "rejected":
                return EXPECTED
            return failed(f"{status}: an off-tick price was not rejected (order {state})")
        if state == "rejected":
            return failed(f"{status}: order rejected: {order.get('reject_reason')}")
        if intent.kind == "replay":
            if order.get("client_order_id") != intent.body["client_order_id"]:
                return failed(f"{status}: a replay was answered with another order")
            return OK
        self._placed.append(intent)
        if intent.kind == "cross":
            key = (intent.symbol, _opposite(intent.side))
            self._depth[key] -= _decimal(order, "filled_qty")
        elif state in OPEN_STATUSES:
            if intent.kind == "rest":
                self._depth[(intent.symbol, intent.side)] += _decimal(order, "remaining_qty")
            self._track(_Resting(int(order["id"]), intent.trader, intent.symbol, intent.side))
        return OK

    def _track(self, resting: _Resting) -> None:
        self._resting.append(resting)
        if len(self._resting) > self._params.tracked_orders:
            del self._resting[0]  # forgotten, not lost: crossing orders trade it in time


def _decimal(body: Any, key: str) -> Decimal:
    value = body.get(key) if isinstance(body, dict) else None
    return Decimal(value) if isinstance(value, str) else Decimal(0)


class Reads:
    """``read-mix`` for one process: quotes, books, its readers' orders and fills."""

    def __init__(self, params: ReadMix, traders: Sequence[Trader], rng: random.Random) -> None:
        self._params, self._rng = params, rng
        self._readers = [trader for trader in traders if trader.role == "reader"]

    def next_request(self) -> Request:
        """One of the four reads, by their shares."""
        params, roll = self._params, self._rng.random()
        token = self._rng.choice(self._readers).token
        symbol = self._rng.choice(params.symbols)
        if roll < params.quote_share:
            return Request(QUOTE, "GET", f"/v1/market/{symbol}/quote", token)
        if roll < params.quote_share + params.book_share:
            return Request(BOOK, "GET", f"/v1/market/{symbol}/book", token)
        if roll < params.quote_share + params.book_share + params.orders_share:
            return Request(ORDERS, "GET", f"/v1/orders?limit={PAGE}", token)
        return Request(FILLS, "GET", f"/v1/fills?limit={PAGE}", token)

    def observe(self, request: Request, answer: Answer) -> Outcome:
        """200 or a failure."""
        return request.outcome(answer)


# -- the plan and one process's part of it ----------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What every locust process of a run needs: written by the orchestrator
    (``PERF_PLAN``), read by the locustfile. The file holds passwords: it is written
    readable by its owner only."""

    scenario: str
    slo: Slo
    accounts: tuple[Account, ...]
    seed: int
    processes: int
    scenario_hash: str
    market: Mapping[str, Instrument] = field(default_factory=dict)
    # Process 0 reads the server's /metrics as the judged window opens and closes (only
    # where one URL reaches one server: not through a load balancer).
    scrape_metrics: bool = False

    def parameters(self) -> ScenarioParameters:
        """The scenario's validated parameters."""
        return parameters(self.scenario, self.slo)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "slo": self.slo.model_dump(mode="json"),
            "accounts": [account.model_dump() for account in self.accounts],
            "seed": self.seed,
            "processes": self.processes,
            "scenario_hash": self.scenario_hash,
            "market": {name: item.model_dump(mode="json") for name, item in self.market.items()},
            "scrape_metrics": self.scrape_metrics,
        }

    def write(self, path: Path) -> None:
        """Write the plan whole, then make it private (it holds the accounts' passwords)."""
        write_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")
        path.chmod(0o600)

    @classmethod
    def read(cls, path: Path) -> Plan:
        """The plan at ``path``; ScenarioProblem naming what is wrong with it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            plan = cls(
                scenario=data["scenario"],
                slo=Slo.model_validate(data["slo"]),
                accounts=tuple(Account.model_validate(item) for item in data["accounts"]),
                seed=int(data["seed"]),
                processes=int(data["processes"]),
                scenario_hash=str(data["scenario_hash"]),
                market={name: Instrument.model_validate(item)
                        for name, item in data.get("market", {}).items()},
                scrape_metrics=bool(data.get("scrape_metrics", False)),
            )  # fmt: skip
        except FileNotFoundError:
            raise ScenarioProblem(f"{path}: no such plan") from None
        except ValidationError as error:
            raise ScenarioProblem(f"{path.name}: {_first_problem(error)}") from None
        except (ValueError, TypeError, KeyError) as error:
            raise ScenarioProblem(
                f"{path.name} is not a plan: {type(error).__name__}: {error}"
            ) from None
        if plan.processes < 1:
            raise ScenarioProblem(f"{path.name}: processes must be at least 1")
        plan.parameters()
        return plan

    def rate(self) -> Rate:
        """The offered rate over the run."""
        return self.parameters().rate(self.slo.run)

    def max_in_flight_per_process(self) -> int:
        """Each process's share of the in-flight cap."""
        return max(1, self.slo.run.max_in_flight // self.processes)

    def header(self, workers: int) -> Measurements:
        """Measurements with no figures yet: what the run was meant to be."""
        run = self.slo.run
        return Measurements(
            scenario=self.scenario, scenario_hash=self.scenario_hash, arrival=run.arrival,
            offered_rate=self.rate().mean(run.duration_seconds),
            warmup_seconds=run.warmup_seconds, window_seconds=0.0, workers=workers,
        )  # fmt: skip


def expected_requests(name: str, slo: Slo) -> tuple[str, ...]:
    """The request names scenario ``name`` makes (the verdict wants each of them)."""
    return parameters(name, slo).request_names()


class LoadProcess:
    """One load-generating process's part of a run: its share of the accounts (logged
    in one after another, the log-ins judged as ``POST /v1/auth/token``), its share of the
    rate, its own seed (the plan's plus its index), one dispatcher -- and, at the end,
    its accounts' resting orders cancelled."""

    def __init__(
        self,
        plan: Plan,
        index: int,
        sender: Sender,
        *,
        loop: Loop | None = None,
        observer: Observer | None = None,
    ) -> None:
        if not 0 <= index < plan.processes:
            raise ScenarioProblem(f"process {index} is not one of the plan's {plan.processes}")
        self.plan, self.index, self._sender = plan, index, sender
        self._loop, self._observer = loop or GeventLoop(), observer
        self._params = plan.parameters()
        check_accounts(self._params, plan.accounts, "the plan's accounts")
        instruments(plan.market, self._params.traded)
        run, slo = plan.slo.run, plan.slo
        self.recorder = Recorder(
            rate=plan.rate(), warmup=run.warmup_seconds, duration=run.duration_seconds,
            abort=slo.abort, p99_limit_ms=lambda name: slo.request(name).p99_ms,
        )  # fmt: skip
        self.traders = [
            Trader(account.email, account.role)
            for role in self._params.acting
            for account in share(
                [a for a in plan.accounts if a.role == role], index, plan.processes
            )
        ]
        self._passwords = {account.email: account.password for account in plan.accounts}
        self._dispatcher: Dispatcher | None = None
        self._stopping = False

    def run(self) -> str:
        """Log in, then run the schedule; why the run must stop early, or ""."""
        reason = self._log_in()
        if reason or self._stopping:
            self.recorder.aborted = reason
            return reason
        seed = self.plan.seed + self.index
        run = self.plan.slo.run
        offsets = arrival_offsets(
            self.plan.rate(), run.arrival, processes=self.plan.processes,
            warmup=run.warmup_seconds, duration=run.duration_seconds, rng=seeded(seed),
        )  # fmt: skip
        tag = f"perf{self.index}-{secrets.token_hex(4)}"  # client order ids unique per run
        workload = self._params.workload(self.traders, self.plan.market,
                                         seeded(f"{seed}-workload"), tag)  # fmt: skip
        self._dispatcher = Dispatcher(
            workload, self._sender, self.recorder, offsets,
            max_in_flight=self.plan.max_in_flight_per_process(), loop=self._loop,
            observer=self._observer, on_window=self._scrape if self._scrapes else None,
        )  # fmt: skip
        reason = self._dispatcher.run()
        self._tidy()
        return reason

    @property
    def _scrapes(self) -> bool:
        return self.plan.scrape_metrics and self.index == 0

    def _scrape(self, moment: str) -> None:
        """Keep the server's /metrics page as the window opens or closes."""
        answer = self._sender.send(Request(METRICS, "GET", "/metrics"))
        if answer.status == 200:
            self.recorder.server_metrics[moment] = answer.body.decode("utf-8", "replace")
        elif not self.recorder.server_metrics_problem:
            self.recorder.server_metrics_problem = f"GET /metrics ({moment}): {answer.summary()}"

    def stop(self) -> None:
        """End the schedule early."""
        self._stopping = True
        if self._dispatcher is not None:
            self._dispatcher.stop()

    def _tidy(self) -> None:
        """Cancel whatever the run left resting (not judged): a deployed environment's book
        is left as the run found it."""
        if not self._params.leaves_orders:
            return
        tidying = [Request(CANCEL_ALL, "DELETE", "/v1/orders", trader.token)
                   for trader in self.traders]  # fmt: skip
        tasks = [self._loop.spawn(partial(self._sender.send, request)) for request in tidying]
        self._loop.join(tasks, TIMEOUT_SECONDS)

    def _log_in(self) -> str:
        # One after another: a burst of password hashes would measure the burst (every
        # log-in waiting for all the others), not what one trader waits.
        problems: list[str] = []
        for trader in self.traders:
            if self._stopping:
                break
            self._log_in_as(trader, problems)
            if problems:
                return problems[0]
        missing = [trader.email for trader in self.traders if not trader.token]
        return f"log in as {missing[0]}: no answer" if missing and not self._stopping else ""

    def _log_in_as(self, trader: Trader, problems: list[str]) -> None:
        form = {"username": trader.email, "password": self._passwords[trader.email]}
        request = Request(LOGIN, "POST", "/v1/auth/token", form=form)
        started = self._loop.clock()
        answer = self._sender.send(request)
        seconds = self._loop.clock() - started
        outcome = request.outcome(answer)
        body = answer.json() if outcome == OK else None
        token = body.get("access_token") if isinstance(body, dict) else None
        if outcome == OK and not isinstance(token, str):
            outcome = failed(f"{answer.status}: no access_token in the answer")
        self.recorder.record(LOGIN, outcome, latency=seconds, service=seconds, offset=None,
                             done=None)  # fmt: skip
        if self._observer is not None:
            self._observer(request, answer, seconds, outcome)
        if outcome != OK:
            problems.append(f"log in as {trader.email}: {outcome.detail}")
            return
        trader.token = str(token)
