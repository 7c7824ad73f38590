"""``place_order`` on a real SQLite database: one transaction from the instrument lock to
the written order, as the API runs it (migrated and seeded like the API tests' database).

Each call rests a one-lot bid far below the market, so every call takes the same path
(nothing to trade with, buying power to spare) however many rounds are timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from cases import COLLAR, Benchmark

from app.db import migrate
from app.db.engine import Database
from app.domain.enums import OrderStatus, OrderType, Side
from app.services.orders import OrderRequest, PlaceResult, place_order
from app.services.seed import DEMO_PASSWORD, DEMO_TRADER, seed

RESTING_BID = OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, Decimal(1), Decimal("1.00"))


@dataclass(frozen=True)
class Trader:
    """A seeded trader's account on an open database, and the loop that drives it."""

    runner: asyncio.Runner
    database: Database
    account_id: int

    def place(self) -> PlaceResult:
        """Place the resting bid, to completion."""
        call = place_order(self.database.sessions, self.account_id, RESTING_BID, collar=COLLAR)
        return self.runner.run(call)


@pytest.fixture(scope="module")
def trader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trader]:
    """The demo trader on a migrated, seeded SQLite file of this module's own."""
    path: Path = tmp_path_factory.mktemp("bench") / "trading.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    with asyncio.Runner() as runner:
        database = Database(url)
        try:
            seeded = runner.run(seed(database.sessions, DEMO_PASSWORD))
            account_id = next(user.account_id for user in seeded if user.email == DEMO_TRADER)
            yield Trader(runner, database, account_id)
        finally:
            runner.run(database.dispose())


def test_place_order_sqlite(benchmark: Benchmark, trader: Trader) -> None:
    placed = benchmark(trader.place)
    assert placed.order.status is OrderStatus.NEW
    assert not placed.fill_count
