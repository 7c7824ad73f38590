"""The in-process rate limiter and cache (Redis variants: tests/integration)."""

from __future__ import annotations

import pytest

from app.cache import MemoryCache
from app.ratelimit import MemoryRateLimiter


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_limit_allows_then_refuses_with_retry_after() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(clock=clock)
    decisions = [await limiter.hit("ip:1", 3, 60) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[2].remaining == 0
    assert decisions[3].retry_after == 20  # window [960, 1020)
    assert (await limiter.hit("ip:2", 3, 60)).allowed, "keys are independent"


async def test_limit_resets_in_the_next_window() -> None:
    clock = FakeClock(0.0)
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(2):
        await limiter.hit("k", 2, 10)
    assert not (await limiter.hit("k", 2, 10)).allowed
    clock.now = 10.0
    assert (await limiter.hit("k", 2, 10)).allowed


async def test_limiter_memory_is_bounded() -> None:
    clock = FakeClock(0.0)
    limiter = MemoryRateLimiter(clock=clock, max_keys=10)
    for index in range(10):
        await limiter.hit(f"k{index}", 5, 10)
    clock.now = 20.0
    await limiter.hit("new", 5, 10)
    assert len(limiter._counts) == 1


async def test_memory_cache_expires_and_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("app.cache.time.monotonic", lambda: now[0])
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", 1.0)
    assert await cache.get("a") == b"1"
    now[0] = 101.5
    assert await cache.get("a") is None
    await cache.set("b", b"2", 5)
    await cache.delete("b", "missing")
    assert await cache.get("b") is None
    for key in ("x", "y", "z"):
        await cache.set(key, b"v", 5)
    assert await cache.get("z") == b"v"
