"""The error rate: the 5xx ratio per route between two scrapes of the app's ``/metrics``,
``scrape_gap_seconds`` apart, with the run's own synthetic journey in between.

From ``http_requests_total{method,route,status}``, each series' increase over the
window; a series that went down between the scrapes was reset (the process restarted),
and its value in the second scrape is its increase -- the figures say so. A route with
fewer than ``min_requests`` requests in the window is not judged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ops.core.exits import one_line
from ops.live.client import ApiUnreachable, TradingClient, error_text
from ops.monitor.checks.http import unreachable
from ops.monitor.checks.journey import journey
from ops.monitor.context import MonitorContext, increase
from ops.monitor.results import Figure, Finding, Reason, Status, graded, ok, problem
from ops.monitor.settings import Errors

CHECK = "errors"
SCRAPE = "scrape"
COUNTER = "http_requests_total"
FAMILY = "http_requests"  # the parser names a counter's family without "_total"

Series = tuple[str, str, str]  # method, route, status
Scrape = dict[Series, float]


@dataclass
class RouteWindow:
    """One route's requests between the scrapes."""

    requests: float = 0.0
    errors: float = 0.0  # answered 5xx
    reset: bool = False  # a counter went down: the process restarted in the window


def scrape(client: TradingClient, path: str) -> Scrape | Finding:
    """Every ``http_requests_total`` series of ``GET path``; or the finding saying why not."""
    try:
        response = client.request("GET", path)
    except ApiUnreachable as error:
        return unreachable(CHECK, SCRAPE, error)
    if response.status_code != 200:
        summary = f"GET {path} answered {response.status_code}: {error_text(response)}"
        return problem(CHECK, SCRAPE, Status.CRITICAL, Reason.STATUS, summary,
                       status_code=response.status_code)  # fmt: skip
    try:
        families = list(text_string_to_metric_families(response.text))
    except (ValueError, IndexError, KeyError, TypeError) as error:  # what the parser raises
        summary = f"GET {path} is not Prometheus text: {one_line(error)}"[:300]
        return problem(CHECK, SCRAPE, Status.UNKNOWN, Reason.BODY, summary)
    counted = [family for family in families if family.name in (FAMILY, COUNTER)]
    if not counted:  # a fresh process has the family with no series yet: that is fine
        summary = f"GET {path} has no {COUNTER}"
        return problem(CHECK, SCRAPE, Status.UNKNOWN, Reason.MISSING, summary)
    return {
        (sample.labels.get("method", ""), sample.labels.get("route", ""),
         sample.labels.get("status", "")): sample.value
        for family in counted for sample in family.samples if sample.name == COUNTER
    }  # fmt: skip


def windows(first: Scrape, second: Scrape) -> dict[str, RouteWindow]:
    """Each route's requests and 5xx answers from the first scrape to the second."""
    routes: dict[str, RouteWindow] = {}
    for (method, route, status), value in second.items():
        before = first.get((method, route, status), 0.0)  # new since: it started at 0
        grew = increase(before, value) or 0.0
        window = routes.setdefault(route, RouteWindow())
        window.requests += grew
        window.errors += grew if status.startswith("5") else 0.0
        window.reset = window.reset or value < before
    return routes


def judge(route: str, window: RouteWindow, settings: Errors) -> Finding:
    """A route's 5xx ratio against the thresholds, once it saw ``min_requests``."""
    requests = int(window.requests)
    figures: dict[str, Figure] = {"requests": requests, "errors_5xx": int(window.errors),
                                  "counter_reset": window.reset}  # fmt: skip
    reset = " (a counter was reset between the scrapes: the process restarted)"
    said = reset if window.reset else ""
    if requests < settings.min_requests:
        return ok(CHECK, route, f"too few requests to judge ({requests} < "
                  f"{settings.min_requests}){said}", **figures)  # fmt: skip
    ratio = window.errors / window.requests
    figures["ratio"] = round(ratio, 4)
    status = graded(ratio, settings.warning_ratio, settings.critical_ratio)
    summary = f"{ratio:.1%} 5xx of {requests} requests{said}"
    if not status.is_problem:
        return ok(CHECK, route, summary, **figures)
    limit = settings.critical_ratio if status is Status.CRITICAL else settings.warning_ratio
    return problem(CHECK, route, status, Reason.THRESHOLD, f"{summary}, over {limit:.1%}",
                   **figures)  # fmt: skip


def _traffic_between(context: MonitorContext, gap_seconds: float) -> float:
    """The run's own requests in the window (the synthetic journey, whose findings are its
    own check's), then the rest of the gap; the seconds the window lasted."""
    started = time.monotonic()
    journey(context)
    context.sleep(max(0.0, gap_seconds - (time.monotonic() - started)))
    return max(gap_seconds, time.monotonic() - started)


def errors(context: MonitorContext) -> list[Finding]:
    """5xx ratio per route between two scrapes of ``/metrics``."""
    settings = context.settings.errors
    with context.client() as client:
        first = scrape(client, settings.metrics_path)
        if isinstance(first, Finding):
            return [first]
        seconds = _traffic_between(context, settings.scrape_gap_seconds)
        second = scrape(client, settings.metrics_path)
        if isinstance(second, Finding):
            return [second]
    routes = windows(first, second)
    shown = sorted(
        route for route, window in routes.items()
        if window.requests or f"{CHECK}/{route}" in context.state.problems  # it may recover
    )  # fmt: skip
    scraped = ok(CHECK, SCRAPE, f"two scrapes {seconds:.0f} s apart: {len(shown)} route(s)"
                 " with requests", window_seconds=round(seconds, 1))  # fmt: skip
    return [scraped, *(judge(route, routes[route], settings) for route in shown)]
