"""Pre-trade risk checks and position arithmetic."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from app.domain.enums import OrderType, Side
from app.domain.risk import (
    Approval,
    InstrumentRules,
    Rejected,
    RejectReason,
    approve,
    average_price,
    collar_price,
    notional,
    realized,
)

RULES = InstrumentRules("AAPL", D("0.01"), D("1"), True)


def check(**overrides: Any) -> Approval:
    values: dict[str, Any] = {
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": D("10"),
        "limit_price": D("100.00"),
        "rules": RULES,
        "buying_power": D("1000"),
        "available_qty": D("0"),
        "reference_price": D("100"),
        "collar": D("0.05"),
    }
    values.update(overrides)
    return approve(**values)


def test_buy_reserves_limit_times_qty() -> None:
    approval = check()
    assert approval.reserved_cash == D("1000")
    assert approval.price_bound == D("100.00")
    assert approval.reserved_qty == 0


def test_buy_beyond_buying_power_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        check(buying_power=D("999.99"))
    assert caught.value.reason is RejectReason.INSUFFICIENT_BUYING_POWER
    assert "999.99" in str(caught.value)


def test_sell_reserves_position_and_no_short_selling() -> None:
    assert check(side=Side.SELL, available_qty=D("10")).reserved_qty == D("10")
    with pytest.raises(Rejected) as caught:
        check(side=Side.SELL, available_qty=D("9"))
    assert caught.value.reason is RejectReason.INSUFFICIENT_POSITION


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"limit_price": D("100.001")}, RejectReason.PRICE_OFF_TICK),
        ({"qty": D("1.5")}, RejectReason.QTY_OFF_LOT),
        ({"rules": InstrumentRules("AAPL", D("0.01"), D("1"), False)}, RejectReason.NOT_TRADABLE),
        (
            {"order_type": OrderType.MARKET, "limit_price": None, "reference_price": None},
            RejectReason.NO_REFERENCE_PRICE,
        ),
    ],
)
def test_rejections_name_their_reason(overrides: dict[str, Any], reason: RejectReason) -> None:
    with pytest.raises(Rejected) as caught:
        check(**overrides)
    assert caught.value.reason is reason


def test_market_buy_is_bounded_by_the_collar() -> None:
    approval = check(order_type=OrderType.MARKET, limit_price=None, qty=D("9"))
    assert approval.price_bound == D("105.00")
    assert approval.reserved_cash == D("945.00")


def test_limit_order_without_price_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="limit price"):
        check(limit_price=None)


@pytest.mark.parametrize(
    ("side", "reference", "expected"),
    [
        (Side.BUY, "100", "105.00"),
        (Side.BUY, "100.03", "105.04"),  # rounded up to the tick
        (Side.SELL, "100.03", "95.02"),  # rounded down to the tick
        (Side.SELL, "0.01", "0.01"),  # never below one tick
    ],
)
def test_collar_price_snaps_outward_to_the_tick(side: Side, reference: str, expected: str) -> None:
    assert collar_price(side, D(reference), D("0.05"), D("0.01")) == D(expected)


def test_average_price_and_realized_pnl() -> None:
    assert average_price(D("0"), D("0"), D("10"), D("100")) == D("100")
    assert average_price(D("10"), D("100"), D("10"), D("110")) == D("105")
    assert average_price(D("3"), D("1"), D("0"), D("0")) == D("1")
    assert average_price(D("0"), D("0"), D("0"), D("5")) == D("0")
    assert realized(D("105"), D("4"), D("110")) == D("20")
    assert realized(D("105"), D("4"), D("100")) == D("-20")


def test_notional_refuses_to_round_silently() -> None:
    assert notional(D("190.5"), D("0.0001")) == D("0.01905")
    with pytest.raises(ValueError, match="precision"):
        notional(D("0.00000001"), D("0.5"))
