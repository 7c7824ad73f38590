"""A crash in the middle of trading loses nothing and duplicates nothing.

Clients place orders with client_order_ids and retry on any error; the server
is killed with SIGKILL mid-flow and started again. Afterwards every
acknowledged order exists exactly once, open orders are still open, and the
books balance.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import httpx
from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import OPEN_STATUS_VALUES, Order
from ops.live.server import AppServer
from tests.integration.helpers import bearer, invariant_problems, server_settings

CLIENTS = 12
ORDERS_PER_CLIENT = 25


CRASH_AFTER = CLIENTS * ORDERS_PER_CLIENT // 3


async def _client(
    base_url: str,
    index: int,
    acknowledged: dict[str, int],
    halfway: asyncio.Event,
    stop_after_errors: float,
) -> None:
    trader = 2 + index % 3
    auth = bearer(trader)
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        for number in range(ORDERS_PER_CLIENT):
            client_order_id = f"c{index}-{number}"
            side = "buy" if (index + number) % 2 else "sell"
            body = {
                "symbol": "AAPL",
                "side": side,
                "type": "limit",
                "qty": "1",
                "limit_price": str(180 + (index * 7 + number) % 20),
                "client_order_id": client_order_id,
            }
            deadline = asyncio.get_running_loop().time() + stop_after_errors
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.post("/v1/orders", json=body, headers=auth)
                    if response.status_code in (200, 201):
                        acknowledged[client_order_id] = response.json()["id"]
                        if len(acknowledged) >= CRASH_AFTER:
                            halfway.set()
                        break
                assert asyncio.get_running_loop().time() < deadline, "server never came back"
                await asyncio.sleep(0.1)


async def test_kill_and_restart_mid_trading(pg_url: str, tmp_path: Path) -> None:
    settings = server_settings(pg_url, tmp_path, RATE_LIMIT_ENABLED="false")
    first = AppServer(settings, tmp_path, env=os.environ)
    first.start()
    acknowledged: dict[str, int] = {}
    halfway = asyncio.Event()
    clients = asyncio.gather(
        *(_client(first.url, index, acknowledged, halfway, 90) for index in range(CLIENTS))
    )
    try:
        await asyncio.wait_for(halfway.wait(), 60)
        first.kill()
        killed_at = len(acknowledged)
        second = AppServer(settings, tmp_path, env=os.environ, port=first.port)
        await asyncio.to_thread(second.start)
        try:
            await clients
        finally:
            second.stop()
    finally:
        first.kill()

    assert killed_at < CLIENTS * ORDERS_PER_CLIENT, "the crash happened mid-flow"
    assert len(acknowledged) == CLIENTS * ORDERS_PER_CLIENT
    database = Database(pg_url)
    try:
        async with database.read_sessions() as session:
            rows = (await session.execute(select(Order.client_order_id, Order.id))).all()
            open_orders = await session.scalar(
                select(func.count()).where(Order.status.in_(OPEN_STATUS_VALUES))
            )
    finally:
        await database.dispose()
    problems = await invariant_problems(pg_url)
    stored = {row.client_order_id: row.id for row in rows}
    assert len(rows) == len(stored), "no client_order_id was stored twice"
    assert stored == acknowledged, "every acknowledged order exists, with the id returned"
    assert open_orders, "resting orders survived the crash"
    assert problems == []
