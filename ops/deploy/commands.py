"""What the deploy tasks do: resolve the environment, build the pipeline, report.

Every expected failure becomes :class:`CommandError` with one line; the tasks
turn it into a non-zero exit without a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ops.core import environ
from ops.core.exits import OpsError
from ops.deploy.audit import AuditLog, DeployRecord
from ops.deploy.lock import force_release, read_lock
from ops.deploy.pipeline import Backup, DeployFailed, DeployRequest, Pipeline, smoke_credentials
from ops.deploy.platforms import Platform, PlatformError, platform_for
from ops.deploy.version import VersionError, resolve_version
from ops.environments import (
    EnvironmentDefinition,
    EnvironmentProblem,
    environments_dir,
    load_environment,
    resolve_secrets,
)
from ops.project import ROOT


class CommandError(OpsError):
    """A deploy command cannot go on; the message is one line."""

    exit_code: ClassVar[int] = 1


@dataclass
class Context:
    """An environment ready to act on."""

    environment: EnvironmentDefinition
    secrets: dict[str, str]
    platform: Platform


def prepare(env_name: str, check_tools: bool = True) -> Context:
    """Load and validate everything before anything changes."""
    env = environ.current()
    try:
        environment = load_environment(env_name, environments_dir(env))
        secrets = resolve_secrets(environment, env)
        platform = platform_for(environment, secrets)
        if check_tools:
            platform.preflight()
            smoke_credentials(environment, secrets)
    except (EnvironmentProblem, PlatformError) as error:
        raise CommandError(str(error)) from None
    return Context(environment, secrets, platform)


def deploy(
    env_name: str,
    *,
    version: str | None = None,
    source: Path = ROOT,
    dry_run: bool = False,
    yes: bool = False,
    wait: bool = False,
    message: str = "",
    backup: Backup | None = None,
) -> DeployRecord:
    """Deploy a version (default: the checkout's commit) through the whole pipeline."""
    context = prepare(env_name, check_tools=not dry_run)
    try:
        resolved = resolve_version(version, source)
    except VersionError as error:
        raise CommandError(str(error)) from None
    request = DeployRequest(
        context.environment, resolved, "deploy", source, dry_run, yes, wait, message
    )
    return _run(Pipeline(request, context.platform, context.secrets, backup=backup))


def rollback(
    env_name: str, *, to: str | None = None, dry_run: bool = False, yes: bool = False
) -> DeployRecord:
    """Roll back to ``to`` or to the last release that deployed successfully before."""
    context = prepare(env_name, check_tools=not dry_run)
    serving = context.platform.serving_version()
    audit = AuditLog(context.environment.state_dir / "audit.jsonl")
    kept = context.platform.available_versions()
    earlier = [version for version in kept if version != serving]
    target = to or audit.last_good(exclude=serving) or (earlier[-1] if earlier else None)
    if target is None:
        raise CommandError(f"no earlier successful release of {env_name} to roll back to")
    if context.platform.name == "local" and target not in kept:
        raise CommandError(f"release {target} is not kept (kept: {', '.join(kept) or 'none'})")
    request = DeployRequest(
        context.environment,
        target,
        "rollback",
        ROOT,
        dry_run,
        yes,
        False,
        f"rollback from {serving}",
    )
    return _run(Pipeline(request, context.platform, context.secrets))


def _run(pipeline: Pipeline) -> DeployRecord:
    try:
        return pipeline.run()
    except DeployFailed as failure:
        raise CommandError(f"{pipeline.request.action} failed: {failure}") from None


def status(env_name: str) -> dict[str, Any]:
    """Public URL, serving version, slots, health, lock."""
    context = prepare(env_name, check_tools=False)
    environment = context.environment
    lock = read_lock(environment.state_dir / "deploy.lock")
    return {
        "environment": environment.name,
        "platform": environment.platform,
        "public_url": environment.public_url,
        "serving_version": context.platform.serving_version(),
        "lock": lock.describe() if lock else None,
        "lock_stale": lock.is_stale() if lock else None,
        **context.platform.status(),
    }


def releases(env_name: str) -> dict[str, Any]:
    """Kept releases and the audit history."""
    context = prepare(env_name, check_tools=False)
    audit = AuditLog(context.environment.state_dir / "audit.jsonl")
    return {
        "environment": env_name,
        "serving": context.platform.serving_version(),
        "kept": context.platform.available_versions(),
        "history": audit.records(),
    }


def down(env_name: str) -> list[str]:
    """Stop what the platform runs for the environment."""
    context = prepare(env_name, check_tools=False)
    try:
        return context.platform.down()
    except PlatformError as error:
        raise CommandError(str(error)) from None


def unlock(env_name: str, force: bool = False) -> str:
    """Release the deploy lock: a stale one always, a live one only with ``force``."""
    environment = prepare(env_name, check_tools=False).environment
    path = environment.state_dir / "deploy.lock"
    holder = read_lock(path)
    if holder is None:
        return f"{env_name} is not locked"
    if not holder.is_stale() and not force:
        raise CommandError(
            f"lock held by {holder.describe()} and not stale: pass --force to release it anyway"
        )
    force_release(path)
    return f"released the lock held by {holder.describe()}"


def as_json(data: object) -> str:
    """Indented JSON for ``--json``."""
    return json.dumps(data, indent=2, default=str)


def pre_deploy_backup(environment: EnvironmentDefinition, secrets: dict[str, str]) -> str:
    """Back up the environment's database through ``invoke backup.db``; raise on failure."""
    command = [sys.executable, "-m", "invoke", "backup.db", "--env", environment.name, "--verify"]
    result = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    output = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode != 0:
        raise PlatformError(
            f"pre-deploy backup failed: {output[-1] if output else result.returncode}"
        )
    return output[-1] if output else "backup taken"


def render_status(report: dict[str, Any]) -> str:
    """``invoke status`` for humans."""
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
    """``invoke releases`` for humans."""
    lines = [f"kept releases of {report['environment']} (oldest first):"]
    for version in report["kept"]:
        marker = "  <- serving" if version == report["serving"] else ""
        lines.append(f"  {version}{marker}")
    lines.append("history (newest last):")
    for record in report["history"][-20:]:
        lines.append(
            f"  {record['started_at']}  {record['action']:<8} {record['version']:<20} "
            f"{record['result']:<11} {record['duration_seconds']:>6.1f}s  {record['who']}"
            + (f"  {record['reason']}" if record.get("reason") else "")
        )
    return "\n".join(lines)
