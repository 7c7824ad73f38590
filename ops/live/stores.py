"""The data stores a running service needs, reached from the tooling: is Redis there?
(A throwaway PostgreSQL database is :func:`ops.backup.postgres.scratch_database`.)"""

from __future__ import annotations

from ops.core.exits import CannotRun, one_line

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> None:
    """Return when Redis at ``url`` answers PING; CannotRun (one line) otherwise."""
    import redis  # the app's own client; only needed where a check reaches Redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        raise CannotRun(f"Redis at {url}: {one_line(error)}") from None
    finally:
        client.close()
