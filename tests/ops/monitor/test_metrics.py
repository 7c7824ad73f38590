"""The error-rate check: two scrapes of a ``/metrics`` stub whose counters a test sets (10%
5xx on one route, a counter reset between the scrapes, too few requests, a broken
scrape), and of a real app with the synthetic journey in between."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import pytest

from app.services.seed import DEMO_PASSWORD, DEMO_TRADER
from ops.core.processes import free_port
from ops.live.server import seeded_server
from ops.monitor.checks.metrics import errors
from ops.monitor.results import Finding, Reason, Status
from ops.monitor.state import OpenProblem
from tests.ops.monitor.http_support import (
    StubServer,
    by_subject,
    json_answer,
    monitor_context,
    text_answer,
)

Counts = Mapping[tuple[str, str, str], float]
ORDERS = "/v1/orders"
INSTRUMENTS = "/v1/instruments"


def exposition(counts: Counts) -> str:
    """``http_requests_total`` as the app exposes it, with another family around it."""
    lines = [
        "# HELP process_open_fds Number of open file descriptors.",
        "# TYPE process_open_fds gauge", "process_open_fds 16.0",
        "# HELP http_requests_total HTTP requests served.", "# TYPE http_requests_total counter",
    ]  # fmt: skip
    lines += [
        f'http_requests_total{{method="{method}",route="{route}",status="{status}"}} {value}'
        for (method, route, status), value in counts.items()
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def scrapes(
    stub: StubServer, first: Counts, second: Counts, sleeps: list[float] | None = None,
    **errors_settings: object,
) -> list[Finding]:  # fmt: skip
    """The check's findings when the first scrape sees ``first`` and the second ``second``."""
    stub.answer("/metrics", text_answer(exposition(first)), text_answer(exposition(second)))
    return errors(monitor_context(stub.url, sleeps=sleeps, errors=errors_settings))


def test_ten_percent_5xx_on_one_route_is_critical(stub: StubServer) -> None:
    sleeps: list[float] = []
    first = {("POST", ORDERS, "201"): 100, ("GET", INSTRUMENTS, "200"): 50}
    second = {("POST", ORDERS, "201"): 190, ("POST", ORDERS, "500"): 10,
              ("GET", INSTRUMENTS, "200"): 100}  # fmt: skip
    findings = by_subject(scrapes(stub, first, second, sleeps, scrape_gap_seconds=10))
    orders = findings[ORDERS]
    assert (orders.status, orders.reason) == (Status.CRITICAL, Reason.THRESHOLD)
    assert orders.figures == {"requests": 100, "errors_5xx": 10, "ratio": 0.1,
                              "counter_reset": False}  # fmt: skip
    assert orders.summary == "10.0% 5xx of 100 requests, over 5.0%"
    assert findings[INSTRUMENTS].status is Status.OK
    assert findings["scrape"].status is Status.OK
    assert stub.requests() == ["GET /metrics", "GET /metrics"]
    assert len(sleeps) == 1  # the gap, through the context's sleep


def test_a_ratio_between_the_thresholds_is_a_warning(stub: StubServer) -> None:
    second = {("GET", INSTRUMENTS, "200"): 98, ("GET", INSTRUMENTS, "503"): 2}
    found = by_subject(scrapes(stub, {}, second))[INSTRUMENTS]
    assert (found.status, found.reason, found.figures["ratio"]) == (
        Status.WARNING, Reason.THRESHOLD, 0.02
    )  # fmt: skip


def test_a_counter_reset_between_the_scrapes_counts_the_second_value(stub: StubServer) -> None:
    first = {("GET", INSTRUMENTS, "200"): 1000, ("GET", INSTRUMENTS, "500"): 50}
    second = {("GET", INSTRUMENTS, "200"): 90, ("GET", INSTRUMENTS, "500"): 10}
    found = by_subject(scrapes(stub, first, second))[INSTRUMENTS]
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.THRESHOLD)
    assert found.figures == {"requests": 100, "errors_5xx": 10, "ratio": 0.1,
                             "counter_reset": True}  # fmt: skip
    assert "a counter was reset between the scrapes" in found.summary


def test_too_few_requests_are_not_judged(stub: StubServer) -> None:
    found = by_subject(scrapes(stub, {}, {("GET", ORDERS, "500"): 5}))[ORDERS]
    assert found.status is Status.OK
    assert found.summary == "too few requests to judge (5 < 20)"
    assert "ratio" not in found.figures  # not a pass of the ratio: none was computed
    assert found.figures["errors_5xx"] == 5


def test_a_route_without_requests_is_left_out_unless_it_has_a_problem_open(
    stub: StubServer,
) -> None:
    same = {("GET", ORDERS, "200"): 10, ("GET", INSTRUMENTS, "200"): 10}
    stub.answer("/metrics", text_answer(exposition(same)))
    context = monitor_context(stub.url)
    context.state.problems[f"errors/{ORDERS}"] = OpenProblem(
        f"errors/{ORDERS}", "critical", "threshold", "10% 5xx", "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
    )  # fmt: skip
    findings = by_subject(errors(context))
    assert sorted(findings) == [ORDERS, "scrape"]
    assert findings[ORDERS].summary == "too few requests to judge (0 < 20)"


def test_an_unreachable_metrics_is_critical_connect() -> None:
    [found] = errors(monitor_context(f"http://127.0.0.1:{free_port()}"))
    assert (found.subject, found.status, found.reason) == ("scrape", Status.CRITICAL,
                                                          Reason.CONNECT)  # fmt: skip
    assert found.summary.startswith("GET /metrics: ConnectError: ")


def test_a_metrics_that_is_not_prometheus_text_is_unknown_body(stub: StubServer) -> None:
    stub.answer(
        "/metrics", text_answer("<html><body>login</body></html>", content_type="text/html")
    )
    [found] = errors(monitor_context(stub.url))
    assert (found.subject, found.status, found.reason) == ("scrape", Status.UNKNOWN, Reason.BODY)
    assert found.summary.startswith("GET /metrics is not Prometheus text: ")


def test_a_metrics_without_the_request_counter_is_unknown_missing(stub: StubServer) -> None:
    stub.answer("/metrics", text_answer("# TYPE up gauge\nup 1\n"))
    [found] = errors(monitor_context(stub.url))
    assert (found.status, found.reason) == (Status.UNKNOWN, Reason.MISSING)
    assert found.summary == "GET /metrics has no http_requests_total"


def test_a_metrics_answering_an_error_is_critical_status(stub: StubServer) -> None:
    stub.answer("/metrics", json_answer({"error": {"code": "forbidden", "message": "no"}}, 403))
    [found] = errors(monitor_context(stub.url))
    assert (found.status, found.reason, found.figures["status_code"]) == (
        Status.CRITICAL, Reason.STATUS, 403
    )  # fmt: skip


def test_a_second_scrape_that_fails_is_the_finding(stub: StubServer) -> None:
    good = text_answer(exposition({("GET", ORDERS, "200"): 1}))
    stub.answer("/metrics", good, json_answer({}, 500))
    [found] = errors(monitor_context(stub.url))
    assert (found.subject, found.reason) == ("scrape", Reason.STATUS)


def test_the_metrics_path_is_a_setting(stub: StubServer) -> None:
    stub.answer("/internal/metrics", text_answer(exposition({("GET", ORDERS, "200"): 1})))
    findings = errors(monitor_context(stub.url, errors={"metrics_path": "/internal/metrics"}))
    assert by_subject(findings)["scrape"].status is Status.OK


def test_a_real_app_scraped_around_the_synthetic_journey(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with seeded_server(os.environ, log_dir=tmp_path_factory.mktemp("logs")) as server:
        context = monitor_context(
            server.url, {"MONITOR_PASSWORD": DEMO_PASSWORD}, journey={"user": DEMO_TRADER},
            errors={"scrape_gap_seconds": 0, "min_requests": 1},
        )  # fmt: skip
        findings = by_subject(errors(context))
    # the journey's requests fall in the window, each one answered without a 5xx
    for route in ("/v1/auth/token", "/v1/orders", "/v1/orders/{order_id}/cancel"):
        assert findings[route].status is Status.OK, findings[route]
        assert findings[route].figures["ratio"] == 0.0
    assert findings["scrape"].status is Status.OK
