"""The invariant checker finds each kind of corruption (so a clean check means something)."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import update

from app.db.engine import Database
from app.db.models import Account, Order, Position
from app.domain.enums import OrderType, Side, TimeInForce
from app.services.invariants import check_invariants
from app.services.orders import OrderRequest, place_order
from tests.support.app import Party


async def _problems(database: Database) -> list[str]:
    async with database.read_sessions() as session:
        return await check_invariants(session)


async def _rest(database: Database, party: Party, side: Side, price: str) -> int:
    result = await place_order(
        database.sessions,
        party.account_id,
        OrderRequest("AAPL", side, OrderType.LIMIT, D("2"), D(price), TimeInForce.GTC),
        collar=D("0.05"),
    )
    return result.order.id


async def test_clean_database_has_no_problems(database: Database) -> None:
    assert await _problems(database) == []


async def test_cash_changed_outside_the_ledger(database: Database, alice: Party) -> None:
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(Account).where(Account.id == alice.account_id).values(cash=D("5"))
        )
    problems = await _problems(database)
    assert any(f"account {alice.account_id}: cash 5" in p for p in problems), problems
    assert any(p.startswith("cash: accounts hold") for p in problems), problems


async def test_reservation_out_of_step(database: Database, alice: Party) -> None:
    await _rest(database, alice, Side.BUY, "100")
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(Account).where(Account.id == alice.account_id).values(reserved_cash=D("1"))
        )
    problems = await _problems(database)
    assert any("reserved 1" in p and "open buys reserve 200" in p for p in problems), problems


async def test_position_reservation_out_of_step(database: Database, bob: Party) -> None:
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(Position)
            .where(Position.account_id == bob.account_id)
            .values(reserved_qty=D("3"))
        )
    problems = await _problems(database)
    assert any(
        p.startswith(f"position {bob.account_id}/") and "open sells hold 0" in p for p in problems
    ), problems


async def test_crossed_book(database: Database, alice: Party, bob: Party) -> None:
    ask = await _rest(database, alice, Side.SELL, "300")
    await _rest(database, bob, Side.BUY, "250")
    async with database.sessions() as session, session.begin():
        await session.execute(update(Order).where(Order.id == ask).values(limit_price=D("200")))
    problems = await _problems(database)
    assert any("crossed, bid 250" in p for p in problems), problems


async def test_fills_disagree_with_the_order(database: Database, alice: Party) -> None:
    order_id = await _rest(database, alice, Side.SELL, "300")
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(filled_qty=D("1"), status="partially_filled")
        )
    problems = await _problems(database)
    assert any(f"order {order_id}: filled_qty 1" in p for p in problems), problems


async def test_instruments_created_from_nothing(database: Database, bob: Party) -> None:
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(Position).where(Position.account_id == bob.account_id).values(qty=D("5000"))
        )
    problems = await _problems(database)
    assert any("positions hold" in p for p in problems), problems
    assert any("but ledger sums to" in p for p in problems), problems
