"""The ``secrets`` gate: detect-secrets over the working tree (and, with --history, every commit).

Every potential secret must be in the reviewed baseline (``.secrets.baseline``)
marked ``is_secret: false``; anything else fails and is named by file, line and
kind, never by value:

- a new potential secret (not in the baseline);
- a baseline entry nobody reviewed yet (``detect-secrets audit .secrets.baseline``);
- a baseline entry reviewed as a real secret (rotate it, then remove it);
- with ``--history``: a secret in any commit reachable from a ref, even one
  deleted since (it is still in every clone: rotate it). Such a finding's rule is
  ``history-<kind>``, so that a reviewed suppression of a past false positive does
  not cover the working tree.

``--update-baseline`` adds new findings to the baseline, unreviewed, for an audit.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.core.commands import CommandTimedOut, Completed, check, find_executable
from ops.core.git import git, is_checkout
from ops.project import ROOT
from ops.security import scanner
from ops.security.files import FIXTURES, SKIP_DIRS, scan_set, under
from ops.security.findings import Finding, Severity

NAME = "secrets"
TOOL = "detect-secrets"
BASELINE = ROOT / ".secrets.baseline"
# Content hashes, not secrets: the lock's artifact hashes and the baseline's hashed secrets.
NOT_SCANNED = ("uv.lock", ".secrets.baseline")
SCAN_TIMEOUT = 45.0
SCAN_SECONDS_PER_FILE = 0.1
"""How long one detect-secrets run may take before it is killed and run once more
(:func:`_detect`): :data:`SCAN_TIMEOUT`, or this much a file when that is longer. The
repository's ~400 files take about 8 s here, every blob of its history about 30 s."""
EXCLUDE_FILES = r"^(uv\.lock|\.secrets\.baseline|" + re.escape(FIXTURES) + r".*)$"
MAX_BLOB_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Hit:
    """One potential secret: where, what kind, and its hash (never its value)."""

    path: str
    line: int
    kind: str
    hashed: str


def command(detect_secrets: str, files: Sequence[str], baseline: Path | None = None) -> list[str]:
    """``detect-secrets scan`` over ``files``; with a baseline, it updates that file.

    ``--no-verify``: by default detect-secrets checks some kinds of finding with the
    issuer (an AWS key pair goes to AWS STS, a Slack token to Slack) -- a gate must not
    send what it finds to third parties."""
    update = ["--baseline", str(baseline)] if baseline else []
    scan = [detect_secrets, "scan", "--no-verify", "--exclude-files", EXCLUDE_FILES]
    return [*scan, *update, *files]


def hits(report: Any) -> list[Hit]:
    """The potential secrets in a detect-secrets report (scan output or baseline)."""
    if not isinstance(report, dict) or not isinstance(report.get("results"), dict):
        raise scanner.ScanError("detect-secrets report has no results mapping")
    return [
        Hit(path, int(entry.get("line_number", 0)), str(entry["type"]), str(entry["hashed_secret"]))
        for path, entries in report["results"].items()
        for entry in entries
    ]


def reviews(baseline: Any) -> dict[tuple[str, str], bool | None]:
    """(path, hashed secret) to the verdict: False safe, True a real secret, None unreviewed."""
    verdicts: dict[tuple[str, str], bool | None] = {}
    for path, entries in baseline.get("results", {}).items():
        for entry in entries:
            verdicts[(path, str(entry["hashed_secret"]))] = entry.get("is_secret")
    return verdicts


def judge(found: Iterable[Hit], verdicts: dict[tuple[str, str], bool | None]) -> list[Finding]:
    """Findings for every hit the baseline does not record as reviewed and safe."""
    findings = []
    for hit in found:
        key = (hit.path, hit.hashed)
        if key not in verdicts:
            findings.append(_finding(hit, Severity.HIGH, "new potential secret", _ADD))
        elif verdicts[key] is None:
            findings.append(_finding(hit, Severity.HIGH, "unreviewed baseline entry", _AUDIT))
        elif verdicts[key]:
            findings.append(_finding(hit, Severity.CRITICAL, "committed secret", _ROTATE))
    return findings


_ADD = "remove it; a false positive goes into the baseline (--update-baseline, then audit)"
_AUDIT = "review it: detect-secrets audit .secrets.baseline"
_ROTATE = "it was reviewed as a real secret: rotate it and remove it"


def _finding(hit: Hit, severity: Severity, what: str, action: str) -> Finding:
    message = f"{what} ({hit.kind}): {action}"
    return Finding(NAME, _slug(hit.kind), severity, message, hit.path, hit.line or None)


def _slug(kind: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Scan the working tree (and history with ``--history``) against the baseline."""
    detect_secrets = find_executable(TOOL, hint=scanner.HINT, env=options.env)
    files = [name for name in scan_set(options.root) if name not in NOT_SCANNED]
    if not files:
        raise scanner.ScanError(f"no files to scan under {options.root}")
    notes = [f"scanned {len(files)} files"]
    if options.update_baseline:
        _detect(command(detect_secrets, files, BASELINE), options.root, options.env)
        notes.append(f"updated {BASELINE.name}: review new entries (detect-secrets audit)")
    verdicts = reviews(scanner.load_json(BASELINE, "the secrets baseline"))
    found = _scan(detect_secrets, files, options.root, options.env)
    findings = judge(found, verdicts)
    if options.history:
        old = history_hits(detect_secrets, options.root, options.env)
        current = {(hit.path, hit.hashed) for hit in found}
        findings += judge_history(old, verdicts, current)
        notes.append(f"scanned the git history: {len(old)} hit(s) before comparing with the tree")
    version = scanner.package_version(TOOL)
    return scanner.ScanResult(NAME, TOOL, version, findings, notes=notes)


def _scan(
    detect_secrets: str, files: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> list[Hit]:
    done = _detect(command(detect_secrets, files), cwd, env)
    return hits(scanner.json_output(done, TOOL))


def _detect(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Completed:
    """One detect-secrets run, run once more if it hangs.

    detect-secrets scans several files in a ``multiprocessing`` pool, and once in CI
    (2026-12-03) a run of the test tree that takes 0.75 s never returned -- not seen in
    40 runs since. A run still going after its time (:data:`SCAN_SECONDS_PER_FILE`) is
    killed and started again; a second hang is :class:`CommandTimedOut` (the gate cannot
    run, exit 2).
    """
    timeout = max(SCAN_TIMEOUT, SCAN_SECONDS_PER_FILE * len(argv))
    try:
        return check(argv, cwd=cwd, env=env, timeout=timeout)
    except CommandTimedOut as first:
        print(f"secrets: {first}; running it once more", file=sys.stderr)
        return check(argv, cwd=cwd, env=env, timeout=timeout)


@dataclass(frozen=True, slots=True)
class HistoryHit:
    """A potential secret in a file as some commit held it."""

    hit: Hit
    commit: str


def history_hits(detect_secrets: str, root: Path, env: Mapping[str, str]) -> list[HistoryHit]:
    """Potential secrets in every blob reachable from any ref, with the commit adding each."""
    blobs = _history_blobs(root)
    with tempfile.TemporaryDirectory(prefix="secrets-history-") as directory:
        workdir = Path(directory)
        names = _materialise(root, blobs, workdir)
        found = _scan(detect_secrets, names, workdir, env) if names else []
    result = []
    for hit in found:
        blob, path = hit.path.split("/", 1)
        moved = Hit(path, hit.line, hit.kind, hit.hashed)
        result.append(HistoryHit(moved, _introduced_by(root, blobs[blob][0])))
    return result


def judge_history(
    old: Iterable[HistoryHit],
    verdicts: dict[tuple[str, str], bool | None],
    current: set[tuple[str, str]],
) -> list[Finding]:
    """Findings for historical secrets the working tree scan and the baseline do not cover."""
    findings = []
    seen: set[tuple[str, str]] = set()
    for item in old:
        key = (item.hit.path, item.hit.hashed)
        if key in current or verdicts.get(key) is False or key in seen:
            continue
        seen.add(key)
        hit = item.hit
        rule = history_rule(hit.kind)
        message = (
            f"potential secret ({hit.kind}) in git history, as of commit {item.commit}: it is in "
            "every clone -- rotate a real one; accept a false positive in "
            f"security/suppressions.toml as rule {rule}"
        )
        findings.append(Finding(NAME, rule, Severity.HIGH, message, hit.path, hit.line))
    return findings


def history_rule(kind: str) -> str:
    """The rule id of a finding in history only: ``history-`` and the kind's slug.

    Its own id lets a reviewed suppression accept a past false positive (a test's
    placeholder, since changed) without covering the same kind in the working tree."""
    return f"history-{_slug(kind)}"


def _history_blobs(root: Path) -> dict[str, tuple[str, str]]:
    """Blob id (short) to (full id, path) for every file in history that a scan would read."""
    if not is_checkout(root):
        raise scanner.ScanError(f"--history needs a git checkout and git: {root} is not one")
    listing = git("rev-list", "--objects", "--all", cwd=root).stdout
    blobs: dict[str, tuple[str, str]] = {}
    for line in listing.splitlines():
        sha, _, path = line.partition(" ")
        if path and _in_scope(path):
            blobs[sha[:16]] = (sha, path)
    return blobs


def _in_scope(path: str) -> bool:
    parts = Path(path).parts
    return (
        not under(path, (FIXTURES,))
        and path not in NOT_SCANNED
        and not any(part in SKIP_DIRS for part in parts[:-1])
    )


def _materialise(root: Path, blobs: dict[str, tuple[str, str]], workdir: Path) -> list[str]:
    """Write each (non-tree, not too large) blob to ``<short id>/<path>``; their names."""
    request = "".join(f"{full}\n" for full, _ in blobs.values()).encode()
    output = git("cat-file", "--batch", cwd=root, stdin=request).raw_stdout
    names, offset = [], 0
    for short, (_, path) in blobs.items():
        header_end = output.index(b"\n", offset)
        _sha, kind, size = output[offset:header_end].decode().split(" ")
        start, offset = header_end + 1, header_end + 1 + int(size) + 1
        if kind != "blob" or int(size) > MAX_BLOB_BYTES:
            continue
        target = workdir / short / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(output[start : start + int(size)])
        names.append(f"{short}/{path}")
    return names


def _introduced_by(root: Path, blob: str) -> str:
    log = git("log", "--all", "--reverse", "--format=%h", f"--find-object={blob}", cwd=root)
    return log.stdout.split("\n", 1)[0].strip() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.secrets [--history] [--update-baseline] [options]``."""
    return scanner.main(NAME, TOOL, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
