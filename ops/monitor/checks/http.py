"""Checks through the public URL: availability (``/health``, ``/ready``), response time
(p95 of the key read endpoints), and the deployed version -- and what every check that
talks HTTP or TLS shares: why a request could not be made, and a time against a budget.

A request that cannot be made is classified by why (``dns``, ``connect``, ``timeout``,
``tls_verify``, ``tls_expiry``, ``hostname``); one that is answered is judged on its
status, its body and its time.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import httpx

from ops.core.exits import one_line
from ops.core.stats import percentile
from ops.live.client import (
    ApiError,
    ApiUnreachable,
    TradingClient,
    error_text,
    response_times,
)
from ops.monitor.context import MonitorContext
from ops.monitor.results import Figure, Finding, Reason, Status, graded, ok, problem

DNS_WORDS = ("name or service not known", "nodename nor servname", "temporary failure in name")
# OpenSSL's verify codes: X509_V_ERR_CERT_HAS_EXPIRED, and the name mismatches
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH.
EXPIRED_CODE = 10
MISMATCH_CODES = frozenset({62, 63, 64})


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it was raised from or during, outermost first."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__]
    return seen


def verification_reason(error: ssl.SSLCertVerificationError) -> Reason:
    """Why a certificate was refused: another name, an expired certificate, or the chain."""
    if error.verify_code in MISMATCH_CODES:
        return Reason.HOSTNAME
    return Reason.TLS_EXPIRY if error.verify_code == EXPIRED_CODE else Reason.TLS_VERIFY


def transport_reason(error: BaseException) -> Reason:
    """Why a request could not be made: DNS, TLS, time-out or connection (the error may
    wrap the one that says, as :class:`~ops.live.client.ApiUnreachable` and httpx's do)."""
    causes = _causes(error)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return verification_reason(cause)
    if any(isinstance(cause, httpx.TimeoutException | TimeoutError) for cause in causes):
        return Reason.TIMEOUT
    text = " ".join(str(cause) for cause in causes).lower()
    if any(isinstance(cause, socket.gaierror) for cause in causes) or any(
        word in text for word in DNS_WORDS
    ):
        return Reason.DNS
    return Reason.CONNECT


def unreachable(
    check: str, subject: str, error: BaseException, request: str | None = None
) -> Finding:
    """The critical finding for a request that could not be made (``request`` says which,
    ``GET <subject>`` unless told), with the reason why."""
    reason = transport_reason(error)
    if isinstance(error, ApiUnreachable):  # its message already names the request
        said = str(error)
    else:
        said = f"{request or 'GET ' + subject}: {type(error).__name__}: {one_line(error)}"
    return problem(check, subject, Status.CRITICAL, reason, said[:300])


def timed(
    check: str,
    subject: str,
    ms: float,
    budget: tuple[float, float | None],
    summary: str,
    figures: dict[str, Figure],
) -> Finding:
    """A time against its ``(warning, critical)`` budget in milliseconds (no critical: a
    slow answer is a warning): ok, or a ``latency`` problem saying which limit it passed."""
    warning_ms, critical_ms = budget
    status = graded(ms, warning_ms, critical_ms)
    if not status.is_problem:
        return ok(check, subject, summary, **figures)
    limit = critical_ms if status is Status.CRITICAL and critical_ms is not None else warning_ms
    return problem(
        check, subject, status, Reason.LATENCY, f"{summary} (over {limit:g} ms)", **figures
    )


def _judge_body(path: str, response: httpx.Response, context: MonitorContext) -> str | None:
    """What is wrong with the body of a 200 answer, or None."""
    try:
        body: Any = response.json()
    except ValueError:
        return "not JSON"
    expected = "ok" if path == context.environment.health_path else "ready"
    said = body.get("status") if isinstance(body, dict) else body
    if said != expected:
        return f"status is {said!r}, not {expected!r}"
    return None


def failed_dependencies(response: httpx.Response) -> list[str]:
    """The dependencies a 503 from ``/ready`` names as failed (its ``checks``)."""
    try:
        checks = response.json().get("checks", {})
    except (ValueError, AttributeError):
        return []
    if not isinstance(checks, dict):
        return []
    return sorted(
        name for name, check in checks.items() if isinstance(check, dict) and not check.get("ok")
    )


def _probe_path(path: str, context: MonitorContext) -> Finding:
    budget = context.settings.availability
    with context.client() as client:
        started = time.perf_counter()
        try:
            response = client.http.get(path)
        except httpx.HTTPError as error:
            return unreachable("availability", path, error)
        ms = (time.perf_counter() - started) * 1000
    figures: dict[str, Figure] = {"status_code": response.status_code, "ms": round(ms, 1)}
    if response.status_code != 200:
        failed = failed_dependencies(response)
        named = f" ({', '.join(failed)} failed)" if failed else ""
        summary = f"answered {response.status_code}{named}: {error_text(response)}"
        return problem("availability", path, Status.CRITICAL, Reason.STATUS, summary, **figures,
                       failed=", ".join(failed) or None)  # fmt: skip
    wrong = _judge_body(path, response, context)
    if wrong is not None:
        return problem(
            "availability", path, Status.CRITICAL, Reason.BODY, f"body: {wrong}", **figures
        )
    limits = (budget.warning_ms, budget.budget_ms)
    return timed("availability", path, ms, limits, f"200 in {ms:.0f} ms", figures)


def availability(context: MonitorContext) -> list[Finding]:
    """``/health`` and ``/ready`` through the public URL: status, body, response time."""
    environment = context.environment
    return [
        _probe_path(path, context) for path in (environment.health_path, environment.readiness_path)
    ]


def _p95_of(path: str, client: TradingClient, context: MonitorContext) -> Finding:
    settings = context.settings.latency
    try:
        samples = response_times(client, path, settings.probes)
    except ApiUnreachable as error:
        return unreachable("latency", path, error)
    except ApiError as error:
        return problem("latency", path, Status.CRITICAL, Reason.STATUS, str(error),
                       status_code=error.status)  # fmt: skip
    p95 = percentile(samples, 0.95)
    figures: dict[str, Figure] = {"p95_ms": round(p95, 1),
                                  "p50_ms": round(percentile(samples, 0.5), 1),
                                  "probes": settings.probes}  # fmt: skip
    limits = (settings.p95_warning_ms, settings.p95_critical_ms)
    return timed("latency", path, p95, limits, f"p95 {p95:.0f} ms over {settings.probes} probes",
                 figures)  # fmt: skip


def latency(context: MonitorContext) -> list[Finding]:
    """p95 of ``probes`` requests to each key read endpoint against its budgets."""
    with context.client() as client:
        return [_p95_of(path, client, context) for path in context.settings.latency.paths]


def version_applies(context: MonitorContext) -> str | None:
    """The version check needs the deploy history of the environment on this machine."""
    return None if context.last_deploy else "no successful deploy recorded here to compare with"


def version(context: MonitorContext) -> list[Finding]:
    """The version the public URL serves against the last successful deploy."""
    assert context.last_deploy is not None
    expected = str(context.last_deploy.get("version"))
    served = context.served_version
    figures = {"served": served, "deployed": expected,
               "deployed_at": str(context.last_deploy.get("started_at", ""))}  # fmt: skip
    if served is None:
        summary = "the public URL did not say which version it serves"
        return [problem("version", "release", Status.CRITICAL, Reason.MISSING, summary, **figures)]
    if served != expected:
        return [problem("version", "release", Status.WARNING, Reason.BODY,
                        f"serves {served}, the last successful deploy was {expected}",
                        **figures)]  # fmt: skip
    return [ok("version", "release", f"serves {served}, as deployed", **figures)]
