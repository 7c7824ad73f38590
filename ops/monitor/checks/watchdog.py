"""The watchdog: did the previous run happen on schedule? A monitor that stopped running
is silent, so each run checks the heartbeat the one before it left."""

from __future__ import annotations

from datetime import datetime

from ops.monitor.context import MonitorContext
from ops.monitor.results import Figure, Finding, Reason, Status, ok, problem


def watchdog(context: MonitorContext) -> list[Finding]:
    """The previous run's heartbeat is younger than the schedule plus its grace."""
    previous = context.state.last_complete_run_at
    if previous is None:
        return [ok("watchdog", "schedule", "first run: no heartbeat to compare with")]
    settings = context.settings
    age_hours = (context.clock() - datetime.fromisoformat(previous)).total_seconds() / 3600
    limit = settings.schedule_hours + settings.grace_hours
    figures: dict[str, Figure] = {
        "previous_run_at": previous, "age_hours": round(age_hours, 2), "limit_hours": limit
    }  # fmt: skip
    if age_hours > limit:
        summary = (
            f"the previous run was {age_hours:.1f} h ago (schedule {settings.schedule_hours:g} h"
            f" + {settings.grace_hours:g} h grace): the scheduler stopped"
        )
        return [problem("watchdog", "schedule", Status.CRITICAL, Reason.STALE, summary, **figures)]
    return [ok("watchdog", "schedule", f"previous run {age_hours:.1f} h ago", **figures)]
