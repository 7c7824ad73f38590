"""The server's own view of a run -- its ``/metrics`` latency histograms, read before and
after the judged window -- as a cross-check of the load generator's figures.

The app labels ``http_request_duration_seconds`` by method and route template
(app/api/middleware.py), the request names of the SLO file. With several workers one
scrape sees every worker: ``python -m app serve --workers N`` sets
``PROMETHEUS_MULTIPROC_DIR`` (app/cli.py) and ``/metrics`` aggregates the workers' files
(app/metrics.py). Behind a load balancer one scrape sees one replica only: the counts
then disagree, and the cross-check says so.

The server counts every request between the two scrapes, the generator those scheduled
in its judged window: scrape when the window opens (after the warm-up) and when it ends.
Per request name the generator judged:

- the count: the server's against the generator's; apart by more than 5% and more than 10
  requests, an inconclusive rule (``server saw N requests of X, the generator M``);
- the p95 and p99: the server's estimate is the bucket that holds it (its upper bound);
  the generator's service-time p99 outside that bucket is a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ops.core.exits import CannotRun, OpsError, one_line
from ops.live.client import TradingClient
from ops.perf.measurements import Measurements, RequestFigures
from ops.perf.verdict import Comparison, Rule

METRIC = "http_request_duration_seconds"
METRICS_PATH = "/metrics"
TOLERANCE_RATIO = 0.05
TOLERANCE_REQUESTS = 10
SCRAPE_TIMEOUT_SECONDS = 10.0
# Made before the judged window opens (each account logs in once): not between the scrapes.
SET_UP_REQUESTS = frozenset({"POST /v1/auth/token"})

Bucket = tuple[float, float]  # (lower, upper] in milliseconds; upper may be infinite


class MetricsUnavailable(CannotRun):
    """The server's metrics could not be read or made no sense; one line."""


@dataclass(frozen=True)
class ServerHistogram:
    """One request name's latency histogram as the server exposes it (cumulative buckets)."""

    bounds: tuple[float, ...]  # upper bounds in seconds, ascending, +Inf last
    cumulative: tuple[float, ...]
    count: float
    sum_seconds: float

    def minus(self, earlier: ServerHistogram | None) -> ServerHistogram:
        """What was recorded since ``earlier`` (the same histogram, scraped before)."""
        if earlier is None:
            return self
        if earlier.bounds != self.bounds:
            raise MetricsUnavailable(f"{METRIC}: the buckets changed between the scrapes")
        cumulative = tuple(
            now - then for now, then in zip(self.cumulative, earlier.cumulative, strict=True)
        )
        return ServerHistogram(
            self.bounds, cumulative, self.count - earlier.count,
            self.sum_seconds - earlier.sum_seconds,
        )  # fmt: skip

    def bucket(self, percentile: float) -> Bucket | None:
        """The bucket that holds ``percentile`` (0-100); None when nothing was recorded."""
        if self.count <= 0:
            return None
        rank = math.ceil(percentile / 100 * self.count)
        lower = 0.0
        for bound, cumulative in zip(self.bounds, self.cumulative, strict=True):
            if cumulative >= rank:
                return lower * 1000, bound * 1000
            lower = bound
        return lower * 1000, math.inf


def parse(text: str) -> dict[str, ServerHistogram]:
    """The latency histograms of a ``/metrics`` page, by ``METHOD /route``."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    totals: dict[str, dict[str, float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name != METRIC:
                continue
            for sample in family.samples:
                name = f"{sample.labels.get('method', '')} {sample.labels.get('route', '')}"
                kind = sample.name.removeprefix(METRIC)
                if kind == "_bucket":
                    buckets.setdefault(name, []).append((float(sample.labels["le"]), sample.value))
                elif kind in ("_count", "_sum"):
                    totals.setdefault(name, {})[kind] = sample.value
    except (ValueError, KeyError) as error:
        raise MetricsUnavailable(f"{METRICS_PATH} is not Prometheus text: {error}") from None
    histograms = {}
    for name, pairs in buckets.items():
        pairs.sort()
        count = totals.get(name, {}).get("_count", pairs[-1][1])
        histograms[name] = ServerHistogram(
            tuple(bound for bound, _ in pairs), tuple(value for _, value in pairs),
            count, totals.get(name, {}).get("_sum", 0.0),
        )  # fmt: skip
    return histograms


def scrape(base_url: str, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> dict[str, ServerHistogram]:
    """The server's latency histograms now; :class:`MetricsUnavailable` when it cannot tell."""
    with TradingClient(base_url, timeout=timeout) as client:
        try:
            response = client.request("GET", METRICS_PATH, expected=200)
        except OpsError as error:
            raise MetricsUnavailable(one_line(error)) from None
    return parse(response.text)


@dataclass(frozen=True)
class CrossCheck:
    """Two scrapes of the server's metrics, or why there are none (``problem``)."""

    before: Mapping[str, ServerHistogram]
    after: Mapping[str, ServerHistogram]
    problem: str = ""

    @classmethod
    def unavailable(cls, problem: str) -> CrossCheck:
        """No cross-check: the verdict notes why."""
        return cls({}, {}, problem)

    @classmethod
    def of(cls, measurements: Measurements) -> CrossCheck:
        """The scrapes the load generator took as the judged window opened and closed."""
        pages = measurements.server_metrics
        if measurements.server_metrics_problem:
            return cls.unavailable(measurements.server_metrics_problem)
        missing = [moment for moment in ("open", "close") if moment not in pages]
        if missing:
            return cls.unavailable(f"no /metrics scrape at the window's {missing[0]}")
        try:
            return cls(parse(pages["open"]), parse(pages["close"]))
        except MetricsUnavailable as error:
            return cls.unavailable(str(error))

    def served(self) -> dict[str, ServerHistogram]:
        """What the server recorded between the scrapes, by request name."""
        return {name: now.minus(self.before.get(name)) for name, now in self.after.items()}

    def compare(self, measurements: Measurements) -> Comparison:
        """A count rule per request name the generator judged, and notes on service time."""
        problem = self.problem
        try:
            served = {} if problem else self.served()
        except MetricsUnavailable as error:
            problem = str(error)
        if problem:
            note = f"the server's metrics were not compared: {problem}"
            return Comparison(notes=[note], summary={"note": note})
        rules, notes, rows = [], [], {}
        for name, figures in sorted(measurements.requests.items()):
            if name in SET_UP_REQUESTS:
                continue
            server = served.get(name)
            rules.append(count_rule(name, round(server.count) if server else 0, figures.count))
            service_p99 = figures.service_histogram().percentile_ms(99)
            p95, p99 = (server.bucket(p) if server else None for p in (95, 99))
            notes += service_notes(name, service_p99, p99)
            rows[name] = _row(figures, server, service_p99, p95, p99)
        tolerance = f"{TOLERANCE_RATIO:.0%} or {TOLERANCE_REQUESTS} requests"
        return Comparison(rules, notes, {"requests": rows, "count_tolerance": tolerance})


def count_rule(name: str, served: int, generated: int) -> Rule:
    """The server's count of ``name`` agrees with the generator's, within the tolerance."""
    tolerance = max(TOLERANCE_RATIO * generated, TOLERANCE_REQUESTS)
    if served < 0:
        detail = f"the server's count of {name} went backwards (restarted during the run?)"
        return Rule("server count", name, generated, served, False, "cross-check", detail)
    ok = abs(served - generated) <= tolerance
    detail = f"server saw {served} requests of {name}, the generator {generated}"
    if ok:
        detail += f" (within {TOLERANCE_RATIO:.0%} or {TOLERANCE_REQUESTS})"
    return Rule("server count", name, generated, served, ok, "cross-check", detail)


def service_notes(name: str, service_p99_ms: float, server_p99: Bucket | None) -> list[str]:
    """A note when the generator's service-time p99 lies outside the server's p99 bucket."""
    if server_p99 is None:
        return []
    lower, upper = server_p99
    if service_p99_ms > upper:
        return [
            f"{name}: service p99 {service_p99_ms:.1f} ms at the generator, <= {upper:g} ms at "
            "the server: the rest is spent outside the app (network, proxy, accept queue)"
        ]
    if service_p99_ms <= lower:
        return [
            f"{name}: service p99 {service_p99_ms:.1f} ms at the generator, over {lower:g} ms "
            "at the server: the two did not measure the same requests (warm-up?)"
        ]
    return []


def _row(
    figures: RequestFigures,
    server: ServerHistogram | None,
    service_p99_ms: float,
    p95: Bucket | None,
    p99: Bucket | None,
) -> dict[str, object]:
    return {
        "server_count": round(server.count) if server else 0,
        "generator_count": figures.count,
        "server_p95": _bucket_text(p95),
        "server_p99": _bucket_text(p99),
        "server_p95_le_ms": p95[1] if p95 and math.isfinite(p95[1]) else None,
        "server_p99_le_ms": p99[1] if p99 and math.isfinite(p99[1]) else None,
        "generator_service_p99_ms": service_p99_ms,
    }


def _bucket_text(bucket: Bucket | None) -> str:
    if bucket is None:
        return "-"
    lower, upper = bucket
    return f"> {lower:g} ms" if math.isinf(upper) else f"<= {upper:g} ms"
