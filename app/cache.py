"""A short-lived key-value cache: Redis when configured, else in-process."""

from __future__ import annotations

import asyncio
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
    """Shared by every worker and instance; keys carry a prefix.

    Deletes are coalesced: every order that changes a book deletes its snapshot, and
    a worker under load would send one DEL per order. Keys asked for while a DEL is
    in flight ride together on the next one, and each caller returns only once a DEL
    sent after its call has completed -- so a client that reads after its write still
    never gets the snapshot from before it.
    """

    def __init__(self, client: Redis, prefix: str = "trading:cache:") -> None:
        self._client = client
        self._prefix = prefix
        self._pending: set[str] = set()
        self._next: asyncio.Future[BaseException | None] | None = None  # the pending keys' DEL
        self._flusher: asyncio.Task[None] | None = None

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        value = await self._client.get(self._prefix + key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds`` (millisecond resolution)."""
        await self._client.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))

    async def delete(self, *keys: str) -> None:
        """Forget ``keys``: return once a DEL sent after this call has completed (it
        raises what that DEL raised)."""
        if not keys:
            return
        loop = asyncio.get_running_loop()
        self._pending.update(self._prefix + key for key in keys)
        if self._next is None:
            self._next = loop.create_future()
        done = self._next
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        # Shielded: a caller that goes away (its client disconnected) leaves the DEL to
        # the others riding on it.
        error = await asyncio.shield(done)
        if error is not None:
            raise error

    async def _flush(self) -> None:
        done: asyncio.Future[BaseException | None] | None = None
        try:
            while self._pending and self._next is not None:
                keys, done = self._pending, self._next
                self._pending, self._next = set(), None
                try:
                    await self._client.delete(*keys)
                except Exception as error:  # handed to every caller riding on this DEL
                    done.set_result(error)
                else:
                    done.set_result(None)
        finally:
            # Cancelled (the loop shuts down): nobody may wait for a DEL that never comes.
            for left in (done, self._next):
                if left is not None and not left.done():
                    left.set_result(ConnectionError("cache delete cancelled"))
            self._pending, self._next, self._flusher = set(), None, None
