"""The synthetic trader: through the public URL, as the monitor's own user, log in, read
the instrument, a quote and the book, place a resting limit order far below the market,
read it back and cancel it -- each answer's status and shape checked, each step timed.

One finding for the journey (subject ``trader``) naming the step that failed: the steps
depend on each other (no login, no order), so one broken step is one problem rather
than a cascade of alerts about the steps it made impossible, and the runner confirms a
failure by its subject, which a failing step that moves between attempts would defeat.
A second finding (subject ``cleanup``) whenever an order was sent: it is cancelled even
when a later step failed, and an order that may be left resting is a problem of its own.
"""

from __future__ import annotations

import dataclasses
import secrets
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Annotated, TypeVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError

from app.services.seed import DEMO_PASSWORD
from ops.core.exits import CheckFailed, OpsError
from ops.core.steps import Step, StepFailed, StepLog
from ops.live.client import ApiError, ApiUnreachable, TradingClient, error_text, limit_order
from ops.monitor.checks.http import timed, transport_reason, unreachable
from ops.monitor.context import MonitorContext
from ops.monitor.results import Figure, Finding, Reason, Status, ok, problem
from ops.monitor.settings import Journey

CHECK = "journey"
TRADER = "trader"
CLEANUP = "cleanup"
# Half the reference price: no seller comes that low in the second the order rests.
FAR_BELOW = Decimal("0.5")
OPEN_STATUSES = ("new", "partially_filled")
RECENT_ORDERS = 20  # where an order whose answer was lost is looked for

Shape = TypeVar("Shape")


class WrongBody(CheckFailed):
    """An answer with the expected status whose body lacks what the step needs."""


def _decimal_text(text: str) -> str:
    try:
        finite = Decimal(text).is_finite()
    except InvalidOperation:
        finite = False
    if not finite:
        raise ValueError(f"{text!r} is not a decimal")
    return text


def _positive_text(text: str) -> str:
    if not Decimal(_decimal_text(text)) > 0:
        raise ValueError(f"{text!r} is not positive")
    return text


DecimalText = Annotated[str, AfterValidator(_decimal_text)]
PositiveText = Annotated[str, AfterValidator(_positive_text)]  # a tick or a lot: never 0


class _Body(BaseModel):
    """The fields a step needs, with their types (strict: "1" is not a number)."""

    model_config = ConfigDict(strict=True, frozen=True)


class _Token(_Body):
    access_token: str


class _Instrument(_Body):
    symbol: str
    tick_size: PositiveText
    lot_size: PositiveText


class _Quote(_Body):
    symbol: str
    bid: DecimalText | None
    ask: DecimalText | None
    last: DecimalText | None


class _Level(_Body):
    price: DecimalText
    qty: DecimalText


class _Book(_Body):
    bids: list[_Level]
    asks: list[_Level]


class _Order(_Body):
    id: int
    status: str
    client_order_id: str | None


class _Page(_Body):
    items: list[_Order]


def shaped(shape: type[Shape], response: httpx.Response, request: str) -> Shape:
    """The body of ``response`` as ``shape``, or :class:`WrongBody` naming the first field
    that is missing or of the wrong type."""
    try:
        return TypeAdapter(shape).validate_json(response.content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise WrongBody(f"{request}: body: {where + ': ' if where else ''}{first['msg']}") from None


def far_below(quote: _Quote, tick: Decimal) -> Decimal:
    """A buy price nobody sells at: half the best bid (else the last trade, else the best
    ask) on the tick grid; one tick when the market has no price at all."""
    prices = [Decimal(price) for price in (quote.bid, quote.last, quote.ask) if price is not None]
    if not prices:
        return tick
    ticks = (prices[0] * FAR_BELOW / tick).to_integral_value(rounding=ROUND_FLOOR)
    return max(tick, ticks * tick)


def _quietly(_line: str) -> None:
    return  # the runner reports the journey as a finding, not step by step


@dataclasses.dataclass
class _Walk:
    """One journey: the steps taken, and the order sent (to clean up)."""

    client: TradingClient
    settings: Journey
    log: StepLog = dataclasses.field(default_factory=lambda: StepLog(_quietly))
    client_order_id: str = dataclasses.field(
        default_factory=lambda: f"monitor-{secrets.token_hex(6)}"
    )
    sent: bool = False  # the order request went out: an order may rest
    order: _Order | None = None  # the order as last seen

    @property
    def order_id(self) -> int | None:
        """The id of the order placed, once an answer said it."""
        return self.order.id if self.order else None

    def through(self, password: str) -> None:
        """Every step in order; :class:`StepFailed` at the first that fails."""
        symbol = self.settings.symbol
        market = f"/v1/market/{symbol}"
        self.log.run("login", lambda: self._login(password))
        instrument = self.log.run("instrument", self._instrument)
        quote = self.log.run("quote", lambda: self._get(f"{market}/quote", _Quote))
        self.log.run("book", lambda: self._get(f"{market}/book", _Book))
        self.log.run("place", lambda: self._place(instrument, quote))
        self.log.run("read", self._read)
        self.log.run("cancel", self._cancel)

    def _get(self, path: str, shape: type[Shape]) -> Shape:
        return shaped(shape, self.client.request("GET", path, expected=200), f"GET {path}")

    def _login(self, password: str) -> None:
        form = {"username": self.settings.user, "password": password}
        response = self.client.request("POST", "/v1/auth/token", expected=200, data=form)
        self.client.token = shaped(_Token, response, "POST /v1/auth/token").access_token

    def _instrument(self) -> _Instrument:
        for instrument in self._get("/v1/instruments", list[_Instrument]):
            if instrument.symbol == self.settings.symbol:
                return instrument
        raise WrongBody(f"GET /v1/instruments: {self.settings.symbol} is not listed")

    def _place(self, instrument: _Instrument, quote: _Quote) -> None:
        price = far_below(quote, Decimal(instrument.tick_size))
        order = limit_order(self.settings.symbol, "buy", instrument.lot_size, format(price, "f"),
                            client_order_id=self.client_order_id)  # fmt: skip
        self.sent = True
        try:
            response = self.client.request("POST", "/v1/orders", expected=201, json=order)
        except ApiError as error:
            self.sent = (error.status or 500) >= 500  # refused: nothing placed; 5xx: who knows
            raise
        self._expect(shaped(_Order, response, "POST /v1/orders"), "new", "POST /v1/orders")

    def _read(self) -> None:
        path = f"/v1/orders/{self.order_id}"
        read = self._get(path, _Order)
        if read.id != self.order_id:
            raise WrongBody(f"GET {path}: answered order {read.id}")
        self._expect(read, "new", f"GET {path}")

    def _cancel(self) -> None:
        path = f"/v1/orders/{self.order_id}/cancel"
        response = self.client.request("POST", path, expected=200)
        self._expect(shaped(_Order, response, f"POST {path}"), "canceled", f"POST {path}")

    def _expect(self, order: _Order, status: str, request: str) -> None:
        self.order = order
        if order.status != status:
            raise WrongBody(f"{request}: the order is {order.status}, expected {status}")

    def clean_up(self) -> list[Finding]:
        """Cancel the order if it may rest; the cleanup's finding (none when nothing was sent)."""
        if not self.sent:
            return []
        if self.order is not None and self.order.status not in OPEN_STATUSES:
            return [ok(CHECK, CLEANUP, f"order {self.order.id} is {self.order.status}",
                       order_id=self.order.id)]  # fmt: skip
        try:
            order_id = self.order_id if self.order_id is not None else self._find_sent()
            if order_id is None:
                return [ok(CHECK, CLEANUP, f"order {self.client_order_id} was not placed")]
            return [self._cancel_left(order_id)]
        except (ApiUnreachable, ApiError, WrongBody) as error:
            return [_left_resting(self.order_id or self.client_order_id, error)]

    def _cancel_left(self, order_id: int) -> Finding:
        response = self.client.request("POST", f"/v1/orders/{order_id}/cancel")
        if response.status_code in (200, 409):  # 409: it closed by itself meanwhile
            return ok(CHECK, CLEANUP, f"order {order_id} canceled after the journey failed",
                      order_id=order_id)  # fmt: skip
        summary = (f"order {order_id} may be left resting: cancel answered"
                   f" {response.status_code}: {error_text(response)}")  # fmt: skip
        return problem(CHECK, CLEANUP, Status.CRITICAL, Reason.STATUS, summary,
                       order_id=order_id, status_code=response.status_code)  # fmt: skip

    def _find_sent(self) -> int | None:
        """The id of the order sent, found among the newest (its answer was lost or bad)."""
        response = self.client.request(
            "GET", "/v1/orders", expected=200, params={"limit": RECENT_ORDERS}
        )
        for order in shaped(_Page, response, "GET /v1/orders").items:
            if order.client_order_id == self.client_order_id:
                return order.id if order.status in OPEN_STATUSES else None
        return None


def _left_resting(order: int | str, error: OpsError) -> Finding:
    if isinstance(error, ApiUnreachable):
        finding = unreachable(CHECK, CLEANUP, error)
    else:
        reason = Reason.STATUS if isinstance(error, ApiError) else Reason.BODY
        finding = problem(CHECK, CLEANUP, Status.CRITICAL, reason, str(error))
    summary = f"order {order} may be left resting: {finding.summary}"[:300]
    return dataclasses.replace(finding, summary=summary)


def _step_figures(steps: list[Step]) -> dict[str, Figure]:
    return {f"{step.name}_ms": round(step.seconds * 1000, 1) for step in steps}


def _failed(failed: StepFailed, steps: list[Step]) -> Finding:
    cause = failed.__cause__
    if not isinstance(cause, OpsError):
        raise failed  # not something the service did: a bug of the check, for the runner
    figures = {**_step_figures(steps), "failed_step": failed.step.name}
    if isinstance(cause, ApiUnreachable):
        reason = transport_reason(cause)
    elif isinstance(cause, ApiError):
        reason, figures["status_code"] = Reason.STATUS, cause.status
    else:
        reason = Reason.BODY
    summary = f"{failed.step.name} failed: {failed.step.detail}"[:300]
    return problem(CHECK, TRADER, Status.CRITICAL, reason, summary, **figures)


def _passed(steps: list[Step], budget_ms: float) -> Finding:
    slowest = max(steps, key=lambda step: step.seconds)
    ms = slowest.seconds * 1000
    summary = f"{len(steps)} steps passed, the slowest {slowest.name} in {ms:.0f} ms"
    return timed(CHECK, TRADER, ms, (budget_ms, None), summary, _step_figures(steps))


def journey(context: MonitorContext) -> list[Finding]:
    """The synthetic trader's journey through the public URL, its order cleaned up."""
    settings = context.settings.journey
    password = context.env.get(settings.password_env)
    if not password and context.environment.seed_demo_data:
        password = DEMO_PASSWORD  # an environment with the public demo users (local)
    if not password:
        summary = f"{settings.password_env} is not set: cannot log in as {settings.user}"
        return [problem(CHECK, TRADER, Status.UNKNOWN, Reason.MISSING, summary)]
    with context.client() as client:
        walk = _Walk(client, settings)
        try:
            walk.through(password)
            verdict = _passed(walk.log.steps, settings.step_budget_ms)
        except StepFailed as failed:
            verdict = _failed(failed, walk.log.steps)
        finally:
            cleanup = walk.clean_up()
    return [verdict, *cleanup]
