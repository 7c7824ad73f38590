"""Checks through the public URL: availability (``/health``, ``/ready``), response time
(p95 of the key read endpoints), and the deployed version.

A request that cannot be made is classified by why (``dns``, ``connect``, ``timeout``,
``tls_verify``); one that is answered is judged on its status, its body and its time.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx

from ops.core.stats import percentile
from ops.live.client import ApiError, ApiUnreachable, error_text, response_times
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding, Reason, Status, graded, ok, problem

DNS_WORDS = ("name or service not known", "nodename nor servname", "temporary failure in name")


def transport_reason(error: BaseException) -> Reason:
    """Why a request could not be made: DNS, TLS, time-out or connection."""
    text = f"{error} {error.__cause__ or ''} {error.__context__ or ''}".lower()
    if isinstance(error, httpx.TimeoutException):
        return Reason.TIMEOUT
    if any(word in text for word in DNS_WORDS):
        return Reason.DNS
    if isinstance(error.__context__, ssl.SSLCertVerificationError) or "certificate" in text:
        return Reason.HOSTNAME if "hostname" in text else Reason.TLS_VERIFY
    return Reason.CONNECT


def _unreachable(check: str, subject: str, error: BaseException) -> Finding:
    reason = transport_reason(error)
    summary = f"GET {subject}: {type(error).__name__}: {str(error) or reason.value}"[:300]
    return problem(check, subject, Status.CRITICAL, reason, summary)


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
    return sorted(name for name, check in checks.items() if not check.get("ok", True))


def _probe_path(path: str, context: MonitorContext) -> Finding:
    budget = context.settings.availability
    with context.client() as client:
        started = time.perf_counter()
        try:
            response = client.http.get(path)
        except httpx.HTTPError as error:
            return _unreachable("availability", path, error)
        ms = (time.perf_counter() - started) * 1000
    figures: dict[str, float | int | str | None] = {
        "status_code": response.status_code,
        "ms": round(ms, 1),
    }
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
    slow = graded(ms, budget.warning_ms, budget.budget_ms)
    if slow.is_problem:
        limit = budget.budget_ms if slow is Status.CRITICAL else budget.warning_ms
        return problem("availability", path, slow, Reason.LATENCY,
                       f"200 in {ms:.0f} ms (over {limit:g} ms)", **figures)  # fmt: skip
    return ok("availability", path, f"200 in {ms:.0f} ms", **figures)


def availability(context: MonitorContext) -> list[Finding]:
    """``/health`` and ``/ready`` through the public URL: status, body, response time."""
    environment = context.environment
    return [
        _probe_path(path, context) for path in (environment.health_path, environment.readiness_path)
    ]


def latency(context: MonitorContext) -> list[Finding]:
    """p95 of ``probes`` requests to each key read endpoint against its budgets."""
    settings = context.settings.latency
    findings = []
    with context.client() as client:
        for path in settings.paths:
            try:
                samples = response_times(client, path, settings.probes)
            except ApiUnreachable as error:
                findings.append(_unreachable("latency", path, error.__cause__ or error))
                continue
            except ApiError as error:
                findings.append(
                    problem("latency", path, Status.CRITICAL, Reason.STATUS, str(error))
                )
                continue
            p95 = percentile(samples, 0.95)
            figures = {"p95_ms": round(p95, 1), "p50_ms": round(percentile(samples, 0.5), 1),
                       "probes": settings.probes}  # fmt: skip
            status = graded(p95, settings.p95_warning_ms, settings.p95_critical_ms)
            summary = f"p95 {p95:.0f} ms over {settings.probes} probes"
            if status.is_problem:
                limit = (
                    settings.p95_critical_ms
                    if status is Status.CRITICAL
                    else settings.p95_warning_ms
                )
                findings.append(problem("latency", path, status, Reason.LATENCY,
                                        f"{summary} (over {limit:g} ms)", **figures))  # fmt: skip
            else:
                findings.append(ok("latency", path, summary, **figures))
    return findings


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
