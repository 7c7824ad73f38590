"""The cross-check against the server's own /metrics: parsing, and a real two-worker app."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN
from ops.core.processes import free_port, wait_for
from ops.live.client import TradingClient
from ops.live.server import UNLIMITED, AppServer, app_cli
from ops.perf.baseline import Baseline
from ops.perf.measurements import Step
from ops.perf.server_metrics import (
    CrossCheck,
    MetricsUnavailable,
    ServerHistogram,
    count_rule,
    parse,
    scrape,
    service_notes,
)
from ops.perf.slo import resolve
from ops.perf.verdict import judge, markdown
from tests.ops.perf.test_verdict import CONTEXT, QUOTE, measure, request

INSTRUMENTS = "GET /v1/instruments"
QUOTES, LISTINGS = 37, 23
ANY_COUNT = resolve({"defaults": {"min_samples": 1}})
PAGE = """\
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/fills"} 90.0
http_request_duration_seconds_bucket{le="0.05",method="GET",route="/v1/fills"} 97.0
http_request_duration_seconds_bucket{le="0.5",method="GET",route="/v1/fills"} 99.0
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/fills"} 100.0
http_request_duration_seconds_count{method="GET",route="/v1/fills"} 100.0
http_request_duration_seconds_sum{method="GET",route="/v1/fills"} 1.5
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/v1/fills",status="200"} 100.0
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A migrated, seeded app with two workers (their metrics aggregated by the app)."""
    workdir = tmp_path_factory.mktemp("metrics")
    settings = {
        "ENVIRONMENT": "testing", "DATA_DIR": str(workdir / "var"), "LOG_LEVEL": "WARNING",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48), **UNLIMITED,
    }  # fmt: skip
    for step in ("migrate", "seed"):
        done = app_cli(step, settings=settings, env=os.environ, cwd=workdir)
        assert done.ok, done.stderr
    with AppServer(settings, workdir, env=os.environ, workers=2) as started:
        yield started


def send(url: str, path: str, times: int) -> None:
    """``times`` requests, each on a new connection (so both workers serve some)."""
    with TradingClient(url) as client:
        for _ in range(times):
            client.request("GET", path, expected=200, headers={"Connection": "close"})


def settled(url: str, before: dict[str, ServerHistogram], counts: dict[str, int]) -> CrossCheck:
    """Scrape until the server's counts since ``before`` are ``counts`` (a worker records a
    request just after answering it)."""
    scraped: list[dict[str, ServerHistogram]] = []

    def look() -> tuple[bool, str]:
        scraped.append(scrape(url))
        served = CrossCheck(before, scraped[-1]).served()
        seen = {name: round(served[name].count) if name in served else 0 for name in counts}
        return seen == counts, str(seen)

    waited = wait_for(look, timeout=10)
    assert waited.ready, waited.seen
    return CrossCheck(before, scraped[-1])


def test_the_server_saw_what_the_generator_sent_across_its_workers(server: AppServer) -> None:
    before = scrape(server.url)
    send(server.url, "/v1/market/AAPL/quote", QUOTES)
    send(server.url, "/v1/instruments", LISTINGS)
    check = settled(server.url, before, {QUOTE: QUOTES, INSTRUMENTS: LISTINGS})
    run = measure(request(QUOTE, count=QUOTES, ms=30), request(INSTRUMENTS, count=LISTINGS))
    comparison = check.compare(run)
    assert [(rule.subject, rule.ok) for rule in comparison.rules] == [
        (INSTRUMENTS, True), (QUOTE, True),
    ]  # fmt: skip
    assert comparison.rules[1].detail == (
        f"server saw {QUOTES} requests of {QUOTE}, the generator {QUOTES} (within 5% or 10)"
    )
    row = comparison.summary["requests"][QUOTE]
    assert (row["server_count"], row["generator_count"]) == (QUOTES, QUOTES)
    assert row["server_p99"].startswith("<= ")
    assert row["server_p99_le_ms"] > 0
    verdict = judge(run, ANY_COUNT, CONTEXT, cross_check=check)
    assert verdict.status == "passed"
    assert verdict.cross_check == comparison.summary


def test_a_count_the_server_did_not_see_is_inconclusive(server: AppServer) -> None:
    before = scrape(server.url)
    send(server.url, "/v1/market/AAPL/quote", QUOTES)
    check = settled(server.url, before, {QUOTE: QUOTES})
    claimed = measure(request(QUOTE, count=QUOTES + 60))
    verdict = judge(claimed, ANY_COUNT, CONTEXT, cross_check=check)
    assert (verdict.status, verdict.exit_code) == ("inconclusive", 3)
    assert verdict.reason == f"server saw {QUOTES} requests of {QUOTE}, the generator {QUOTES + 60}"
    assert [rule.kind for rule in verdict.broken()] == ["cross-check"]


@pytest.mark.parametrize(
    ("served", "generated", "ok"),
    [(100, 105, True), (100, 111, False), (1000, 1050, True), (1000, 1060, False), (0, 10, True)],
)
def test_counts_agree_within_five_percent_or_ten_requests(
    served: int, generated: int, ok: bool
) -> None:
    assert count_rule(QUOTE, served, generated).ok is ok


def test_a_server_that_restarted_is_named() -> None:
    rule = count_rule(QUOTE, -40, 100)
    assert not rule.ok
    assert (
        rule.detail == f"the server's count of {QUOTE} went backwards (restarted during the run?)"
    )


def test_the_page_parses_into_buckets_and_percentile_bounds() -> None:
    [(name, fills)] = parse(PAGE).items()
    assert name == "GET /v1/fills"
    assert fills.bounds == (0.005, 0.05, 0.5, math.inf)
    assert (fills.count, fills.sum_seconds) == (100, 1.5)
    assert fills.bucket(50) == (0, 5)
    assert fills.bucket(95) == (5, 50)
    assert fills.bucket(99) == (50, 500)
    assert fills.bucket(99.5) == (500, math.inf)
    since = fills.minus(ServerHistogram(fills.bounds, (90, 90, 90, 90), 90, 0.5))
    assert (since.count, since.cumulative, since.bucket(50)) == (10, (0, 7, 9, 10), (5, 50))
    assert ServerHistogram(fills.bounds, (0, 0, 0, 0), 0, 0).bucket(99) is None
    with pytest.raises(MetricsUnavailable, match="the buckets changed between the scrapes"):
        fills.minus(ServerHistogram((1.0, math.inf), (0, 0), 0, 0))


def test_a_page_that_is_not_prometheus_text_cannot_be_read() -> None:
    with pytest.raises(MetricsUnavailable, match=r"^/metrics is not Prometheus text: "):
        parse("<html>not metrics</html>")


def test_service_time_outside_the_servers_bucket_is_a_note() -> None:
    assert service_notes(QUOTE, 30.0, (25, 50)) == []
    [outside] = service_notes(QUOTE, 80.0, (25, 50))
    assert outside.startswith(f"{QUOTE}: service p99 80.0 ms at the generator, <= 50 ms at the")
    [under] = service_notes(QUOTE, 10.0, (25, 50))
    assert "the two did not measure the same requests" in under
    assert service_notes(QUOTE, 10.0, None) == []


def test_an_unreachable_server_is_noted_not_judged(tmp_path: Path) -> None:
    with pytest.raises(MetricsUnavailable) as caught:
        scrape(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert caught.value.exit_code == CANNOT_RUN
    assert str(caught.value).startswith("GET /metrics: ConnectError: ")
    check = CrossCheck.unavailable(str(caught.value))
    verdict = judge(measure(request(QUOTE)), ANY_COUNT, CONTEXT, cross_check=check)
    assert verdict.status == "passed"
    assert verdict.notes == [f"the server's metrics were not compared: {caught.value}"]


def test_a_latency_past_the_last_bucket_is_shown_as_such_in_the_reports() -> None:
    fills = "GET /v1/fills"
    after = {fills: ServerHistogram((0.005, math.inf), (0, 100), 100, 60)}
    run = measure(request(fills, count=100, ms=600), steps=[Step(20, 20, 10, 0)])
    first = Baseline(None, note="no baseline: first run")
    verdict = judge(run, ANY_COUNT, CONTEXT, baseline=first, cross_check=CrossCheck({}, after))
    row = verdict.cross_check["requests"][fills] if verdict.cross_check else {}
    assert (row["server_p99"], row["server_p99_le_ms"]) == ("> 5 ms", None)
    page = markdown(verdict)
    assert "| `GET /v1/fills` | 100 | 100 | > 5 ms | > 5 ms | 480.3 |" in page
    assert "### Knee\n\nknee at least 20 requests/s (p99 <= 250 ms): the run's last step" in page
    assert page.endswith("### Notes\n\n- no baseline: first run\n")


def test_buckets_that_changed_between_the_scrapes_are_noted_not_compared() -> None:
    fills = "GET /v1/fills"
    before = {fills: ServerHistogram((1.0, math.inf), (0, 0), 0, 0)}
    check = CrossCheck(before, parse(PAGE))
    comparison = check.compare(measure(request(fills, count=100)))
    assert comparison.rules == []
    assert comparison.notes == [
        "the server's metrics were not compared: "
        "http_request_duration_seconds: the buckets changed between the scrapes"
    ]


def test_the_generators_own_scrapes_make_the_cross_check_and_log_ins_are_left_out() -> None:
    before = PAGE.replace(" 100.0", " 40.0").replace(" 99.0", " 39.0").replace(" 97.0", " 37.0")
    before = before.replace(" 90.0", " 30.0")
    run = measure(request("GET /v1/fills", count=60), request("POST /v1/auth/token", count=16),
                  server_metrics={"open": before, "close": PAGE})  # fmt: skip
    comparison = CrossCheck.of(run).compare(run)
    assert [(rule.subject, rule.ok) for rule in comparison.rules] == [("GET /v1/fills", True)]


@pytest.mark.parametrize(
    ("pages", "problem", "note"),
    [
        ({"open": PAGE}, "", "no /metrics scrape at the window's close"),
        ({}, "GET /metrics (open): 403: forbidden", "GET /metrics (open): 403: forbidden"),
        ({"open": "{not prometheus", "close": PAGE}, "", "/metrics is not Prometheus text"),
    ],
)
def test_without_both_scrapes_there_is_no_cross_check_and_the_verdict_says_why(
    pages: dict[str, str], problem: str, note: str
) -> None:
    run = measure(request(QUOTE), server_metrics=pages, server_metrics_problem=problem)
    comparison = CrossCheck.of(run).compare(run)
    assert comparison.rules == []
    assert comparison.notes[0].startswith(f"the server's metrics were not compared: {note}")
