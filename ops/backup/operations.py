"""What each backup operation does (status -> plan -> confirm -> apply -> verify), with
its output: lines through a :class:`~ops.core.console.Console`, one JSON result
(``--json``, ``--report``), approval of production changes by
:meth:`~ops.core.console.Console.approve`.

The invoke tasks (:mod:`ops.tasks.backup`) only parse options and call these; the
deploy pipeline calls :func:`backup` in-process for its pre-deploy backup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.backup import create, metrics, prune, restore
from ops.backup.catalog import BackupEntry, complete, scan
from ops.backup.context import BackupContext
from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.layout import KINDS, Kind, check_kind
from ops.backup.manifest import Manifest
from ops.backup.verify import verify as verify_entry
from ops.core.console import Console, human_size, table
from ops.core.exits import CHECK_FAILED, OpsError, one_line


def kinds_of(kind: str | None) -> tuple[Kind, ...]:
    """The kinds ``--kind`` names: one, or every kind for ``all`` (the default)."""
    return KINDS if kind in (None, "", "all") else (check_kind(kind or ""),)


def backup(
    context: BackupContext,
    kinds: tuple[Kind, ...],
    *,
    dry_run: bool,
    verify: bool,
    console: Console,
) -> dict[str, Any]:
    """Take a backup of each of ``kinds`` and return the result it also reports.

    Every preflight (key, storage, source, tool versions) runs before anything is
    written, and raises at the first problem. With ``dry_run`` nothing is written and
    the result is ``{"environment", "dry_run": True, "plans": [...]}``. Otherwise
    every kind is attempted, ``verify`` verifies each new backup end to end, and the
    result is::

        {"environment": "production",
         "backups": [{"kind": "db", "ok": True, "manifest": {"id": ..., ...},
                      "verification": {"ok": True, ...}},     # with verify only
                     {"kind": "state", "ok": False, "error": "..."}]}

    It is reported (``console.result``) before any failure is raised: a
    :class:`~ops.core.exits.CheckFailed` (exit 1) when a kind failed a check (a
    verification, an upload that does not match), else a
    :class:`~ops.core.exits.CannotRun` (exit 2), naming every kind that failed.
    """
    plans = [create.plan(context, kind) for kind in kinds]
    for item in plans:
        lock = f"encrypted (key id {item.key_id})" if item.encrypted else "not encrypted"
        console.say(
            f"backup {item.environment}/{item.kind}: {item.source} -> {item.destination}; {lock}"
        )
        for note in item.notes:
            console.say(f"  note: {note}")
    if dry_run:
        console.say("dry run: nothing written")
        planned = {"environment": context.name, "dry_run": True,
                   "plans": [p.as_dict() for p in plans]}  # fmt: skip
        console.result(planned)
        return planned
    results: list[dict[str, Any]] = []
    failures: list[tuple[Kind, OpsError]] = []
    for kind in kinds:
        try:
            results.append(_backup_one(context, kind, verify, console))
        except OpsError as error:  # every kind is attempted; the run fails afterwards
            failures.append((kind, error))
            results.append({"kind": kind, "ok": False, "error": one_line(error)})
    result = {"environment": context.name, "backups": results}
    console.result(result)
    if failures:
        raise _failed("backup failed", failures)
    return result


def _failed(what: str, failures: list[tuple[Kind, OpsError]]) -> OpsError:
    """One error for several kinds: a check failure if any kind failed a check."""
    message = f"{what}: " + "; ".join(f"{kind}: {one_line(error)}" for kind, error in failures)
    if any(error.exit_code == CHECK_FAILED for _kind, error in failures):
        return BackupCheckFailed(message)
    return BackupCannotRun(message)


def _backup_one(
    context: BackupContext, kind: Kind, verify: bool, console: Console
) -> dict[str, Any]:
    manifest = create.run(context, kind)
    console.say(f"backup {context.name}/{kind} {manifest.id} complete: {_summary(manifest)}")
    metrics.push_backup(context.env, context.name, manifest, console.say)
    result: dict[str, Any] = {
        "kind": kind,
        "ok": True,
        "manifest": manifest.model_dump(mode="json"),
    }
    if verify:
        entry = BackupEntry(context.name, kind, manifest.id, manifest=manifest)
        verification = verify_entry(context, entry)
        metrics.push_verification(context.env, context.name, kind, verification, console.say)
        result["verification"] = verification.model_dump(mode="json")
        if not verification.ok:
            raise BackupCheckFailed(
                f"backup {manifest.id} written but failed verification: {verification.problem}"
            )
        console.say(f"  verified in {verification.seconds:.1f}s")
    return result


def _summary(manifest: Manifest) -> str:
    parts = [f"{human_size(manifest.stored_bytes)} in {manifest.duration_seconds:.1f}s"]
    parts.append(f"sha256 {manifest.objects[0].sha256[:12]}…")
    if manifest.database:
        rows = sum(manifest.database.row_counts.values())
        parts.append(f"{len(manifest.database.row_counts)} tables, {rows} rows")
        parts.append(f"revision {manifest.database.migration_revision}")
    if manifest.files:
        parts.append(f"{len(manifest.files)} files")
    if manifest.encryption:
        parts.append("encrypted")
    return ", ".join(parts)


def _row(entry: BackupEntry) -> list[str]:
    manifest, verification = entry.manifest, entry.verification
    verified = "never"
    if verification is not None:
        verified = (
            f"{'ok' if verification.ok else 'FAILED'} {verification.verified_at:%Y-%m-%d %H:%M}"
        )
    return [
        entry.kind, entry.id, "complete" if manifest else "INCOMPLETE",
        f"{entry.time:%Y-%m-%d %H:%M:%S}", human_size(entry.stored_bytes),
        "yes" if manifest and manifest.encryption else "no", verified,
        (manifest.database.migration_revision or "-") if manifest and manifest.database else "-",
    ]  # fmt: skip


def _entry_dict(entry: BackupEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "id": entry.id,
        "complete": entry.complete,
        "time": entry.time.isoformat(),
        "stored_bytes": entry.stored_bytes,
        "problem": entry.problem,
        "manifest": entry.manifest.model_dump(mode="json") if entry.manifest else None,
        "verification": entry.verification.model_dump(mode="json") if entry.verification else None,
    }


def list_backups(context: BackupContext, kind: str | None, console: Console) -> dict[str, Any]:
    """A table (or JSON) of every backup of ``kind`` (default: all), complete or not."""
    entries = [e for k in kinds_of(kind) for e in scan(context.storage, context.name, k)]
    result = {"environment": context.name, "backups": [_entry_dict(e) for e in entries]}
    console.result(result)
    if console.as_json:
        return result
    if not entries:
        console.say(f"no backups of environment {context.name!r} in {context.storage.description}")
        return result
    headers = ["kind", "id", "status", "time (UTC)", "size", "encrypted", "verified", "revision"]
    console.say(table(headers, [_row(e) for e in entries]))
    return result


def verify_backups(
    context: BackupContext,
    kind: str,
    backup_id: str | None,
    *,
    latest: bool,
    every: bool,
    console: Console,
) -> dict[str, Any]:
    """Verify one backup (``backup_id``), the latest, or every complete one; a failed
    verification is :class:`BackupCheckFailed` (after the result is reported)."""
    if sum([backup_id is not None, latest, every]) != 1:
        raise BackupCannotRun("say which backups to verify: --id ID, --latest or --all")
    chosen_kind = check_kind(kind)
    entries = complete(scan(context.storage, context.name, chosen_kind))
    newest = entries[-1].id if entries else None
    if backup_id is not None:
        entries = [e for e in entries if e.id == backup_id]
        if not entries:
            raise BackupCannotRun(
                f"no complete {chosen_kind} backup {backup_id!r} in {context.name!r}"
            )
    elif latest:
        entries = entries[-1:]
    if not entries:
        raise BackupCannotRun(f"no complete {chosen_kind} backup of environment {context.name!r}")
    verifications = []
    for entry in entries:
        verification = verify_entry(context, entry)
        if entry.id == newest:  # what the freshness rules judge: the newest backup's state
            metrics.push_verification(
                context.env, context.name, chosen_kind, verification, console.say
            )
        verdict = "ok" if verification.ok else f"FAILED: {verification.problem}"
        console.say(f"verify {entry.id}: {verdict}")
        verifications.append(verification.model_dump(mode="json"))
    result = {"environment": context.name, "kind": chosen_kind, "verifications": verifications}
    console.result(result)
    failed = [v for v in verifications if not v["ok"]]
    if failed:
        raise BackupCheckFailed(
            f"{len(failed)} of {len(verifications)} backups failed verification: "
            f"{failed[0]['problem']}"
        )
    return result


def prune_backups(
    context: BackupContext, kind: str | None, *, apply: bool, yes: bool, console: Console
) -> dict[str, Any]:
    """Show (default) or, with ``apply``, carry out the retention decisions; deleting
    production backups needs approval (``yes``, or typing the environment's name)."""
    plans = {k: prune.plan(context, k) for k in kinds_of(kind)}
    for k, decisions in plans.items():
        prune.check_safe(decisions)
        for item in decisions:
            action = "keep  " if item.decision.keep else "DELETE"
            console.say(f"{action} {k}/{item.entry.id}  {', '.join(item.decision.reasons)}")
    doomed = sum(not item.decision.keep for decisions in plans.values() for item in decisions)
    listed = [item.as_dict() for decisions in plans.values() for item in decisions]
    result: dict[str, Any] = {"environment": context.name, "applied": False, "decisions": listed}
    if not apply or not doomed:
        dry = "" if apply else "; dry run (pass --apply to delete)"
        console.say(f"{doomed} backups to delete{dry}")
        console.result(result)
        return result
    if context.environment.is_production:
        result["approval"] = console.approve(
            f"Delete {doomed} backups of PRODUCTION environment {context.name!r}?",
            context.name, yes=yes, needed_for=f"pruning the backups of {context.name}",
        )  # fmt: skip
    result["deleted"] = [i for decisions in plans.values() for i in prune.apply(context, decisions)]
    result["applied"] = True
    console.say(f"deleted {len(result['deleted'])} backups")
    console.result(result)
    return result


def restore_backup(
    context: BackupContext,
    reference: str,
    target: str,
    kind: str,
    *,
    force: bool,
    yes: bool,
    dry_run: bool,
    console: Console,
) -> dict[str, Any]:
    """Restore backup ``reference`` (an id or ``latest``) into ``target``: plan, guards
    (a non-empty target needs ``force``; a production one approval), apply, check."""
    plan = restore.plan(context, reference, target, check_kind(kind))
    state = "empty" if plan.empty else "NOT EMPTY"
    console.say(
        f"restore {context.name}/{plan.entry.kind} {plan.entry.id} "
        f"into {plan.target.display} ({state})"
    )
    for step in plan.steps:
        console.say(f"  - {step}")
    if dry_run:
        console.say("dry run: nothing written")
        planned = {"dry_run": True, "plan": plan.as_dict()}
        console.result(planned)
        return planned
    approval = restore.guard(plan, force=force, yes=yes, console=console)
    done = restore.apply(context, plan)
    for check in done.checks:
        console.say(f"  ok: {check}")
    console.say(f"restored {plan.entry.id} into {plan.target.display} in {done.seconds:.1f}s")
    result: dict[str, Any] = {"plan": plan.as_dict(), "result": done.as_dict()}
    if approval is not None:
        result["approval"] = approval
    console.result(result)
    return result


def dr_drill(
    context: BackupContext,
    reference: str,
    *,
    server: str | None,
    report_dir: Path | None,
    console: Console,
) -> dict[str, Any]:
    """Run the drill (its steps printed as they end), report it, and raise
    :class:`BackupCheckFailed` when it failed (any step, or RTO/RPO over target)."""
    from ops.backup import drill  # the app and its dependencies: only for drills
    from ops.backup.drill_report import markdown

    directory = report_dir or drill.DRILL_REPORTS
    report = drill.run(
        context, console.say, reference=reference, server_url=server, report_dir=directory
    )
    metrics.push_drill(context.env, report, console.say)
    rto = "—" if report.rto_seconds is None else f"{report.rto_seconds:.1f}s"
    rpo = "—" if report.rpo_seconds is None else f"{report.rpo_seconds:.0f}s"
    rto_target, rpo_target = report.rto_target_seconds, report.rpo_target_seconds
    console.say(f"RTO {rto} (target {rto_target:g}s), RPO {rpo} (target {rpo_target:g}s)")
    console.say(f"report: {directory / context.name / (report.drill_id + '.md')}")
    result = report.model_dump(mode="json")
    console.result(result)
    console.summary(markdown(report))
    if not report.ok:
        raise BackupCheckFailed(f"DR drill {report.drill_id} failed: {report.failures[0]}")
    return result
