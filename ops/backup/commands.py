"""What each backup task does (status -> plan -> confirm -> apply -> verify), with
its output; the invoke tasks in ops/backup/tasks.py only parse options and call these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.backup import create, prune, restore
from ops.backup.catalog import BackupEntry, complete, scan
from ops.backup.context import BackupContext
from ops.backup.errors import BackupError
from ops.backup.layout import KINDS, Kind, check_kind
from ops.backup.manifest import Manifest
from ops.backup.output import Output, human_size, table, terminal_confirm
from ops.backup.verify import verify as verify_entry


def _kinds(kind: str | None) -> tuple[Kind, ...]:
    return KINDS if kind in (None, "", "all") else (check_kind(kind or ""),)


def backup(
    context: BackupContext, kinds: tuple[Kind, ...], dry_run: bool, check: bool, out: Output
) -> None:
    """Take backups of ``kinds``; every kind is attempted, the first failure is raised."""
    plans = [create.plan(context, kind) for kind in kinds]  # every preflight before any write
    for item in plans:
        lock = f"encrypted (key id {item.key_id})" if item.encrypted else "not encrypted"
        out.say(
            f"backup {item.environment}/{item.kind}: {item.source} -> {item.destination}; {lock}"
        )
        for note in item.notes:
            out.say(f"  note: {note}")
    if dry_run:
        out.say("dry run: nothing written")
        out.result({"dry_run": True, "plans": [p.as_dict() for p in plans]})
        return
    results: list[dict[str, Any]] = []
    failures = []
    for kind in kinds:
        try:
            results.append(_backup_one(context, kind, check, out))
        except BackupError as error:
            failures.append(f"{kind}: {error}")
            results.append({"kind": kind, "ok": False, "error": str(error)})
    out.result({"environment": context.name, "backups": results})
    if failures:
        raise BackupError("backup failed: " + "; ".join(failures))


def _backup_one(context: BackupContext, kind: Kind, check: bool, out: Output) -> dict[str, Any]:
    manifest = create.run(context, kind)
    out.say(f"backup {context.name}/{kind} {manifest.id} complete: {_summary(manifest)}")
    result: dict[str, Any] = {
        "kind": kind,
        "ok": True,
        "manifest": manifest.model_dump(mode="json"),
    }
    if check:
        entry = BackupEntry(context.name, kind, manifest.id, manifest=manifest)
        verification = verify_entry(context, entry)
        result["verification"] = verification.model_dump(mode="json")
        if not verification.ok:
            raise BackupError(
                f"backup {manifest.id} written but failed verification: {verification.problem}"
            )
        out.say(f"  verified in {verification.seconds:.1f}s")
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


def list_backups(context: BackupContext, kind: str | None, out: Output) -> None:
    """A table (or JSON) of every backup, complete or not."""
    entries = [e for k in _kinds(kind) for e in scan(context.storage, context.name, k)]
    out.result({"environment": context.name, "backups": [_entry_dict(e) for e in entries]})
    if out.as_json:
        return
    if not entries:
        out.say(f"no backups of environment {context.name!r} in {context.storage.description}")
        return
    headers = ["kind", "id", "status", "time (UTC)", "size", "encrypted", "verified", "revision"]
    out.say(table(headers, [_row(e) for e in entries]))


def verify(
    context: BackupContext, kind: str, backup_id: str | None, latest: bool, every: bool, out: Output
) -> None:
    """Verify one backup (``--id``), the latest, or all complete ones."""
    if sum([backup_id is not None, latest, every]) != 1:
        raise BackupError("say which backups to verify: --id ID, --latest or --all")
    chosen_kind = check_kind(kind)
    entries = complete(scan(context.storage, context.name, chosen_kind))
    if backup_id is not None:
        entries = [e for e in entries if e.id == backup_id]
        if not entries:
            raise BackupError(f"no complete {chosen_kind} backup {backup_id!r} in {context.name!r}")
    elif latest:
        entries = entries[-1:]
    if not entries:
        raise BackupError(f"no complete {chosen_kind} backup of environment {context.name!r}")
    results = []
    for entry in entries:
        result = verify_entry(context, entry)
        out.say(f"verify {entry.id}: {'ok' if result.ok else 'FAILED: ' + str(result.problem)}")
        results.append(result.model_dump(mode="json"))
    out.result({"environment": context.name, "kind": chosen_kind, "verifications": results})
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise BackupError(
            f"{len(failed)} of {len(results)} backups failed verification: {failed[0]['problem']}"
        )


def prune_backups(
    context: BackupContext, kind: str | None, apply: bool, yes: bool, out: Output
) -> None:
    """Show (default) or apply the retention decisions."""
    steps = {k: prune.plan(context, k) for k in _kinds(kind)}
    for k, plan in steps.items():
        prune.check_safe(plan)
        for step in plan:
            action = "keep  " if step.decision.keep else "DELETE"
            out.say(f"{action} {k}/{step.entry.id}  {', '.join(step.decision.reasons)}")
    doomed = sum(not s.decision.keep for plan in steps.values() for s in plan)
    decisions = [s.as_dict() for plan in steps.values() for s in plan]
    report: dict[str, Any] = {"environment": context.name, "applied": False, "decisions": decisions}
    if not apply or not doomed:
        out.say(
            f"{doomed} backups to delete" + ("" if apply else "; dry run (pass --apply to delete)")
        )
        out.result(report)
        return
    _confirm_production(context, yes, f"Delete {doomed} backups of PRODUCTION?")
    report["deleted"] = [i for k, plan in steps.items() for i in prune.apply(context, plan)]
    report["applied"] = True
    out.say(f"deleted {len(report['deleted'])} backups")
    out.result(report)


def _confirm_production(context: BackupContext, yes: bool, question: str) -> None:
    if not context.environment.is_production or yes:
        return
    confirm = terminal_confirm()
    if confirm is None:
        raise BackupError("refusing to change production backups without confirmation: pass --yes")
    if not confirm(question):
        raise BackupError("not confirmed")


def restore_backup(
    context: BackupContext,
    reference: str,
    target: str,
    kind: str,
    options: dict[str, bool],
    out: Output,
) -> None:
    """Restore a backup into ``target``: plan, guards, apply, check."""
    chosen = check_kind(kind)
    plan = restore.plan(context, reference, target, chosen)
    state = "empty" if plan.empty else "NOT EMPTY"
    out.say(f"restore {context.name}/{chosen} {plan.entry.id} into {plan.target.display} ({state})")
    for step in plan.steps:
        out.say(f"  - {step}")
    if options["dry_run"]:
        out.say("dry run: nothing written")
        out.result({"dry_run": True, "plan": plan.as_dict()})
        return
    restore.guard(plan, options["force"], options["yes"], terminal_confirm())
    result = restore.apply(context, plan)
    for check in result.checks:
        out.say(f"  ok: {check}")
    out.say(f"restored {plan.entry.id} into {plan.target.display} in {result.seconds:.1f}s")
    out.result({"plan": plan.as_dict(), "result": result.as_dict()})


def dr_drill(
    context: BackupContext, reference: str, server: str | None, report_dir: str | None, out: Output
) -> None:
    """Run the drill; raise (non-zero exit) when it failed."""
    from ops.backup import drill  # the app and its dependencies: only for drills

    directory = Path(report_dir) if report_dir else drill.DRILL_REPORTS
    report = drill.run(context, reference, server, directory)
    for step in report.steps:
        out.say(
            f"{'ok    ' if step.ok else 'FAILED'} {step.name} ({step.seconds:.1f}s) {step.detail}"
        )
    rto = "—" if report.rto_seconds is None else f"{report.rto_seconds:.1f}s"
    rpo = "—" if report.rpo_seconds is None else f"{report.rpo_seconds:.0f}s"
    rto_target, rpo_target = report.rto_target_seconds, report.rpo_target_seconds
    out.say(f"RTO {rto} (target {rto_target:g}s), RPO {rpo} (target {rpo_target:g}s)")
    out.say(f"report: {directory / context.name / (report.drill_id + '.md')}")
    out.result(report.model_dump(mode="json"))
    if not report.ok:
        raise BackupError(f"DR drill {report.drill_id} failed: {report.failures[0]}")
