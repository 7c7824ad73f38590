"""Request and response bodies. Decimals travel as strings, never as floats."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from app.domain.enums import OrderStatus, OrderType, Role, Side, TimeInForce


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


AMOUNT_PATTERN = r"^([1-9][0-9]{0,8}(\.[0-9]{1,8})?|0\.[0-9]{0,7}[1-9])$"
"""A positive decimal string: at most 9 integer and 8 fraction digits."""


def _parse_amount(value: object) -> Decimal:
    # Money travels as strings: a JSON number could have been rounded on the way.
    if not isinstance(value, str) or not re.fullmatch(AMOUNT_PATTERN, value):
        raise ValueError(
            "must be a positive decimal string with at most 9 integer and 8 fraction digits"
        )
    return Decimal(value)


DecimalText = Annotated[
    Decimal,
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "format": "decimal"}),
]
PositiveAmount = Annotated[
    Decimal,
    PlainValidator(_parse_amount),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["100.5"]}),
]
# Free text stored in the database: printable ASCII only (PostgreSQL cannot hold
# NUL, and nothing here needs more).
TEXT_PATTERN = r"^[ -~]*$"
EMAIL_PATTERN = (
    r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63}){0,4}\.[A-Za-z]{2,24}$"
)
SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]{0,15}$"
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, examples=["AAPL"])]
ClientOrderId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:\-]{1,64}$", examples=["c-123"])]


class Input(BaseModel):
    """Strict request body: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    """One problem with the request."""

    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str


class ErrorInfo(BaseModel):
    """Machine-readable code, human message, and the request id to quote."""

    code: str
    message: str
    request_id: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: ErrorInfo


class RegisterIn(Input):
    """A new trader."""

    email: str = Field(max_length=320, pattern=EMAIL_PATTERN, examples=["trader@example.com"])
    password: str = Field(min_length=8, max_length=128)


class UserOut(BaseModel):
    """A user as they see themselves."""

    id: int
    email: str
    role: Role
    account_id: int
    created_at: datetime


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int


class _OrderFields(Input):
    symbol: Symbol
    side: Side
    qty: PositiveAmount
    client_order_id: ClientOrderId | None = None


class LimitOrderIn(_OrderFields):
    """A limit order: trades at ``limit_price`` or better; GTC unless told otherwise."""

    type: Literal[OrderType.LIMIT]
    limit_price: PositiveAmount
    time_in_force: TimeInForce = TimeInForce.GTC


class MarketOrderIn(_OrderFields):
    """A market order: trades at the best prices within the collar; IOC unless FOK."""

    type: Literal[OrderType.MARKET]
    time_in_force: Literal[TimeInForce.IOC, TimeInForce.FOK] = TimeInForce.IOC

    @property
    def limit_price(self) -> None:
        """Market orders have no limit price."""
        return None


OrderIn = Annotated[LimitOrderIn | MarketOrderIn, Field(discriminator="type")]


class OrderOut(BaseModel):
    """An order and how far it has filled."""

    id: int
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    qty: DecimalText
    limit_price: DecimalText | None
    filled_qty: DecimalText
    remaining_qty: DecimalText
    avg_fill_price: DecimalText | None
    status: OrderStatus
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    """A page of orders, newest first; pass ``next_cursor`` back for the next page."""

    items: list[OrderOut]
    next_cursor: str | None


class CancelAllOut(BaseModel):
    """Orders canceled by a cancel-all."""

    canceled: int
    orders: list[OrderOut]


class FillOut(BaseModel):
    """One of the account's trades."""

    id: int
    order_id: int
    symbol: str
    side: Side
    price: DecimalText
    qty: DecimalText
    liquidity: Literal["maker", "taker"]
    created_at: datetime


class FillPage(BaseModel):
    """A page of fills, newest first."""

    items: list[FillOut]
    next_cursor: str | None


class PositionOut(BaseModel):
    """Holdings of one instrument."""

    symbol: str
    qty: DecimalText
    reserved_qty: DecimalText
    available_qty: DecimalText
    avg_price: DecimalText
    realized_pnl: DecimalText
    last_price: DecimalText | None
    unrealized_pnl: DecimalText | None


class AccountOut(BaseModel):
    """Balances of the caller's account."""

    id: int
    currency: str
    cash: DecimalText
    reserved_cash: DecimalText
    buying_power: DecimalText
    positions_value: DecimalText
    equity: DecimalText


class DepositIn(Input):
    """Cash credited to an account by an admin."""

    amount: PositiveAmount
    note: str = Field(default="", max_length=200, pattern=TEXT_PATTERN)


class TransferIn(Input):
    """Instruments moved into an account by an admin, at a cost basis."""

    symbol: Symbol
    qty: PositiveAmount
    cost_price: PositiveAmount


class LevelOut(BaseModel):
    """One price level of the book."""

    price: str
    qty: str
    orders: int


class BookOut(BaseModel):
    """Top levels of a book: bids highest first, asks lowest first."""

    symbol: str
    bids: list[LevelOut]
    asks: list[LevelOut]
    last_price: str | None


class QuoteOut(BaseModel):
    """Best bid and ask with their sizes, and the last trade price."""

    symbol: str
    bid: str | None
    bid_qty: str | None
    ask: str | None
    ask_qty: str | None
    last: str | None


class InstrumentOut(BaseModel):
    """A tradable instrument and its grid."""

    symbol: str
    name: str
    tick_size: DecimalText
    lot_size: DecimalText
    tradable: bool
    last_price: DecimalText | None


class HealthOut(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"


class CheckOut(BaseModel):
    """One readiness check."""

    ok: bool
    detail: str


class ReadyOut(BaseModel):
    """Readiness: every dependency answered."""

    status: Literal["ready"] = "ready"
    checks: dict[str, CheckOut]


class NotReadyBody(ErrorBody):
    """Readiness failed: the error, and which checks failed."""

    checks: dict[str, CheckOut]


class VersionOut(BaseModel):
    """Which release is serving."""

    version: str
    git_sha: str
    environment: str
    started_at: datetime
    pid: int


RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "Seconds until the rate limit's window lets the request through",
    "schema": {"type": "integer", "minimum": 1},
}
"""The OpenAPI header of every 429 answer (both limiters send it)."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all with the shared error body."""
    descriptions = {
        400: "Bad request",
        401: "Missing, expired or invalid credentials",
        403: "Not allowed for this role",
        404: "Not found",
        409: "Conflicts with the current state",
        422: "Validation error",
        429: "Rate limit exceeded; see Retry-After",
        500: "Internal error",
    }
    entries: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": descriptions.get(status, "Error")}
        for status in statuses
    }
    if 429 in entries:
        entries[429]["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    return entries
