"""Availability and latency through the public URL, against a stub whose answers each test
sets and a real app whose Redis is dead -- each way of failing with its reason -- and
why a request could not be made (``transport_reason``)."""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from ops.core.processes import free_port, wait_for
from ops.live.client import ApiUnreachable, TradingClient
from ops.live.server import AppServer, app_cli
from ops.monitor.checks.http import (
    availability,
    latency,
    transport_reason,
    unreachable,
    version,
    version_applies,
)
from ops.monitor.context import MonitorContext
from ops.monitor.results import Reason, Status
from tests.ops.monitor.http_support import (
    Answer,
    StubServer,
    by_subject,
    json_answer,
    monitor_context,
    text_answer,
)

HEALTHY = json_answer({"status": "ok"})
READY = json_answer({"status": "ready", "checks": {"database": {"ok": True, "detail": "head"}}})
LATENCY_PATHS = ["/v1/instruments", "/v1/market/AAPL/quote"]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A healthy app: /health, /ready and the key read endpoints answer 200 at once."""
    with StubServer() as server:
        server.answer("/health", HEALTHY)
        server.answer("/ready", READY)
        for path in LATENCY_PATHS:
            server.answer(path, json_answer([]))
        yield server


def test_a_healthy_app_is_available(stub: StubServer) -> None:
    findings = by_subject(availability(monitor_context(stub.url)))
    assert sorted(findings) == ["/health", "/ready"]
    assert all(finding.status is Status.OK for finding in findings.values())
    assert findings["/ready"].figures["status_code"] == 200


def test_an_answer_of_500_is_critical_status(stub: StubServer) -> None:
    stub.answer("/health", json_answer({"error": {"code": "internal", "message": "boom"}}, 500))
    found = by_subject(availability(monitor_context(stub.url)))["/health"]
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.STATUS)
    assert found.summary == "answered 500: internal: boom"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (json_answer({"status": "degraded"}), "body: status is 'degraded', not 'ok'"),
        (text_answer("OK", content_type="text/plain"), "body: not JSON"),
    ],
)
def test_a_wrong_body_is_critical_body(stub: StubServer, answer: Answer, said: str) -> None:
    stub.answer("/health", answer)
    found = by_subject(availability(monitor_context(stub.url)))["/health"]
    assert (found.status, found.reason, found.summary) == (Status.CRITICAL, Reason.BODY, said)


def slow_limits(warning: str, critical: str) -> list[tuple[dict[str, float], Status]]:
    """Limits in ms that an answer taking tens of ms is over: its warning one only, then
    both (with the status each earns)."""
    return [
        ({warning: 1, critical: 60_000}, Status.WARNING),
        ({warning: 1, critical: 5}, Status.CRITICAL),
    ]


@pytest.mark.parametrize(("budget", "status"), slow_limits("warning_ms", "budget_ms"))
def test_a_slow_answer_is_latency(
    stub: StubServer, budget: dict[str, float], status: Status
) -> None:
    stub.answer("/ready", json_answer({"status": "ready", "checks": {}}, delay_seconds=0.05))
    found = by_subject(availability(monitor_context(stub.url, availability=budget)))["/ready"]
    assert (found.status, found.reason) == (status, Reason.LATENCY)
    limit = budget["budget_ms"] if status is Status.CRITICAL else budget["warning_ms"]
    assert found.summary.endswith(f"(over {limit:g} ms)")


def test_an_answer_slower_than_the_request_timeout_is_timeout(stub: StubServer) -> None:
    stub.answer("/health", json_answer({"status": "ok"}, delay_seconds=2))
    context = monitor_context(stub.url, request_timeout_seconds=0.2)
    found = by_subject(availability(context))["/health"]
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.TIMEOUT)


def test_nothing_listening_is_critical_connect() -> None:
    findings = availability(monitor_context(f"http://127.0.0.1:{free_port()}"))
    assert [(found.status, found.reason) for found in findings] == [
        (Status.CRITICAL, Reason.CONNECT)
    ] * 2
    assert findings[0].summary.startswith("GET /health: ConnectError: ")


def test_an_unknown_host_name_is_critical_dns() -> None:
    findings = availability(monitor_context("http://no-such-host.invalid"))
    assert {(found.status, found.reason) for found in findings} == {(Status.CRITICAL, Reason.DNS)}


@pytest.fixture(scope="module")
def app_with_a_dead_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real app whose REDIS_URL points at a closed port: alive, not ready."""
    workdir = tmp_path_factory.mktemp("dead-redis")
    settings = {
        "ENVIRONMENT": "testing", "DATA_DIR": str(workdir / "var"), "LOG_LEVEL": "WARNING",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }  # fmt: skip
    migrated = app_cli("migrate", settings=settings, env=os.environ, cwd=workdir)
    assert migrated.ok, migrated.stderr
    server = AppServer(settings, workdir, env=os.environ)
    server.process.start()  # not server.start(): that waits for a /ready that never comes
    try:
        with TradingClient(server.url, timeout=2) as client:
            waited = wait_for(client.probe("/health"), timeout=60, alive=server.alive)
        assert waited.ready, server.log_tail()
        yield server.url
    finally:
        server.stop()


def test_ready_naming_a_dead_redis_is_critical_status(app_with_a_dead_redis: str) -> None:
    findings = by_subject(availability(monitor_context(app_with_a_dead_redis)))
    assert findings["/health"].status is Status.OK
    ready = findings["/ready"]
    assert (ready.status, ready.reason) == (Status.CRITICAL, Reason.STATUS)
    assert ready.figures["failed"] == "redis"
    assert ready.summary.startswith("answered 503 (redis failed): not_ready: ")


@pytest.mark.parametrize(("p95", "status"), slow_limits("p95_warning_ms", "p95_critical_ms"))
def test_a_slow_read_endpoint_is_latency(
    stub: StubServer, p95: dict[str, float], status: Status
) -> None:
    stub.answer(LATENCY_PATHS[0], json_answer([], delay_seconds=0.03))
    context = monitor_context(stub.url, latency={"paths": LATENCY_PATHS[:1], "probes": 5, **p95})
    [slow] = latency(context)
    assert (slow.status, slow.reason, slow.figures["probes"]) == (status, Reason.LATENCY, 5)


def test_a_failing_read_endpoint_is_critical_status(stub: StubServer) -> None:
    stub.answer(LATENCY_PATHS[1], json_answer({"error": {"code": "x", "message": "y"}}, 500))
    # Thresholds out of reach: this test is about the status code, not a busy machine.
    context = monitor_context(stub.url, latency={
        "paths": LATENCY_PATHS, "probes": 5, "p95_warning_ms": 60_000, "p95_critical_ms": 60_000,
    })  # fmt: skip
    findings = by_subject(latency(context))
    failing = findings[LATENCY_PATHS[1]]
    assert (failing.status, failing.reason) == (Status.CRITICAL, Reason.STATUS)
    assert failing.figures["status_code"] == 500
    assert "expected 200, got 500" in failing.summary
    assert findings[LATENCY_PATHS[0]].status is Status.OK


def test_an_unreachable_read_endpoint_is_critical_connect() -> None:
    context = monitor_context(f"http://127.0.0.1:{free_port()}", latency={"probes": 5})
    findings = latency(context)
    assert {(found.status, found.reason) for found in findings} == {
        (Status.CRITICAL, Reason.CONNECT)
    }
    assert findings[0].summary.startswith("GET /v1/instruments: ConnectError: ")


def test_an_api_client_time_out_is_timeout_not_connect(stub: StubServer) -> None:
    stub.answer("/health", json_answer({"status": "ok"}, delay_seconds=2))
    with TradingClient(stub.url, timeout=0.2) as client, pytest.raises(ApiUnreachable) as error:
        client.request("GET", "/health")
    assert transport_reason(error.value) is Reason.TIMEOUT
    found = unreachable("latency", "/health", error.value)
    assert found.summary.startswith("GET /health: ReadTimeout")  # the request named once


@pytest.mark.parametrize(
    ("name", "reason"), [("127.0.0.1", Reason.TLS_VERIFY), ("other.example", Reason.HOSTNAME)]
)
def test_a_refused_certificate_says_why(tmp_path: Path, name: str, reason: Reason) -> None:
    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    trusted = name != "127.0.0.1"  # the right name but an unknown CA, or the reverse
    env = {"MONITOR_CA_FILE": str(ca_file)} if trusted else {}
    with StubServer(tls=server_tls) as server:
        server.answer("/health", HEALTHY)
        found = availability(monitor_context(server.url, env))[0]
    assert (found.status, found.reason) == (Status.CRITICAL, reason)


def test_a_plain_connection_error_is_connect() -> None:
    assert transport_reason(httpx.ConnectError("connection reset by peer")) is Reason.CONNECT
    assert transport_reason(TimeoutError("timed out")) is Reason.TIMEOUT


def test_a_not_ready_answer_without_checks_names_no_dependency(stub: StubServer) -> None:
    stub.answer("/ready", text_answer("Service Unavailable", 503, "text/plain"))
    found = by_subject(availability(monitor_context(stub.url)))["/ready"]
    assert (found.reason, found.figures["failed"]) == (Reason.STATUS, None)
    assert found.summary == "answered 503: Service Unavailable"


def deployed(version: str | None, served: str | None) -> MonitorContext:
    context = monitor_context("http://127.0.0.1:8080")
    context.served_version = served
    if version is not None:
        context.last_deploy = {"version": version, "started_at": "2026-12-01T10:00:00+00:00"}
    return context


def test_the_version_check_needs_a_deploy_recorded_here() -> None:
    assert version_applies(deployed(None, "1.2.0")) == (
        "no successful deploy recorded here to compare with"
    )
    assert version_applies(deployed("1.2.0", "1.2.0")) is None


@pytest.mark.parametrize(
    ("served", "status", "reason"),
    [("1.2.0", Status.OK, None), ("1.1.9", Status.WARNING, Reason.BODY),
     (None, Status.CRITICAL, Reason.MISSING)],
)  # fmt: skip
def test_the_served_version_against_the_last_deploy(
    served: str | None, status: Status, reason: Reason | None
) -> None:
    [found] = version(deployed("1.2.0", served))
    assert (found.subject, found.status, found.reason) == ("release", status, reason)
    assert found.figures["deployed"] == "1.2.0"
