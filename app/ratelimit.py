"""Fixed-window rate limiting per key: in-process, or in Redis shared by all workers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass; if not, how many seconds until it may."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class RateLimiter(Protocol):
    """Counts hits of a key within the current window."""

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        """Count one request for ``key`` and decide."""


def _window(now: float, window_seconds: int) -> tuple[int, int]:
    index = int(now // window_seconds)
    retry_after = max(1, math.ceil((index + 1) * window_seconds - now))
    return index, retry_after


def _decide(count: int, limit: int, retry_after: int) -> Decision:
    allowed = count <= limit
    return Decision(allowed, limit, max(0, limit - count), 0 if allowed else retry_after)


class MemoryRateLimiter:
    """Per-process counters; with several workers each enforces the limit on its own."""

    def __init__(self, clock: Clock = time.time, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        """Count one request for ``key`` and decide."""
        index, retry_after = _window(self._clock(), window_seconds)
        window, count = self._counts.get(key, (index, 0))
        if window != index:
            count = 0
        if len(self._counts) >= self._max_keys and key not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
        self._counts[key] = (index, count + 1)
        return _decide(count + 1, limit, retry_after)


_INCR_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisRateLimiter:
    """Counters in Redis, so every worker and instance shares one budget per key."""

    def __init__(self, client: Redis, prefix: str = "trading:rl:", clock: Clock = time.time):
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._script = client.register_script(_INCR_WITH_TTL)

    async def hit(self, key: str, limit: int, window_seconds: int) -> Decision:
        """Count one request for ``key`` atomically and decide."""
        index, retry_after = _window(self._clock(), window_seconds)
        redis_key = f"{self._prefix}{key}:{index}"
        count = int(await self._script(keys=[redis_key], args=[window_seconds + 1]))
        return _decide(count, limit, retry_after)
