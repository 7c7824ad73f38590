"""Concurrency invariants on PostgreSQL, through a real two-worker server.

Dozens of clients at once can never overdraw cash, oversell a position, or
create two orders for one client_order_id; the books balance afterwards.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.live.server import AppServer
from tests.integration.helpers import bearer, invariant_problems, server_settings

CLIENTS = 40


@pytest.fixture
def server(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[AppServer]:
    settings = server_settings(
        pg_url,
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=f"it{tmp_path.name[-8:]}:",
        RATE_LIMIT_ENABLED="false",
    )
    app = AppServer(settings, tmp_path, env=os.environ, workers=2)
    app.start()
    try:
        yield app
    finally:
        app.stop()


async def _new_funded_trader(client: httpx.AsyncClient, email: str, cash: str) -> dict[str, Any]:
    user = (
        await client.post("/v1/auth/register", json={"email": email, "password": "pass-word-1"})
    ).json()
    deposit = await client.post(
        f"/v1/admin/accounts/{user['account_id']}/deposits",
        json={"amount": cash},
        headers=bearer(1, "admin"),
    )
    assert deposit.status_code == 201
    return dict(user)


async def _burst(
    client: httpx.AsyncClient, requests: list[tuple[dict[str, Any], dict[str, str]]]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(client.post("/v1/orders", json=body, headers=auth) for body, auth in requests)
    )


async def test_concurrent_buys_never_overdraw(server: AppServer, pg_url: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        dave = await _new_funded_trader(client, "dave@example.com", "10000")
        auth = bearer(dave["id"])
        body = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "300"}
        responses = await _burst(client, [(body, auth)] * CLIENTS)
        statuses = Counter(r.json()["status"] for r in responses)
        account = (await client.get("/v1/account", headers=auth)).json()
    assert {r.status_code for r in responses} == {201}
    assert statuses == {"new": 33, "rejected": CLIENTS - 33}
    assert account["reserved_cash"] == "9900"
    assert account["cash"] == "10000"
    assert await invariant_problems(pg_url) == []


async def test_concurrent_sells_never_oversell(server: AppServer, pg_url: str) -> None:
    alice = bearer(2)
    body = {"symbol": "MSFT", "side": "sell", "type": "limit", "qty": "100", "limit_price": "900"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        responses = await _burst(client, [(body, alice)] * 15)
        positions = (await client.get("/v1/positions", headers=alice)).json()
    statuses = Counter(r.json()["status"] for r in responses)
    assert statuses == {"new": 10, "rejected": 5}
    msft = next(p for p in positions if p["symbol"] == "MSFT")
    assert (msft["qty"], msft["reserved_qty"], msft["available_qty"]) == ("1000", "1000", "0")
    assert await invariant_problems(pg_url) == []


async def test_concurrent_replays_create_one_order(server: AppServer, pg_url: str) -> None:
    bob = bearer(3)
    body = {
        "symbol": "TSLA",
        "side": "buy",
        "type": "limit",
        "qty": "2",
        "limit_price": "200",
        "client_order_id": "race-1",
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        responses = await _burst(client, [(body, bob)] * CLIENTS)
        orders = (await client.get("/v1/orders", headers=bob)).json()["items"]
    assert {r.json()["id"] for r in responses} == {orders[0]["id"]}
    assert len(orders) == 1
    assert Counter(r.status_code for r in responses)[201] == 1
    assert await invariant_problems(pg_url) == []


async def test_concurrent_crossing_flow_balances(server: AppServer, pg_url: str) -> None:
    requests = []
    for index in range(CLIENTS):
        trader = 2 + index % 3
        side = "buy" if index % 2 else "sell"
        price = str(185 + index % 10)
        body = {
            "symbol": "AAPL",
            "side": side,
            "type": "limit",
            "qty": str(1 + index % 7),
            "limit_price": price,
            "time_in_force": "GTC" if index % 4 else "IOC",
        }
        requests.append((body, bearer(trader)))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for _ in range(3):
            responses = await _burst(client, requests)
            assert {r.status_code for r in responses} <= {201}
        fills = (await client.get("/v1/fills", headers=bearer(2))).json()["items"]
        book = (await client.get("/v1/market/AAPL/book", params={"depth": 1})).json()
    assert fills, "the flow crossed"
    if book["bids"] and book["asks"]:
        assert float(book["bids"][0]["price"]) < float(book["asks"][0]["price"])
    assert await invariant_problems(pg_url) == []
