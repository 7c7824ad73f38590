"""The matching function: priority, prices, time in force, status."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.domain.matching import IncomingOrder, RestingOrder, crosses, match


def ask(order_id: int, price: str, qty: str, account: int = 9) -> RestingOrder:
    return RestingOrder(order_id, account, Side.SELL, D(price), D(qty))


def bid(order_id: int, price: str, qty: str, account: int = 9) -> RestingOrder:
    return RestingOrder(order_id, account, Side.BUY, D(price), D(qty))


def buy(
    qty: str, price: str, tif: TimeInForce = TimeInForce.GTC, kind: OrderType = OrderType.LIMIT
) -> IncomingOrder:
    return IncomingOrder(100, 1, Side.BUY, kind, tif, D(qty), D(price))


def sell(
    qty: str, price: str, tif: TimeInForce = TimeInForce.GTC, kind: OrderType = OrderType.LIMIT
) -> IncomingOrder:
    return IncomingOrder(100, 1, Side.SELL, kind, tif, D(qty), D(price))


def test_buy_trades_at_resting_prices_best_first() -> None:
    result = match(buy("5", "102"), [ask(1, "100", "2"), ask(2, "101", "2"), ask(3, "102", "5")])
    assert [(e.maker_order_id, e.price, e.qty) for e in result.executions] == [
        (1, D("100"), D("2")),
        (2, D("101"), D("2")),
        (3, D("102"), D("1")),
    ]
    assert result.status is OrderStatus.FILLED
    assert result.filled == D("5")


def test_time_priority_within_a_price_level() -> None:
    result = match(sell("3", "50"), [bid(7, "50", "2"), bid(9, "50", "2")])
    assert [(e.maker_order_id, e.qty) for e in result.executions] == [(7, D("2")), (9, D("1"))]


def test_limit_is_respected() -> None:
    result = match(buy("5", "100"), [ask(1, "100", "2"), ask(2, "100.01", "9")])
    assert result.filled == D("2")
    assert result.status is OrderStatus.PARTIALLY_FILLED
    assert result.rests


def test_gtc_without_liquidity_rests_as_new() -> None:
    result = match(buy("1", "99"), [ask(1, "100", "1")])
    assert result.executions == ()
    assert result.status is OrderStatus.NEW
    assert result.rests


def test_ioc_remainder_expires() -> None:
    result = match(buy("5", "100", TimeInForce.IOC), [ask(1, "100", "2")])
    assert result.filled == D("2")
    assert result.status is OrderStatus.EXPIRED
    assert not result.rests


def test_fok_fills_completely_or_not_at_all() -> None:
    resting = [ask(1, "100", "2"), ask(2, "101", "2")]
    killed = match(buy("5", "101", TimeInForce.FOK), resting)
    assert killed.executions == ()
    assert killed.status is OrderStatus.EXPIRED
    filled = match(buy("4", "101", TimeInForce.FOK), resting)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled == D("4")


def test_fok_counts_only_liquidity_within_the_limit() -> None:
    result = match(buy("3", "100", TimeInForce.FOK), [ask(1, "100", "2"), ask(2, "101", "5")])
    assert result.status is OrderStatus.EXPIRED


def test_market_order_remainder_expires_even_as_gtc_input() -> None:
    result = match(buy("5", "105", TimeInForce.IOC, OrderType.MARKET), [ask(1, "100", "1")])
    assert result.status is OrderStatus.EXPIRED
    assert result.filled == D("1")


def test_resting_orders_of_the_same_side_are_ignored() -> None:
    result = match(buy("1", "100"), [bid(1, "100", "5")])
    assert result.executions == ()


def test_unsorted_book_is_refused() -> None:
    with pytest.raises(ValueError, match="priority"):
        match(buy("1", "200"), [ask(2, "101", "1"), ask(1, "100", "1")])


def test_non_positive_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        match(buy("0", "100"), [])


@pytest.mark.parametrize(
    ("side", "bound", "price", "expected"),
    [
        (Side.BUY, "100", "99", True),
        (Side.BUY, "100", "100", True),
        (Side.BUY, "100", "101", False),
        (Side.SELL, "100", "101", True),
        (Side.SELL, "100", "99", False),
    ],
)
def test_crosses(side: Side, bound: str, price: str, expected: bool) -> None:
    assert crosses(side, D(bound), D(price)) is expected
