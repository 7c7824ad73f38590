"""What the deploy operations show people: the plan, the outcome, the job summary, the
notification, ``invoke status`` and ``invoke releases``, and the table of steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ops.core.notify import Message
from ops.deploy.history import DeployRecord
from ops.environments import EnvironmentDefinition

if TYPE_CHECKING:
    from ops.deploy.pipeline import PipelineStep

HISTORY_SHOWN = 20
RECORD = "history line, JSON report, tag (production), notification"


def plan(
    record: DeployRecord,
    environment: EnvironmentDefinition,
    platform: str,
    steps: Sequence[PipelineStep],
    latency_budget_ms: float,
) -> list[str]:
    """The plan of a run: what changes, every step that applies with what it does, the
    gates' thresholds (the latency budget is the environment's SLO of the order book)."""
    width = max(len(step.name) for step in steps)
    lines = [
        f"{record.action} {environment.name}: {record.previous or 'nothing'} -> "
        f"{record.version} on {platform} ({environment.public_url})",
    ]
    lines += [
        f"  {number:>2}. {step.name:<{width}}  {step.does.replace('`', '')}"
        for number, step in enumerate(steps, start=1)
    ]
    lines.append(f"  {'':>3} then the record: {RECORD}")
    smoke = ", ".join(environment.gates.smoke)
    lines.append(
        f"  gates: ready within {environment.timeouts.readiness_seconds:g}s; smoke: {smoke}; "
        f"book p95 <= {latency_budget_ms:g} ms over {environment.gates.probes} probes"
    )
    return lines


def outcome(record: DeployRecord, notification: str) -> str:
    """The last line of a run."""
    reason = f": {record.reason}" if record.reason else ""
    return (
        f"{record.action} {record.result} in {record.duration_seconds:.1f}s{reason} "
        f"(notification: {notification})"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary(record: DeployRecord) -> str:
    """The Markdown block of a run for the GitHub job summary."""
    was = f", was {record.previous}" if record.previous else ""
    lines = [
        f"### {record.action} {record.environment}: {record.result} ({record.version}{was})",
        "",
        "| step | ok | seconds | detail |",
        "|---|---|---:|---|",
    ]
    for step in record.steps:
        mark = "ok" if step.ok else "FAIL"
        lines.append(f"| {step.name} | {mark} | {step.seconds:.1f} | {_cell(step.detail)} |")
    if record.reason:
        lines += ["", f"**Reason:** {_cell(record.reason)}"]
    return "\n".join(lines) + "\n"


def announcement(record: DeployRecord) -> Message:
    """The notification of a run."""
    fields = {
        "environment": record.environment,
        "version": record.version,
        "previous": record.previous or "none",
        "result": record.result,
        "duration": f"{record.duration_seconds:.1f}s",
        "by": record.who,
    }
    if record.reason:
        fields["reason"] = record.reason
    title = f"{record.action} {record.environment} {record.result}"
    return Message(title, record.succeeded, fields)


def steps_table(steps: Sequence[PipelineStep]) -> str:
    """The steps as a Markdown table (docs/deploy.md holds exactly this)."""
    lines = ["| # | step | does | applies | if it fails |", "|---:|---|---|---|---|"]
    for number, step in enumerate(steps, start=1):
        applies = step.when.says + (", and again on roll back" if step.per_version else "")
        lines.append(
            f"| {number} | `{step.name}` | {step.does} | {applies} | {step.if_it_fails.value} |"
        )
    return "\n".join(lines) + "\n"


def render_status(report: dict[str, Any]) -> str:
    """``invoke status`` for people."""
    lines = [
        f"environment   {report['environment']} ({report['platform']})",
        f"public URL    {report['public_url']}",
        f"serving       {report['serving_version'] or 'nothing'}",
    ]
    public = report.get("public")
    if isinstance(public, dict):
        answer = (
            f"{public.get('status')} version {public.get('version')}"
            if public.get("reachable")
            else f"unreachable ({public.get('error')})"
        )
        lines.append(f"public answer {answer}")
    proxy = report.get("proxy")
    if isinstance(proxy, dict):
        state = f"running (pid {proxy['pid']})" if proxy["running"] else "stopped"
        lines.append(f"proxy         {state} on port {proxy['port']}")
    for slot, info in (report.get("slots") or {}).items():
        state = f"{info['version']} (pid {info['pid']})" if info["running"] else "empty"
        lines.append(f"slot {slot:<8} {state}{'  <- serving' if info['serving'] else ''}")
    lock = report.get("lock")
    stale = " (stale: invoke unlock --env NAME)" if report.get("lock_stale") else ""
    lines.append(f"lock          {lock + stale if lock else 'free'}")
    return "\n".join(lines)


def render_releases(report: dict[str, Any]) -> str:
    """``invoke releases`` for people."""
    lines = [f"kept releases of {report['environment']} (oldest first):"]
    for version in report["kept"]:
        marker = "  <- serving" if version == report["serving"] else ""
        lines.append(f"  {version}{marker}")
    lines.append("history (newest last):")
    for record in report["history"][-HISTORY_SHOWN:]:
        lines.append(
            f"  {record['started_at']}  {record['action']:<8} {record['version']:<20} "
            f"{record['result']:<11} {record['duration_seconds']:>6.1f}s  {record['who']}"
            + (f"  {record['reason']}" if record.get("reason") else "")
        )
    return "\n".join(lines)
