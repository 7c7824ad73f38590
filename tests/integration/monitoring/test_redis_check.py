"""The Redis check against real servers: the shared test Redis, and private
``redis-server``s (conftest) filled to their ``maxmemory``, evicting, turning clients
away, frozen (SIGSTOP), or not there at all."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client

from ops.core.processes import free_port
from ops.monitor.checks.redis import redis, redis_applies, where
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding, Reason, Status
from ops.monitor.settings import Redis
from tests.integration.monitoring.conftest import (
    by_subject,
    monitor_context,
    next_run,
    private_redis,
)

SUBJECTS = ["server", "hits", "memory", "evictions", "rejected_connections", "clients"]
VALUE = b"x" * 1024


def context_for(url: str, timeout: float = 10, **thresholds: Any) -> MonitorContext:
    """A context whose Redis is ``url``, with ``[monitor.redis]`` ``thresholds``."""
    return monitor_context(
        {"REDIS_URL": url}, redis=Redis(**thresholds), request_timeout_seconds=timeout
    )


def look(context: MonitorContext) -> dict[str, Finding]:
    """One run of the check, by subject."""
    return by_subject(redis(context))


def problems_of(found: dict[str, Finding]) -> list[str]:
    """The keys of the findings that are not ok."""
    return [f.key for f in found.values() if f.status is not Status.OK]


def fill(url: str, keys: int, prefix: str = "fill") -> int:
    """Write ``keys`` 1 KiB values (until Redis refuses for memory); how many it took."""
    written = 0
    with redis_client.Redis.from_url(url) as client:
        for start in range(0, keys, 100):
            pipeline = client.pipeline(transaction=False)
            for number in range(start, min(start + 100, keys)):
                pipeline.set(f"{prefix}:{number}", VALUE)
            try:
                pipeline.execute()
            except redis_client.OutOfMemoryError:
                return written
            written = min(start + 100, keys)
    return written


def test_the_healthy_shared_redis_passes(redis_url: str) -> None:
    context = context_for(redis_url)
    assert redis_applies(context) is None
    found = look(context)
    assert list(found) == SUBJECTS
    assert problems_of(found) == []
    assert found["evictions"].summary.startswith("first run: counters recorded")


def test_redis_is_checked_only_when_configured() -> None:
    assert redis_applies(monitor_context({})) == "REDIS_URL is not set"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@cache.internal:6380/2", "redis://cache.internal:6380/2"),
        ("rediss://user:pw@cache.internal/0", "rediss://cache.internal:6379/0"),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock"),
        ("redis://:pw@cache.internal:port/0", "redis://cache.internal"),
    ],
)
def test_a_redis_is_named_without_its_credentials(url: str, shown: str) -> None:
    assert where(url) == shown


def test_a_redis_that_refuses_config_is_judged_on_what_info_says(tmp_path: Path) -> None:
    options = ("--maxmemory", "64mb", "--maxclients", "50", "--rename-command", "CONFIG", "")
    with private_redis(tmp_path / "managed", *options) as (url, _process):
        found = look(context_for(url))
    assert found["memory"].figures["maxmemory"] == 64 * 1024 * 1024
    assert found["clients"].figures["maxclients"] == 50
    assert problems_of(found) == []


def test_an_unreachable_redis_is_critical_connect_without_its_password() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    findings = redis(context_for(url))
    assert [(f.subject, f.status, f.reason) for f in findings] == [
        ("server", Status.CRITICAL, Reason.CONNECT)
    ]
    assert findings[0].summary.startswith("cannot reach redis://127.0.0.1:")
    assert "hunter2" not in findings[0].summary


def test_a_frozen_redis_is_critical_timeout(tmp_path: Path) -> None:
    with private_redis(tmp_path / "frozen") as (url, process):
        os.kill(process.pid, signal.SIGSTOP)
        try:
            [frozen] = redis(context_for(url, timeout=0.5))
        finally:
            os.kill(process.pid, signal.SIGCONT)
    assert (frozen.subject, frozen.status, frozen.reason) == (
        "server", Status.CRITICAL, Reason.TIMEOUT,
    )  # fmt: skip
    assert "did not answer within 0.5 s" in frozen.summary


def test_the_hit_rate_is_judged_over_the_window_since_the_last_run(tmp_path: Path) -> None:
    with private_redis(tmp_path / "hits") as (url, _process):
        context = context_for(url, min_lookups=100)
        assert look(context)["hits"].summary.startswith("first run")
        with redis_client.Redis.from_url(url) as client:
            client.set("known", "1")

            def lookups(hits: int, misses: int) -> Finding:
                for _ in range(hits):
                    client.get("known")
                for number in range(misses):
                    client.get(f"unknown:{number}")
                return look(next_run(context))["hits"]

            few = lookups(10, 10)
            assert few.summary == "20 lookups since the last run: too few to judge"
            hits = lookups(150, 0)
            assert hits.status is Status.OK
            assert hits.summary == "hit rate 100.0% over 150 lookups since the last run"
            missed = lookups(1, 300)
    assert (missed.status, missed.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert missed.summary.startswith("hit rate 0.3% over 301 lookups since the last run")


def test_redis_at_maxmemory_is_critical(tmp_path: Path) -> None:
    options = ("--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
    with private_redis(tmp_path / "full", *options) as (url, _process):
        assert fill(url, 20_000) < 20_000  # refused: out of memory
        memory = look(context_for(url))["memory"]
    assert (memory.status, memory.reason) == (Status.CRITICAL, Reason.THRESHOLD)
    assert memory.figures["maxmemory"] == 4 * 1024 * 1024
    assert "policy noeviction" in memory.summary


def test_evictions_since_the_last_run_warn(tmp_path: Path) -> None:
    options = ("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
    with private_redis(tmp_path / "evicting", *options) as (url, _process):
        context = context_for(url)
        first = look(context)
        assert first["evictions"].summary.startswith("first run")
        assert first["memory"].status is Status.OK
        assert fill(url, 10_000) == 10_000  # 10 MB into 4: the oldest keys go
        found = look(next_run(context))
    evictions = found["evictions"]
    assert (evictions.status, evictions.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert float(evictions.figures["evicted_keys"] or 0) > 1000
    assert found["memory"].status is Status.CRITICAL


def test_rejected_connections_are_critical_and_clients_near_maxclients_warn(
    tmp_path: Path,
) -> None:
    with private_redis(tmp_path / "crowded", "--maxclients", "4") as (url, _process):
        context = context_for(url)
        assert look(context)["rejected_connections"].summary.startswith("first run")
        held = [redis_client.Redis.from_url(url) for _ in range(4)]
        try:
            for client in held:
                client.ping()
            with pytest.raises(redis_client.ConnectionError, match="max number of clients"):
                redis_client.Redis.from_url(url).ping()
            held.pop().close()  # a slot for the monitor: 4 of 4 then
            found = look(next_run(context))
        finally:
            for client in held:
                client.close()
    rejected = found["rejected_connections"]
    assert (rejected.status, rejected.reason) == (Status.CRITICAL, Reason.THRESHOLD)
    assert rejected.summary.startswith("1 connection(s) rejected since the last run")
    clients = found["clients"]
    assert (clients.status, clients.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert clients.summary.startswith("4 of maxclients 4 connected (100%)")
