"""A short-lived key-value cache: Redis when configured, else in-process."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis


class Cache(Protocol):
    """What the market-data endpoints need from a cache."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds``."""

    async def delete(self, *keys: str) -> None:
        """Forget ``keys``."""


class MemoryCache:
    """Per-process cache; enough for one worker, bounded staleness for several."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._max_entries = max_entries

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._entries.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds``, evicting everything when full."""
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl_seconds, value)

    async def delete(self, *keys: str) -> None:
        """Forget ``keys``."""
        for key in keys:
            self._entries.pop(key, None)


class RedisCache:
    """Shared by every worker and instance; keys carry a prefix."""

    def __init__(self, client: Redis, prefix: str = "trading:cache:") -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        value = await self._client.get(self._prefix + key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds`` (millisecond resolution)."""
        await self._client.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))

    async def delete(self, *keys: str) -> None:
        """Forget ``keys``."""
        if keys:
            await self._client.delete(*(self._prefix + key for key in keys))
