"""Settling a match: cash, holdings, P&L and reservations, as a pure function.

The examples pin the arithmetic of each kind of trade; the property test
settles random matches against a random consistent book and checks that
nothing is created or destroyed and that every reservation stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.domain.lifecycle import IllegalTransition
from app.domain.matching import IncomingOrder, RestingOrder, match
from app.domain.risk import notional
from app.domain.settlement import Balance, Holding, OrderState, Settlement, settle

ZERO = D(0)
TAKER, MAKER = 1, 2


def order(
    account: int, side: Side, qty: str, price: str, filled: str = "0", reserved: str | None = None
) -> OrderState:
    """An order in state new (or partially filled); a buy reserves its remainder by default."""
    remaining = D(qty) - D(filled)
    if reserved is None:
        reserved = str(notional(D(price), remaining)) if side is Side.BUY else "0"
    return OrderState(
        account_id=account,
        side=side,
        qty=D(qty),
        reserve_price=D(price),
        filled_qty=D(filled),
        filled_notional=notional(D(price), D(filled)),
        reserved_cash=D(reserved),
        status=OrderStatus.PARTIALLY_FILLED if D(filled) else OrderStatus.NEW,
    )


def resting(order_id: int, state: OrderState) -> RestingOrder:
    return RestingOrder(
        order_id, state.account_id, state.side, state.reserve_price, state.remaining
    )


def run(
    taker: OrderState,
    makers: dict[int, OrderState],
    balances: dict[int, Balance],
    holdings: dict[int, Holding],
    tif: TimeInForce = TimeInForce.GTC,
) -> Settlement:
    incoming = IncomingOrder(
        0, taker.account_id, taker.side, OrderType.LIMIT, tif, taker.qty, taker.reserve_price
    )
    book = sorted(
        (resting(i, m) for i, m in makers.items()),
        key=lambda r: (r.price if r.side is Side.SELL else -r.price, r.order_id),
    )
    return settle(taker, match(incoming, book), makers, balances, holdings)


def cash(amount: str, reserved: str = "0") -> Balance:
    return Balance(D(amount), D(reserved))


def held(qty: str, reserved: str = "0", avg: str = "0", pnl: str = "0") -> Holding:
    return Holding(D(qty), D(reserved), D(avg), D(pnl))


def test_a_buy_crosses_an_ask_and_rests_the_remainder() -> None:
    settled = run(
        order(TAKER, Side.BUY, "10", "101"),
        {7: order(MAKER, Side.SELL, "4", "100")},
        {TAKER: cash("5000"), MAKER: cash("0")},
        {TAKER: held("2", avg="90"), MAKER: held("4", "4", avg="80", pnl="1")},
    )
    taker, maker = settled.taker, settled.makers[7]
    assert (taker.filled_qty, taker.filled_notional, taker.status) == (
        D("4"),
        D("400"),
        OrderStatus.PARTIALLY_FILLED,
    )
    assert taker.reserved_cash == D("606"), "6 left at the limit 101"
    assert (maker.filled_qty, maker.status, maker.reserved_cash) == (
        D("4"),
        OrderStatus.FILLED,
        ZERO,
    )
    assert settled.balances == {TAKER: cash("4600", "606"), MAKER: cash("400")}
    assert settled.holdings[TAKER] == held("6", avg="96.66666667")
    assert settled.holdings[MAKER] == held("0", pnl="81"), "sold out: 4 x 20 more"


def test_a_sell_fills_a_bid_and_releases_its_reservation() -> None:
    bid = order(MAKER, Side.BUY, "10", "50", filled="2")
    assert bid.reserved_cash == D("400")
    settled = run(
        order(TAKER, Side.SELL, "3", "49"),
        {9: bid},
        {TAKER: cash("0"), MAKER: cash("1000", "400")},
        {TAKER: held("5", avg="40"), MAKER: held("2", avg="50")},
    )
    maker = settled.makers[9]
    assert (settled.taker.status, settled.taker.reserved_cash) == (OrderStatus.FILLED, ZERO)
    assert (maker.filled_qty, maker.filled_notional, maker.status) == (
        D("5"),
        D("250"),
        OrderStatus.PARTIALLY_FILLED,
    )
    assert maker.reserved_cash == D("250"), "5 left at 50"
    assert settled.balances == {TAKER: cash("150"), MAKER: cash("850", "250")}
    assert settled.holdings == {TAKER: held("2", avg="40", pnl="30"), MAKER: held("5", avg="50")}


def test_a_resting_sell_reserves_its_remainder() -> None:
    settled = run(
        order(TAKER, Side.SELL, "5", "60"),
        {3: order(MAKER, Side.BUY, "2", "60")},
        {TAKER: cash("0"), MAKER: cash("120", "120")},
        {TAKER: held("5", avg="60"), MAKER: held("0")},
    )
    assert settled.taker.status is OrderStatus.PARTIALLY_FILLED
    assert settled.holdings[TAKER] == held("3", "3", avg="60")
    assert settled.balances[MAKER] == cash("0")


def test_trading_with_oneself_moves_nothing_but_reservations() -> None:
    settled = run(
        order(TAKER, Side.BUY, "2", "100"),
        {5: order(TAKER, Side.SELL, "2", "100")},
        {TAKER: cash("1000")},
        {TAKER: held("2", "2", avg="100")},
    )
    assert settled.balances[TAKER] == cash("1000")
    assert settled.holdings[TAKER] == held("2", avg="100")


def test_no_execution_changes_only_the_takers_reservation() -> None:
    balances, holdings = {TAKER: cash("1000")}, {TAKER: held("0")}
    settled = run(order(TAKER, Side.BUY, "3", "10"), {}, balances, holdings, TimeInForce.GTC)
    assert settled.makers == {}
    assert settled.taker.status is OrderStatus.NEW
    assert settled.balances[TAKER] == cash("1000", "30")
    expired = run(order(TAKER, Side.BUY, "3", "10"), {}, balances, holdings, TimeInForce.IOC)
    assert expired.taker.status is OrderStatus.EXPIRED
    assert expired.balances == balances


def test_the_inputs_are_not_changed() -> None:
    makers = {7: order(MAKER, Side.SELL, "4", "100")}
    balances = {TAKER: cash("5000"), MAKER: cash("0")}
    holdings = {TAKER: held("0"), MAKER: held("4", "4")}
    before = (dict(makers), dict(balances), dict(holdings))
    run(order(TAKER, Side.BUY, "4", "100"), makers, balances, holdings)
    assert (makers, balances, holdings) == before


def test_a_maker_that_can_no_longer_trade_is_refused() -> None:
    done = replace(order(MAKER, Side.SELL, "4", "100"), status=OrderStatus.CANCELED)
    with pytest.raises(IllegalTransition, match="from canceled to filled"):
        run(
            order(TAKER, Side.BUY, "4", "100"),
            {7: done},
            {TAKER: cash("400"), MAKER: cash("0")},
            {TAKER: held("0"), MAKER: held("4", "4")},
        )


ACCOUNTS = (1, 2, 3)
START_CASH = D("100000")
START_QTY = D("1000")
makers_strategy = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from(Side),
        st.integers(1, 10),  # quantity
        st.integers(0, 9),  # distance from the spread
        st.integers(0, 1),  # already partly filled?
    ),
    max_size=10,
)


def _book(specs: Iterable[tuple[int, Side, int, int, int]]) -> dict[int, OrderState]:
    """Bids from 99 down, asks from 100 up: a book that is not crossed."""
    book = {}
    for order_id, (account, side, qty, distance, partly) in enumerate(specs, start=1):
        price = 99 - distance if side is Side.BUY else 100 + distance
        filled = "1" if partly and qty > 1 else "0"
        book[order_id] = order(account, side, str(qty), str(price), filled=filled)
    return book


def _reservations(orders: Iterable[OrderState]) -> tuple[dict[int, D], dict[int, D]]:
    cash = dict.fromkeys(ACCOUNTS, ZERO)
    qty = dict.fromkeys(ACCOUNTS, ZERO)
    for state in orders:
        if not state.status.is_open:
            continue
        if state.side is Side.BUY:
            cash[state.account_id] += state.reserved_cash
        else:
            qty[state.account_id] += state.remaining
    return cash, qty


@settings(max_examples=200, deadline=None)
@given(
    specs=makers_strategy,
    account=st.sampled_from(ACCOUNTS),
    side=st.sampled_from(Side),
    qty=st.integers(1, 40),
    bound=st.integers(88, 111),
    tif=st.sampled_from(TimeInForce),
)
def test_settlement_conserves_cash_and_quantity_and_keeps_reservations_exact(
    specs: list[tuple[int, Side, int, int, int]],
    account: int,
    side: Side,
    qty: int,
    bound: int,
    tif: TimeInForce,
) -> None:
    makers = _book(specs)
    reserved_cash, reserved_qty = _reservations(makers.values())
    balances = {a: Balance(START_CASH, reserved_cash[a]) for a in ACCOUNTS}
    holdings = {a: Holding(START_QTY, reserved_qty[a], D("100"), ZERO) for a in ACCOUNTS}
    taker = order(account, side, str(qty), str(bound), reserved="0")

    settled = run(taker, makers, balances, holdings, tif)

    assert sum(b.cash for b in settled.balances.values()) == START_CASH * len(ACCOUNTS)
    assert sum(h.qty for h in settled.holdings.values()) == START_QTY * len(ACCOUNTS)
    assert sum(m.filled_qty - makers[i].filled_qty for i, m in settled.makers.items()) == (
        settled.taker.filled_qty
    )
    traded_value = sum(
        (m.filled_notional - makers[i].filled_notional for i, m in settled.makers.items()), ZERO
    )
    assert traded_value == settled.taker.filled_notional
    after = {**makers, **settled.makers}
    cash_held, qty_held = _reservations([*after.values(), settled.taker])
    for a in ACCOUNTS:
        balance, holding = settled.balances[a], settled.holdings[a]
        assert balance.reserved_cash == cash_held[a]
        assert holding.reserved_qty == qty_held[a]
        assert ZERO <= balance.reserved_cash <= balance.cash
        assert ZERO <= holding.reserved_qty <= holding.qty
    for state in (*after.values(), settled.taker):
        assert ZERO <= state.filled_qty <= state.qty
        if state.status.is_open and state.side is Side.BUY:
            assert state.reserved_cash == notional(state.reserve_price, state.remaining)
        else:
            assert state.reserved_cash == ZERO
