"""Pre-trade risk: the grid, buying power, no short selling, the market-order collar."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from app.domain.enums import OrderType, Side

ZERO = Decimal(0)
STORAGE_QUANTUM = Decimal("0.00000001")


class RejectReason(StrEnum):
    """Why an order was refused; recorded on the order."""

    NOT_TRADABLE = "instrument_not_tradable"
    PRICE_OFF_TICK = "price_not_on_tick"
    QTY_OFF_LOT = "qty_not_on_lot"
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
    INSUFFICIENT_POSITION = "insufficient_position"
    NO_REFERENCE_PRICE = "no_reference_price"


class Rejected(Exception):
    """An order failed a pre-trade check."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    """The grid and state an order is checked against."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    tradable: bool


@dataclass(frozen=True, slots=True)
class Approval:
    """An accepted order: the price it may trade up to (or down to) and what it reserves."""

    price_bound: Decimal
    reserved_cash: Decimal
    reserved_qty: Decimal


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def on_grid(value: Decimal, step: Decimal) -> bool:
    """Tell whether ``value`` is a whole multiple of ``step``."""
    return value % step == ZERO


def notional(price: Decimal, qty: Decimal) -> Decimal:
    """price * qty at storage precision; the grid guarantees it is exact."""
    value = price * qty
    exact = value.quantize(STORAGE_QUANTUM)
    if exact != value:
        raise ValueError(f"notional {value} exceeds storage precision")
    return exact


def collar_price(side: Side, reference: Decimal, collar: Decimal, tick: Decimal) -> Decimal:
    """The worst price a market order may trade at: reference ± collar, snapped to the tick."""
    if side is Side.BUY:
        raw = reference * (1 + collar)
        return (raw / tick).to_integral_value(ROUND_CEILING) * tick
    raw = reference * (1 - collar)
    floor = (raw / tick).to_integral_value(ROUND_FLOOR) * tick
    return max(floor, tick)


def approve(
    *,
    side: Side,
    order_type: OrderType,
    qty: Decimal,
    limit_price: Decimal | None,
    rules: InstrumentRules,
    buying_power: Decimal,
    available_qty: Decimal,
    reference_price: Decimal | None,
    collar: Decimal,
) -> Approval:
    """Check an order against the rules and the account; raise :class:`Rejected` if it fails."""
    if not rules.tradable:
        raise Rejected(RejectReason.NOT_TRADABLE, f"{rules.symbol} is not tradable")
    if not on_grid(qty, rules.lot_size):
        raise Rejected(
            RejectReason.QTY_OFF_LOT,
            f"qty {_fmt(qty)} is not a multiple of {_fmt(rules.lot_size)}",
        )
    if order_type is OrderType.LIMIT:
        if limit_price is None:
            raise ValueError("limit orders need a limit price")
        if not on_grid(limit_price, rules.tick_size):
            raise Rejected(
                RejectReason.PRICE_OFF_TICK,
                f"price {_fmt(limit_price)} is not a multiple of {_fmt(rules.tick_size)}",
            )
        bound = limit_price
    else:
        if reference_price is None:
            raise Rejected(RejectReason.NO_REFERENCE_PRICE, f"no price to collar {rules.symbol}")
        bound = collar_price(side, reference_price, collar, rules.tick_size)

    if side is Side.SELL:
        if qty > available_qty:
            raise Rejected(
                RejectReason.INSUFFICIENT_POSITION,
                f"selling {_fmt(qty)} {rules.symbol} but only {_fmt(available_qty)} available",
            )
        return Approval(bound, ZERO, qty)

    needed = notional(bound, qty)
    if needed > buying_power:
        raise Rejected(
            RejectReason.INSUFFICIENT_BUYING_POWER,
            f"needs {_fmt(needed)} but buying power is {_fmt(buying_power)}",
        )
    return Approval(bound, needed, ZERO)


def average_price(old_qty: Decimal, old_avg: Decimal, qty: Decimal, price: Decimal) -> Decimal:
    """Average entry price after buying ``qty`` at ``price``."""
    total = old_qty + qty
    if total == ZERO:
        return ZERO
    return ((old_qty * old_avg + qty * price) / total).quantize(STORAGE_QUANTUM, ROUND_HALF_EVEN)


def realized(avg: Decimal, qty: Decimal, price: Decimal) -> Decimal:
    """Profit or loss realized by selling ``qty`` at ``price`` against an average ``avg``."""
    return ((price - avg) * qty).quantize(STORAGE_QUANTUM, ROUND_HALF_EVEN)
