"""What CI's jobs leave in the reports directory, written for a test: JUnit reports, the
combined coverage, the security summary (by the summary's own writer), and a git history."""

from __future__ import annotations

import os
from pathlib import Path

from ops.core.git import git
from ops.security import summary
from ops.security.scanner import FAILED, PASSED, SKIPPED
from ops.security.summary import GateSummary, SecuritySummary


def junit(reports: Path, name: str, tests: int, failed: dict[str, str] | None = None) -> Path:
    """``junit/<name>.xml`` of ``tests`` tests, ``failed`` (test name -> message) failing."""
    failed = failed or {}
    cases = [f'<testcase classname="tests.unit.test_book" name="{case}">'
             f'<failure message="{message}">Traceback ...</failure></testcase>'
             for case, message in failed.items()]  # fmt: skip
    cases += ['<testcase classname="tests.unit.test_book" name="test_ok"/>'] * (tests - len(failed))
    path = reports / "junit" / f"{name}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}" '
        f'failures="{len(failed)}" errors="0" skipped="0" time="1.5">{"".join(cases)}'
        "</testsuite></testsuites>"
    )
    return path


def coverage(reports: Path, lines: int, covered: int, branches: int = 0, taken: int = 0) -> Path:
    """``coverage.xml`` with these totals, shaped as ``coverage xml`` writes it."""
    path = reports / "coverage.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<?xml version="1.0" ?><coverage version="7.10" lines-valid="{lines}" '
        f'lines-covered="{covered}" line-rate="0" branches-valid="{branches}" '
        f'branches-covered="{taken}" branch-rate="0" complexity="0"><sources/><packages/>'
        "</coverage>"
    )
    return path


def security(reports: Path, score: int, *gates: GateSummary) -> Path:
    """``security/summary.json`` as ``nox -s security`` writes it."""
    directory = reports / "security"
    directory.mkdir(parents=True, exist_ok=True)
    written = SecuritySummary(list(gates) or [GateSummary("bandit", PASSED)], [], [], score)
    summary.write(written, directory, {})
    return directory / "summary.json"


def failed_gate(name: str, reason: str) -> GateSummary:
    """A gate that failed, saying why."""
    return GateSummary(name, FAILED, reason)


def skipped_gate(name: str, reason: str) -> GateSummary:
    """A gate that was skipped, saying why."""
    return GateSummary(name, SKIPPED, reason)


def history(root: Path) -> tuple[str, str]:
    """A repository with a base commit and two commits on top: (base, head)."""
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=root)
    git("config", "user.email", "ops@example.com", cwd=root)
    git("config", "user.name", "Ops", cwd=root)
    (root / "app.py").write_text("one\ntwo\n")
    git("add", "app.py", cwd=root)
    git("commit", "-q", "-m", "base", cwd=root)
    base = git("rev-parse", "HEAD", cwd=root).stdout.strip()
    (root / "app.py").write_text("one\n2\nthree\n")
    (root / "logo.png").write_bytes(b"\x89PNG\0\0\0binary")
    git("add", "app.py", "logo.png", cwd=root)
    git("commit", "-q", "-m", "Orders: reject a <script> | pipe", cwd=root)
    (root / "notes.md").write_text("n\n")
    git("add", "notes.md", cwd=root)
    git("commit", "-q", "-m", "Notes", cwd=root)
    return base, git("rev-parse", "HEAD", cwd=root).stdout.strip()
