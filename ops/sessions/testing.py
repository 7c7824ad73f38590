"""Running the tests: pytest under coverage with a JUnit report, the combined coverage report."""

from __future__ import annotations

import os
from pathlib import Path

import nox

from ops.core.console import append_step_summary
from ops.project import REPORTS
from ops.sessions import coverage_xml
from ops.sessions.install import uv
from ops.sessions.junit import junit_markdown

COVERAGE_DIR = REPORTS / "coverage"
JUNIT_DIR = REPORTS / "junit"


NO_COVERAGE = "--no-coverage"


def pytest(
    session: nox.Session,
    *paths: str,
    env: dict[str, str] | None = None,
    parallel: bool = False,
    by_file: bool = False,
    part: str = "",
) -> None:
    """Run pytest under coverage with a JUnit report named after the session.

    Arguments after ``--`` replace the default paths and options, as with pytest;
    ``--no-coverage`` among them runs pytest without measuring (a faster local loop).
    ``parallel`` spreads the default paths over one pytest-xdist worker per CPU: most of
    these tests wait on the servers and tools they start (coverage measures the workers:
    ``patch = subprocess``). ``by_file`` keeps each file's tests on one worker, in order
    (files whose tests build on a shared database). Suites that judge timing (load under a
    deploy, SLO runs) stay serial.

    A session that runs pytest twice names the second run's ``part`` (its JUnit report is
    ``<session>-<part>.xml``); arguments given after ``--`` run once, in the first run, so
    a ``part`` run is skipped then.
    """
    given = [arg for arg in session.posargs if arg != NO_COVERAGE]
    if part and given:
        return
    JUNIT_DIR.mkdir(parents=True, exist_ok=True)
    COVERAGE_DIR.mkdir(parents=True, exist_ok=True)
    junit = JUNIT_DIR / (f"{session.name}-{part}.xml" if part else f"{session.name}.xml")
    # Deploy tests build releases with uv: tell them which one nox uses.
    run_env = {"COVERAGE_FILE": str(COVERAGE_DIR / ".coverage"), "UV": uv(session), **(env or {})}
    spread = ["--numprocesses", "auto", *(["--dist", "loadfile"] if by_file else [])]
    args = given or [*(spread if parallel else []), *paths]
    runner = ["python"] if NO_COVERAGE in session.posargs else ["coverage", "run"]
    session.run(*runner, "-m", "pytest", f"--junitxml={junit}", *args, env=run_env)


def coverage_report(session: nox.Session, fail_under: float) -> None:
    """Combine every session's data; write XML, HTML and a Markdown summary; enforce the floor."""
    data_file = str(COVERAGE_DIR / ".coverage")
    env = {"COVERAGE_FILE": data_file}
    pieces = list(COVERAGE_DIR.glob(".coverage.*"))
    if not pieces and not Path(data_file).exists():
        session.error("no coverage data in reports/coverage: run `nox -s tests` first")
    if pieces:
        session.run("coverage", "combine", str(COVERAGE_DIR), env=env)
    session.run("coverage", "xml", "-o", str(REPORTS / coverage_xml.FILE_NAME), env=env)
    session.run("coverage", "html", "-d", str(REPORTS / "coverage-html"), env=env)
    summary = session.run("coverage", "report", "--format=markdown", env=env, silent=True)
    tests = junit_markdown(JUNIT_DIR) if JUNIT_DIR.is_dir() else "No test reports found.\n"
    session.log("test reports:\n" + tests)
    if isinstance(summary, str):
        append_step_summary(f"## Tests\n\n{tests}\n## Coverage\n\n{summary}\n", os.environ)
    session.run("coverage", "report", f"--fail-under={fail_under:g}", env=env)
