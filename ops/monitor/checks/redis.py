"""Redis: hit rate, memory against ``maxmemory``, evictions, rejected connections and
clients against ``maxclients`` -- the figures redis_exporter users alert on.

One ``INFO`` and ``CONFIG GET maxmemory``/``maxclients`` (a managed Redis that refuses
``CONFIG`` has the same two figures in ``INFO``); one finding per figure group (the
subjects: ``server``, ``hits``, ``memory``, ``evictions``, ``rejected_connections``,
``clients``). A server that cannot be reached is ``critical connect`` (``timeout``
when it does not answer in time). Hits, misses, evictions and rejected connections
are counters since the server started: they are judged on their increase since the
previous run (:meth:`~ops.monitor.context.MonitorContext.since_last_run`); the first run
only records them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis as redis_client

from ops.core.console import human_size
from ops.core.exits import one_line
from ops.monitor.context import MonitorContext
from ops.monitor.results import (
    Finding,
    Reason,
    Status,
    count_since_last_run,
    ok,
    problem,
    share_of_limit,
    share_since_last_run,
)

CHECK = "redis"


def redis_applies(context: MonitorContext) -> str | None:
    """Only an environment with a Redis (``REDIS_URL``)."""
    return None if context.env.get("REDIS_URL") else "REDIS_URL is not set"


def where(url: str) -> str:
    """The server a Redis URL names, without its credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    try:
        port = parts.port or 6379
    except ValueError:  # not a number: say no more than the host
        return f"{parts.scheme}://{parts.hostname}"
    return f"{parts.scheme}://{parts.hostname}:{port}{parts.path}"


def redis(context: MonitorContext) -> list[Finding]:
    """``INFO`` and the limits, then one finding per figure group."""
    url = context.env["REDIS_URL"]
    timeout = context.settings.request_timeout_seconds
    try:
        client = redis_client.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        with client:
            info: dict[str, Any] = client.info()
            bounds = _configured(client, info)
    except redis_client.TimeoutError as error:
        summary = f"{where(url)} did not answer within {timeout:g} s: {one_line(error)}"
        return [problem(CHECK, "server", Status.CRITICAL, Reason.TIMEOUT, summary)]
    except (redis_client.RedisError, OSError, ValueError) as error:
        summary = f"cannot reach {where(url)}: {one_line(error)}"
        return [problem(CHECK, "server", Status.CRITICAL, Reason.CONNECT, summary)]
    version = str(info.get("redis_version", "?"))
    server = ok(CHECK, "server", f"Redis {version} at {where(url)}",
                version=version, uptime_seconds=int(info.get("uptime_in_seconds", 0)))  # fmt: skip
    return [
        server,
        _hits(info, context),
        _memory(info, bounds["maxmemory"], context),
        _evictions(info, context),
        _rejected(info, context),
        _clients(info, bounds["maxclients"], context),
    ]


def _configured(client: redis_client.Redis, info: dict[str, Any]) -> dict[str, int]:
    """``maxmemory`` and ``maxclients``: CONFIG GET, else what INFO says."""
    try:
        config: dict[Any, Any] = {
            **client.config_get("maxmemory"),
            **client.config_get("maxclients"),
        }
    except redis_client.ResponseError:  # CONFIG renamed or refused (managed services)
        config = info
    return {name: int(config.get(name) or 0) for name in ("maxmemory", "maxclients")}


def _grew(context: MonitorContext, info: dict[str, Any], counter: str) -> float | None:
    return context.since_last_run(CHECK, counter, float(info.get(counter, 0)))


def _hits(info: dict[str, Any], context: MonitorContext) -> Finding:
    settings = context.settings.redis
    hits, misses = _grew(context, info, "keyspace_hits"), _grew(context, info, "keyspace_misses")
    return share_since_last_run(
        CHECK, "hits", hits, misses, events="lookups", minimum=settings.min_lookups,
        warning=settings.hit_rate_warning, higher_is_worse=False,
        saying="hit rate {share:.1%} over {total:.0f} lookups since the last run",
        hits=hits, misses=misses,
    )  # fmt: skip


def _memory(info: dict[str, Any], maxmemory: int, context: MonitorContext) -> Finding:
    settings = context.settings.redis
    used = int(info.get("used_memory", 0))
    if maxmemory == 0:
        summary = f"{human_size(used)} used; no maxmemory set: not judged"
        return ok(CHECK, "memory", summary, used_bytes=used, maxmemory=0)
    return share_of_limit(
        CHECK, "memory", used, maxmemory, warning=settings.memory_warning,
        critical=settings.memory_critical,
        saying=f"{human_size(used)} of maxmemory {human_size(maxmemory)} used",
        why=f", policy {info.get('maxmemory_policy', '?')}", used_bytes=used, maxmemory=maxmemory,
    )  # fmt: skip


def _evictions(info: dict[str, Any], context: MonitorContext) -> Finding:
    settings = context.settings.redis
    evicted = _grew(context, info, "evicted_keys")
    return count_since_last_run(
        CHECK, "evictions", evicted, events="key(s) evicted", limit=settings.evictions_warning,
        why=": the cache is too small", evicted_keys=evicted,
    )  # fmt: skip


def _rejected(info: dict[str, Any], context: MonitorContext) -> Finding:
    settings = context.settings.redis
    rejected = _grew(context, info, "rejected_connections")
    return count_since_last_run(
        CHECK, "rejected_connections", rejected, events="connection(s) rejected",
        limit=settings.rejected_connections_critical, status=Status.CRITICAL,
        why=": maxclients reached", rejected_connections=rejected,
    )  # fmt: skip


def _clients(info: dict[str, Any], maxclients: int, context: MonitorContext) -> Finding:
    settings = context.settings.redis
    connected = int(info.get("connected_clients", 0))
    if maxclients == 0:
        return ok(CHECK, "clients", f"{connected} clients; maxclients unknown: not judged",
                  connected_clients=connected)  # fmt: skip
    return share_of_limit(
        CHECK, "clients", connected, maxclients, warning=settings.clients_warning,
        saying=f"{connected} of maxclients {maxclients} connected",
        connected_clients=connected, maxclients=maxclients,
    )  # fmt: skip
