"""Property-based test of the whole service on a real database: random sequences of
orders, replays and cancels from several traders, then every invariant recomputed
from the records (cash and instruments conserved, reservations exact, books never
crossed, fills consistent, ledger balanced)."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db.engine import Database
from app.domain.enums import OrderType, Side, TimeInForce
from app.services.cancels import cancel_all, cancel_order
from app.services.errors import IdempotencyConflict, NotFound, OrderNotOpen
from app.services.invariants import check_invariants
from app.services.orders import OrderRequest, place_order
from tests.support.app import Party

TRADERS = (2, 3, 4)  # seeded account ids of alice, bob, carol
COLLAR = Decimal("0.05")

place = st.builds(
    lambda account, side, kind, tif, qty, price, client: (
        "place",
        account,
        OrderRequest(
            symbol="AAPL",
            side=side,
            order_type=kind,
            qty=Decimal(qty),
            limit_price=None if kind is OrderType.MARKET else Decimal(price) / 4,
            time_in_force=(
                TimeInForce.IOC if kind is OrderType.MARKET and tif is TimeInForce.GTC else tif
            ),
            client_order_id=client,
        ),
    ),
    st.sampled_from(TRADERS),
    st.sampled_from(Side),
    st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET]),
    st.sampled_from(TimeInForce),
    st.integers(1, 400),
    st.integers(4 * 180, 4 * 200),  # 180.00 .. 200.00 in quarter steps (on the 0.01 tick)
    st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3"])),
)
cancel = st.tuples(st.just("cancel"), st.sampled_from(TRADERS), st.integers(1, 40))
cancel_everything = st.tuples(st.just("cancel_all"), st.sampled_from(TRADERS))
actions = st.lists(st.one_of(place, place, place, cancel, cancel_everything), max_size=30)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=actions)
async def test_random_trading_keeps_every_invariant(
    database: Database, alice: Party, script: list[tuple[object, ...]]
) -> None:
    # Each example runs on the same database: invariants must hold cumulatively.
    for action in script:
        kind, account_id = action[0], action[1]
        assert isinstance(account_id, int)
        if kind == "place":
            request = action[2]
            assert isinstance(request, OrderRequest)
            with contextlib.suppress(IdempotencyConflict):
                await place_order(database.sessions, account_id, request, collar=COLLAR)
        elif kind == "cancel":
            order_id = action[2]
            assert isinstance(order_id, int)
            with contextlib.suppress(NotFound, OrderNotOpen):
                await cancel_order(database.sessions, account_id, order_id)
        else:
            await cancel_all(database.sessions, account_id)
    async with database.read_sessions() as session:
        assert await check_invariants(session) == []
