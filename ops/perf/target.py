"""What a run loads: a deployed environment's URL, or a server started here in the
production shape (PostgreSQL, Redis, the image's worker count, its own CPUs) on a
throwaway database, with rate limits off -- the run measures the service, not its
limiter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ops.backup.postgres import scratch_database
from ops.live.server import seeded_server
from ops.live.stores import DEFAULT_REDIS, redis_answers
from ops.perf.placement import Placement

Backend = Literal["postgresql", "sqlite"]
DEFAULT_DATABASE_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_VARIABLE = "PERF_DATABASE_URL"  # the PostgreSQL server a local run uses
REDIS_VARIABLE = "PERF_REDIS_URL"
LOAD_SETTINGS = {"RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING"}


@dataclass(frozen=True)
class Target:
    """The base URL under load, how it is shaped, and why it is only a smoke run (if so)."""

    url: str
    shape: str
    local: bool
    smoke_reason: str = ""


def database_server(env: Mapping[str, str]) -> str:
    """The PostgreSQL server a local run uses: ``PERF_DATABASE_URL``, else the local one."""
    return env.get(DATABASE_VARIABLE) or DEFAULT_DATABASE_SERVER


def remote(url: str) -> Target:
    """A deployed environment."""
    return Target(url.rstrip("/"), "deployed", local=False)


@contextmanager
def local(
    env: Mapping[str, str],
    placement: Placement,
    *,
    workers: int,
    backend: Backend,
    log_dir: Path,
) -> Iterator[Target]:
    """A seeded server in the production shape (or on SQLite: a smoke run)."""
    shape = f"{workers} worker(s), {placement.describe()}"
    if backend == "sqlite":
        with seeded_server(env, LOAD_SETTINGS, log_dir, workers=workers,
                           cpus=placement.server) as server:  # fmt: skip
            reason = "SQLite and the in-process cache are not the production shape"
            yield Target(server.url, f"SQLite, {shape}", True, placement.smoke_reason or reason)
        return
    redis_url = env.get(REDIS_VARIABLE) or DEFAULT_REDIS
    redis_answers(redis_url)
    with scratch_database(database_server(env), "perf") as database_url:
        settings = {**LOAD_SETTINGS, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "REDIS_PREFIX": f"perf-{secrets.token_hex(4)}:"}  # fmt: skip
        with seeded_server(env, settings, log_dir, workers=workers,
                           cpus=placement.server) as server:  # fmt: skip
            described = f"PostgreSQL and Redis, {shape}"
            yield Target(server.url, described, True, placement.smoke_reason)
