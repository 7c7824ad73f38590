"""What the backups tell Prometheus: the outcome of each backup, verification and drill,
pushed to a Pushgateway (a backup runs in CI or inside a deploy, where no exporter lives).

The URL is the variable ``PUSHGATEWAY_URL``; without it nothing is pushed. The rules in
``deploy/monitoring/rules.yml`` judge these gauges (``BackupStale``, ``BackupTooSmall``,
``BackupVerificationFailed``, ``DrillFailed``...). A failed backup pushes nothing, so the
age of the last success keeps growing until the stale rule fires; a push that fails is
one warning line and never fails the backup it reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from ops.backup.drill_report import DrillReport
from ops.backup.layout import Kind
from ops.backup.manifest import Manifest, Verification

PUSHGATEWAY_VARIABLE = "PUSHGATEWAY_URL"
TIMEOUT_SECONDS = 10.0
Say = Callable[[str], None]


def _push(
    env: Mapping[str, str],
    job: str,
    grouping: dict[str, str],
    gauges: dict[str, tuple[str, float]],
    say: Say,
) -> bool:
    """Push ``gauges`` (name: (help, value)) under ``job`` and ``grouping``; True if pushed."""
    url = env.get(PUSHGATEWAY_VARIABLE)
    if not url:
        return False
    registry = CollectorRegistry()
    for name, (documentation, value) in gauges.items():
        Gauge(name, documentation, registry=registry).set(value)
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=grouping,
                        timeout=TIMEOUT_SECONDS)  # fmt: skip
    except OSError as error:  # urllib's errors (refused, HTTP 4xx/5xx, time-outs) are OSErrors
        say(f"  warning: metrics not pushed to the Pushgateway: {type(error).__name__}: {error}")
        return False
    return True


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def push_backup(env: Mapping[str, str], environment: str, manifest: Manifest, say: Say) -> bool:
    """After a successful backup of one kind: when, how big, how long."""
    gauges = {
        "trading_backup_last_success_timestamp_seconds": (
            "When the newest successful backup finished (Unix time).",
            _seconds(manifest.finished_at),
        ),
        "trading_backup_last_size_bytes": (
            "Bytes the newest successful backup stored.",
            float(manifest.stored_bytes),
        ),
        "trading_backup_last_duration_seconds": (
            "How long the newest successful backup took.",
            manifest.duration_seconds,
        ),
    }
    grouping = {"environment": environment, "kind": manifest.kind}
    return _push(env, "trading_backup", grouping, gauges, say)


def push_verification(
    env: Mapping[str, str], environment: str, kind: Kind, verification: Verification, say: Say
) -> bool:
    """After a verification of the newest backup of a kind: when, and whether it passed."""
    gauges = {
        "trading_backup_last_verification_timestamp_seconds": (
            "When the newest backup was last verified (Unix time).",
            _seconds(verification.verified_at),
        ),
        "trading_backup_last_verification_success": (
            "1 when that verification passed, else 0.",
            1.0 if verification.ok else 0.0,
        ),
    }
    grouping = {"environment": environment, "kind": kind}
    return _push(env, "trading_backup_verify", grouping, gauges, say)


def push_drill(env: Mapping[str, str], report: DrillReport, say: Say) -> bool:
    """After a DR drill: when, and whether it passed."""
    finished = report.finished_at or report.started_at
    gauges = {
        "trading_drill_last_timestamp_seconds": (
            "When the last DR drill finished (Unix time).",
            _seconds(finished),
        ),
        "trading_drill_last_success": (
            "1 when the last DR drill passed, else 0.",
            1.0 if report.ok else 0.0,
        ),
    }
    return _push(env, "trading_drill", {"environment": report.environment}, gauges, say)
