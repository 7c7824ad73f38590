"""Prometheus metrics, correct with several worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set before this module is first imported (the
``serve`` command does that when it starts more than one worker), every worker
writes its samples to files there and ``/metrics`` aggregates them all.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ORDERS = Counter(
    "trading_orders_total",
    "Orders accepted, by side, type and resulting status.",
    ["side", "type", "status"],
)
ORDERS_REJECTED = Counter(
    "trading_orders_rejected_total", "Orders rejected by pre-trade risk.", ["reason"]
)
FILLS = Counter("trading_fills_total", "Trades printed.", ["symbol"])
RATE_LIMITED = Counter(
    "http_rate_limited_total", "Requests refused by the rate limiter.", ["scope"]
)
BUILD_INFO = Gauge(
    "app_build_info",
    "Version of the running release (always 1).",
    ["version", "git_sha", "environment"],
    multiprocess_mode="max",
)


def render() -> tuple[bytes, str]:
    """The exposition text for every worker, and its content type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
