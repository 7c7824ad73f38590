"""``invoke monitor``: one run of the environment's checks, alerts and notifications."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from ops.tasks import ENV_HELP, on_environment


@task(
    iterable=["check"],
    help={
        **ENV_HELP,
        "check": "run only this check (repeat for several); default: the environment's list",
        "notify": "send alerts (--no-notify: record nothing new, send nothing)",
        "dry-run": "run the checks and print what would be sent; send nothing, keep the state",
    },
)
def monitor(
    c: Context,
    env: str = "",
    check: list[str] | None = None,
    json_: bool = False,
    report: str | None = None,
    notify: bool = True,
    dry_run: bool = False,
) -> None:
    """Check an environment: availability, API, latency, errors, data stores, backups, TLS."""
    from ops.monitor.run import monitor as run_monitor

    on_environment(run_monitor, env, json_, report, checks=check or (), notify=notify,
                   dry_run=dry_run)  # fmt: skip
