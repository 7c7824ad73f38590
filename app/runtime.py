"""Everything the running app holds: settings, database, cache, rate limiter, clients."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from app.cache import Cache, MemoryCache, RedisCache
from app.db.engine import Database
from app.db.migrate import current_revision, head_revision
from app.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from app.settings import Settings

CHECK_TIMEOUT_SECONDS = 2.0


class NotReady(Exception):
    """A dependency answered, but is not in a state the app can serve with."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check."""

    ok: bool
    detail: str


@dataclass
class Runtime:
    """Process-wide state, created at startup and closed at shutdown."""

    settings: Settings
    database: Database
    cache: Cache
    limiter: RateLimiter
    redis: Redis | None
    head: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    symbols: dict[int, str] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Connect lazily to what ``settings`` names (nothing is contacted yet)."""
        database = Database(
            settings.effective_database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        redis = (
            Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
            if settings.redis_url
            else None
        )
        prefix = settings.redis_prefix
        cache: Cache = RedisCache(redis, f"{prefix}cache:") if redis else MemoryCache()
        limiter: RateLimiter = (
            RedisRateLimiter(redis, f"{prefix}rl:") if redis else MemoryRateLimiter()
        )
        return cls(settings, database, cache, limiter, redis, head_revision())

    async def close(self) -> None:
        """Release connections."""
        await self.database.dispose()
        if self.redis is not None:
            await self.redis.aclose()

    async def readiness(self) -> dict[str, CheckResult]:
        """Check the database (reachable, migrations at head) and Redis if configured."""
        checks = {"database": self._check(self._database_ready())}
        if self.redis is not None:
            checks["redis"] = self._check(self._redis_ready())
        results = await asyncio.gather(*checks.values())
        return dict(zip(checks, results, strict=True))

    async def _check(self, probe: Coroutine[Any, Any, str]) -> CheckResult:
        try:
            detail = await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return CheckResult(False, f"no answer within {CHECK_TIMEOUT_SECONDS:g}s")
        except NotReady as problem:
            return CheckResult(False, str(problem))
        except Exception as error:  # any failure of a dependency means not ready
            return CheckResult(False, f"{type(error).__name__}: {error}"[:300])
        return CheckResult(True, detail)

    async def _database_ready(self) -> str:
        # Reading the revision is the reachability check too: one query, one connection.
        revision = await current_revision(self.database.read_engine_or_engine)
        if revision != self.head:
            raise NotReady(
                f"migrations not at head: database at {revision}, code expects {self.head}"
            )
        return f"{self.database.dialect} at revision {revision}"

    async def _redis_ready(self) -> str:
        assert self.redis is not None
        await self.redis.ping()
        return "ping ok"
