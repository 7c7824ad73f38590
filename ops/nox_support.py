"""What the nox sessions do, so that ``noxfile.py`` only declares them.

Every session installs exactly what ``uv.lock`` pins, with ``uv sync --locked``
into the session's own virtualenv (the pattern of urllib3's noxfile). A lock that
no longer matches ``pyproject.toml`` stops the session with the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox
from nox.command import CommandFailed
from nox.virtualenv import find_uv

from ops.project import REPORTS
from ops.reports import junit_markdown

STALE_LOCK = (
    "uv.lock does not match pyproject.toml: run `nox -s lock -- --update` "
    "(or `uv lock`) and commit uv.lock"
)
# Used only when no uv is installed anywhere (the virtualenv fallback backend).
FALLBACK_UV = "uv>=0.5"
COVERAGE_DIR = REPORTS / "coverage"
JUNIT_DIR = REPORTS / "junit"


def uv(session: nox.Session) -> str:
    """The uv executable: nox's own, one on PATH, or one installed into the session."""
    has_uv, executable, _version = find_uv()
    if has_uv:
        return executable
    session.install(FALLBACK_UV)
    return "uv"


def check_lock(session: nox.Session) -> None:
    """Stop with the fix when ``uv.lock`` is stale (skipped with ``--no-install``)."""
    try:
        session.run_install(uv(session), "lock", "--check", silent=True)
    except CommandFailed:
        session.error(STALE_LOCK)


def install_locked(session: nox.Session, *groups: str, runtime: bool = True) -> None:
    """Install the locked versions of ``groups``, with the runtime dependencies unless
    ``runtime`` is false (linters need nothing of the app)."""
    check_lock(session)
    venv = session.virtualenv.location
    flag = "--group" if runtime else "--only-group"
    args = ["sync", "--locked", "--no-default-groups", f"--python={venv}"]
    args += [f"{flag}={group}" for group in groups]
    if not find_uv()[0]:
        args.append("--inexact")  # keep the uv installed into this environment
    session.run_install(uv(session), *args, env={"UV_PROJECT_ENVIRONMENT": venv}, silent=True)


def security_gate(session: nox.Session, gate: str, *args: str) -> None:
    """Install the locked security tools and run ``python -m ops.security.<gate>``
    with ``args`` and the session's own arguments."""
    install_locked(session, "security", runtime=False)
    session.run("python", "-m", f"ops.security.{gate}", *args, *session.posargs)


NO_COVERAGE = "--no-coverage"


def pytest(session: nox.Session, *paths: str, env: dict[str, str] | None = None) -> None:
    """Run pytest under coverage with a JUnit report named after the session.

    Arguments after ``--`` replace the default paths and options, as with pytest;
    ``--no-coverage`` among them runs pytest without measuring (a faster local loop).
    """
    JUNIT_DIR.mkdir(parents=True, exist_ok=True)
    COVERAGE_DIR.mkdir(parents=True, exist_ok=True)
    junit = JUNIT_DIR / f"{session.name}.xml"
    # Deploy tests build releases with uv: tell them which one nox uses.
    run_env = {"COVERAGE_FILE": str(COVERAGE_DIR / ".coverage"), "UV": uv(session), **(env or {})}
    args = [arg for arg in session.posargs if arg != NO_COVERAGE] or list(paths)
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
    session.run("coverage", "xml", "-o", str(REPORTS / "coverage.xml"), env=env)
    session.run("coverage", "html", "-d", str(REPORTS / "coverage-html"), env=env)
    summary = session.run("coverage", "report", "--format=markdown", env=env, silent=True)
    tests = junit_markdown(JUNIT_DIR) if JUNIT_DIR.is_dir() else "No test reports found.\n"
    session.log("test reports:\n" + tests)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary and isinstance(summary, str):
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(f"## Tests\n\n{tests}\n## Coverage\n\n{summary}\n")
    session.run("coverage", "report", f"--fail-under={fail_under:g}", env=env)


def lock(session: nox.Session) -> None:
    """Check the lock; with ``--update`` re-lock, with ``--upgrade`` re-lock to the newest."""
    options = set(session.posargs)
    unknown = options - {"--update", "--upgrade"}
    if unknown:
        session.error(f"unknown option(s) {', '.join(sorted(unknown))}: use --update or --upgrade")
    executable = uv(session)
    if "--upgrade" in options:
        session.run(executable, "lock", "--upgrade", external=True)
    elif "--update" in options:
        session.run(executable, "lock", external=True)
    else:
        try:
            session.run(executable, "lock", "--check", external=True)
        except CommandFailed:
            session.error(STALE_LOCK)
