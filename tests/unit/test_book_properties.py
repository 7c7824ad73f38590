"""Property-based tests of the order book: a rule-based state machine.

Invariants after every step: the book is never crossed; each side is in
price-time priority; no order fills more than its quantity; quantity is
conserved (every execution takes from exactly one maker); trades print at
the maker's price and within the taker's bound.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app.domain.book import OrderBook
from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.domain.matching import IncomingOrder, crosses, priority_key

prices = st.integers(min_value=95, max_value=105).map(Decimal)
quantities = st.integers(min_value=1, max_value=20).map(Decimal)


class BookMachine(RuleBasedStateMachine):
    """Random orders and cancels against one book, checked against a simple ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook()
        self.next_id = 1
        self.submitted: dict[int, Decimal] = {}
        self.filled: dict[int, Decimal] = {}
        self.canceled: set[int] = set()
        self.taker_volume = Decimal(0)
        self.maker_volume = Decimal(0)

    @rule(
        side=st.sampled_from(Side),
        kind=st.sampled_from(OrderType),
        tif=st.sampled_from(TimeInForce),
        price=prices,
        qty=quantities,
    )
    def submit(
        self, side: Side, kind: OrderType, tif: TimeInForce, price: Decimal, qty: Decimal
    ) -> None:
        if kind is OrderType.MARKET and tif is TimeInForce.GTC:
            tif = TimeInForce.IOC
        order_id = self.next_id
        self.next_id += 1
        makers_before = {o.order_id: o for o in self.book.side(side.opposite)}
        order = IncomingOrder(order_id, order_id % 3, side, kind, tif, qty, price)
        result = self.book.submit(order)
        self.submitted[order_id] = qty
        self.filled[order_id] = result.filled

        assert result.filled + result.remaining == qty
        self.taker_volume += result.filled
        for execution in result.executions:
            maker = makers_before[execution.maker_order_id]
            assert execution.price == maker.price, "trades print at the resting price"
            assert crosses(side, price, execution.price), "trades respect the taker's bound"
            assert execution.qty <= maker.remaining
            self.filled[maker.order_id] = (
                self.filled.get(maker.order_id, Decimal(0)) + execution.qty
            )
            self.maker_volume += execution.qty
        if tif is TimeInForce.FOK:
            assert result.status in (OrderStatus.FILLED, OrderStatus.EXPIRED)
            assert result.filled in (Decimal(0), qty)
        if result.rests:
            assert kind is OrderType.LIMIT
            assert tif is TimeInForce.GTC

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        resting = self.book.bids + self.book.asks
        if not resting:
            return
        victim = data.draw(st.sampled_from(resting))
        assert self.book.cancel(victim.order_id) == victim
        self.canceled.add(victim.order_id)
        assert self.book.cancel(victim.order_id) is None

    @invariant()
    def never_crossed(self) -> None:
        assert not self.book.is_crossed()

    @invariant()
    def price_time_priority(self) -> None:
        for side in Side:
            orders = self.book.side(side)
            keys = [priority_key(side, o.price, o.order_id) for o in orders]
            assert keys == sorted(keys)
            assert all(o.side is side for o in orders)

    @invariant()
    def quantity_is_conserved(self) -> None:
        assert self.taker_volume == self.maker_volume

    @invariant()
    def filled_never_exceeds_quantity(self) -> None:
        for order_id, filled in self.filled.items():
            assert Decimal(0) <= filled <= self.submitted[order_id]

    @invariant()
    def resting_quantity_is_what_is_left(self) -> None:
        for order in self.book.bids + self.book.asks:
            assert order.order_id not in self.canceled
            assert order.remaining > 0
            assert order.remaining == self.submitted[order.order_id] - self.filled[order.order_id]


BookMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBook = BookMachine.TestCase
