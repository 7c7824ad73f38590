"""What the deploy tasks do: open the environment, run the pipeline or read its state, and
show the result through the task's :class:`~ops.core.console.Console`.

``ops/tasks/deploy.py`` only parses flags and calls these with the process's
variables. A refusal before anything changes -- an unknown or invalid environment,
a missing secret or tool, the lock held, no approval, an invalid version, nothing
to roll back to -- raises :class:`~ops.core.exits.CannotRun` (exit 2); a failed
step, gate or verification raises :class:`~ops.core.exits.CheckFailed` (exit 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops.core.console import Console
from ops.core.exits import CannotRun
from ops.deploy import views
from ops.deploy.context import DeployContext, open_context
from ops.deploy.history import DeployRecord
from ops.deploy.pipeline import Backup, DeployRequest, DeployRun
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.deploy.version import checked_version, resolve_version
from ops.project import ROOT

PRE_DEPLOY_BACKUP_REPORT = "pre-deploy-backup.json"


def pre_deploy_backup(context: DeployContext, console: Console) -> str:
    """Back up the environment's database and verify the backup, in this process: its
    lines appear among the deploy's, its JSON result goes to the environment's reports
    directory. Returns the new backup's id; a backup that cannot be taken or fails its
    verification raises (the backup step then fails and nothing else has changed)."""
    from ops.backup import operations as backups  # the backup stack, only when it is used
    from ops.backup.context import context_for

    backup_context = context_for(context.environment, {**context.env, **context.secrets})
    part = console.part(context.reports_dir / PRE_DEPLOY_BACKUP_REPORT)
    result = backups.backup(backup_context, ("db",), dry_run=False, verify=True, console=part)
    return f"backup {result['backups'][0]['manifest']['id']} taken and verified"


def deploy(
    name: str,
    env: Mapping[str, str],
    console: Console,
    *,
    version: str | None = None,
    source: Path = ROOT,
    dry_run: bool = False,
    yes: bool = False,
    wait: bool = False,
    message: str = "",
    image: str | None = None,
    backup: Backup = pre_deploy_backup,
) -> DeployRecord:
    """Deploy a version (default: the checkout's commit) through the whole pipeline; with
    ``image``, the image CI built (by digest) instead of a build."""
    context = open_context(name, env, check_tools=not dry_run)
    request = DeployRequest(
        resolve_version(version, source), "deploy", source, dry_run, yes, wait, message
    )
    if image:
        if not isinstance(context.platform, KubernetesPlatform):
            raise CannotRun(f"--image: the {context.platform.name} platform deploys from "
                            "source; an image by digest is for Kubernetes")  # fmt: skip
        context.platform.pin_image(image, request.version)
    return DeployRun(context, request, console, backup).run()


def rollback_target(context: DeployContext, to: str | None, serving: str | None) -> str:
    """``to``, else the newest release that succeeded other than the one ``serving``, else
    the newest kept one; :class:`CannotRun` when there is none or it is not kept."""
    platform = context.platform
    kept = platform.available_versions()
    earlier = [version for version in kept if version != serving]
    if to is not None:
        target: str | None = checked_version(to)
    else:
        target = context.history.last_good(exclude=serving) or (earlier[-1] if earlier else None)
    if target is None:
        raise CannotRun(f"no earlier successful release of {context.name} to roll back to")
    if platform.name == "local" and target not in kept:
        raise CannotRun(f"release {target} is not kept (kept: {', '.join(kept) or 'none'})")
    return target


def rollback(
    name: str,
    env: Mapping[str, str],
    console: Console,
    *,
    to: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
) -> DeployRecord:
    """Roll back to ``to`` or the last good release, through the same gates."""
    context = open_context(name, env, check_tools=not dry_run)
    serving = context.platform.serving_version()
    target = rollback_target(context, to, serving)
    request = DeployRequest(
        target, "rollback", ROOT, dry_run, yes, message=f"rollback from {serving}"
    )
    return DeployRun(context, request, console).run()


def _show(console: Console, report: dict[str, Any], rendered: str) -> None:
    console.result(report)
    if not console.as_json:
        console.say(rendered)


def status(name: str, env: Mapping[str, str], console: Console) -> dict[str, Any]:
    """Public URL, serving version, what runs, health, lock."""
    context = open_context(name, env, check_tools=False)
    environment = context.environment
    lock = context.deploy_lock().read()
    report = {
        "environment": environment.name,
        "platform": environment.platform,
        "public_url": environment.public_url,
        "serving_version": context.platform.serving_version(),
        "lock": lock.describe() if lock else None,
        "lock_stale": lock.is_stale() if lock else None,
        **context.platform.status(),
    }
    _show(console, report, views.render_status(report))
    return report


def releases(name: str, env: Mapping[str, str], console: Console) -> dict[str, Any]:
    """Kept releases and the deploy history."""
    context = open_context(name, env, check_tools=False)
    report = {
        "environment": context.name,
        "serving": context.platform.serving_version(),
        "kept": context.platform.available_versions(),
        "history": context.history.records(),
    }
    _show(console, report, views.render_releases(report))
    return report


def down(
    name: str, env: Mapping[str, str], console: Console, *, dry_run: bool = False
) -> list[str]:
    """Stop what the platform runs for the environment (releases and data stay)."""
    context = open_context(name, env, check_tools=False)
    if dry_run:
        running = context.platform.status()
        console.say(f"dry run: would stop what {context.platform.name} runs for {name}")
        console.result({"environment": name, "dry_run": True, "running": running})
        return []
    stopped = context.platform.down()
    console.say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    console.result({"environment": name, "dry_run": False, "stopped": stopped})
    return stopped


def unlock(
    name: str,
    env: Mapping[str, str],
    console: Console,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> str:
    """Release the deploy lock: a stale one always, a live one only with ``force``."""
    deploy_lock = open_context(name, env, check_tools=False).deploy_lock()
    holder = deploy_lock.read()
    if holder is None:
        said = f"{name} is not locked"
    elif not holder.is_stale() and not force:
        raise CannotRun(
            f"lock held by {holder.describe()} and not stale: pass --force to release it anyway"
        )
    elif dry_run:
        said = f"dry run: would release the lock held by {holder.describe()}"
    else:
        deploy_lock.force_release()
        said = f"released the lock held by {holder.describe()}"
    console.say(said)
    console.result({
        "environment": name, "dry_run": dry_run,
        "holder": holder.describe() if holder else None,
        "released": holder is not None and not dry_run,
    })  # fmt: skip
    return said
