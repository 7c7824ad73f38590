"""State shared between workers: Redis-backed limits and cache, multi-process metrics."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from app.cache import RedisCache
from app.ratelimit import RedisRateLimiter
from ops.live.server import AppServer
from tests.integration.helpers import bearer, server_settings
from tests.support.app import UNBROKEN_WINDOW_SECONDS


async def test_redis_rate_limit_is_shared_and_expires(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    try:
        clock = [1000.0]
        first = RedisRateLimiter(client, prefix, clock=lambda: clock[0])
        second = RedisRateLimiter(client, prefix, clock=lambda: clock[0])
        decisions = [await limiter.hit("user:1", 3, 60) for limiter in (first, second, first)]
        refused = await second.hit("user:1", 3, 60)
        assert [d.allowed for d in decisions] == [True, True, True]
        assert not refused.allowed
        assert refused.retry_after == 20
        clock[0] = 1020.0
        assert (await first.hit("user:1", 3, 60)).allowed, "a new window starts afresh"
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        ttls = [await client.ttl(key) for key in keys]
        assert ttls
        assert all(0 < ttl <= 61 for ttl in ttls), ttls
    finally:
        async for key in client.scan_iter(f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_redis_cache_round_trip(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    cache = RedisCache(client, f"t{uuid.uuid4().hex[:8]}:")
    try:
        await cache.set("k", b"v", 0.2)
        assert await cache.get("k") == b"v"
        await cache.delete("k")
        assert await cache.get("k") is None
    finally:
        await client.aclose()


class HeldDeletes:
    """A real Redis client whose DELs are counted and wait for ``release`` (or fail)."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.sent: list[tuple[str, ...]] = []
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def delete(self, *keys: str) -> Any:
        """Record the DEL, hold it until released, then send it (or raise ``error``)."""
        self.sent.append(tuple(sorted(keys)))
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return await self.client.delete(*keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


async def test_redis_cache_deletes_ride_together_and_none_returns_early(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    held = HeldDeletes(client)
    cache = RedisCache(held, "c" + uuid.uuid4().hex[:8] + ":")  # type: ignore[arg-type]
    try:
        await cache.set("a", b"1", 5)
        first = asyncio.create_task(cache.delete("a"))
        await asyncio.sleep(0.01)  # the first DEL is in flight, held
        await cache.set("a", b"2", 5)  # written after that DEL was sent
        await cache.set("b", b"3", 5)
        later = [asyncio.create_task(cache.delete(key)) for key in ("a", "b", "a")]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in [first, *later]), "no DEL has completed yet"
        held.release.set()
        await asyncio.gather(first, *later)
        assert len(held.sent) == 2, f"four deletes, two DELs expected: {held.sent}"
        assert [len(keys) for keys in held.sent] == [1, 2], held.sent
        assert await cache.get("a") is None, "a delete returned before a DEL sent after it"
        assert await cache.get("b") is None
    finally:
        await client.aclose()


async def test_redis_cache_delete_failure_reaches_every_caller(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    held = HeldDeletes(client)
    held.error = ConnectionError("redis went away")
    cache = RedisCache(held, "c" + uuid.uuid4().hex[:8] + ":")  # type: ignore[arg-type]
    try:
        calls = [asyncio.create_task(cache.delete(key)) for key in ("a", "b")]
        await asyncio.sleep(0.01)
        held.release.set()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert [str(outcome) for outcome in outcomes] == ["redis went away"] * 2
        held.error = None
        await cache.delete("a")  # the next DEL goes out afresh
        assert len(held.sent) == 2, held.sent
    finally:
        await client.aclose()


async def _delete_keys(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(f"{prefix}*"):
            await client.delete(key)
    finally:
        await client.aclose()


def _sum_samples(exposition: str, metric: str, **labels: str) -> float:
    total = 0.0
    for line in exposition.splitlines():
        if not line.startswith(metric + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_two_workers_share_limits_and_metrics(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    prefix = f"w{uuid.uuid4().hex[:8]}:"
    settings = server_settings(
        pg_url,
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        RATE_LIMIT_PER_USER="30",
        RATE_LIMIT_PER_IP="100000",
        RATE_LIMIT_WINDOW_SECONDS=str(UNBROKEN_WINDOW_SECONDS),
    )
    server = AppServer(settings, tmp_path, env=os.environ, workers=2)
    server.start()
    try:
        auth = bearer(2)
        statuses = []
        for _ in range(40):
            # A fresh connection each time so both workers take requests.
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                response = await client.get("/v1/me", headers=auth)
                statuses.append(response.status_code)
        pids = set()
        for _ in range(60):
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                pids.add((await client.get("/version")).json()["pid"])
            if len(pids) == 2:
                break
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            exposition = (await client.get("/metrics")).text
    finally:
        server.stop()
        await _delete_keys(redis_url, prefix)
    assert len(pids) == 2, "both workers are serving"
    assert statuses.count(200) == 30, "one budget across both workers"
    assert statuses.count(429) == 10
    served = _sum_samples(exposition, "http_requests_total", route="/v1/me")
    assert served == 40, exposition[:2000]
    assert _sum_samples(exposition, "http_rate_limited_total", scope="user") == 10
