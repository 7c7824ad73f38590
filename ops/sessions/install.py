"""Installing into a nox session exactly what ``uv.lock`` pins.

Every session installs with ``uv sync --locked`` into its own virtualenv (the
pattern of urllib3's noxfile), with the same arguments the releases and the
supply-chain gates use (:func:`ops.core.uv.sync_arguments`). A lock that no
longer matches ``pyproject.toml`` stops the session with the fix.
"""

from __future__ import annotations

import nox
from nox.command import CommandFailed
from nox.virtualenv import find_uv

from ops.core.exits import DONE, INCONCLUSIVE
from ops.core.uv import sync_arguments

STALE_LOCK = (
    "uv.lock does not match pyproject.toml: run `nox -s lock -- --update` "
    "(or `uv lock`) and commit uv.lock"
)
# Used only when no uv is installed anywhere (the virtualenv fallback backend).
FALLBACK_UV = "uv>=0.5"


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
    args = sync_arguments(groups, only_groups=not runtime, python=venv)
    if not find_uv()[0]:
        args.append("--inexact")  # keep the uv installed into this environment
    session.run_install(uv(session), *args, env={"UV_PROJECT_ENVIRONMENT": venv}, silent=True)


def security_gate(session: nox.Session, gate: str, *args: str) -> None:
    """Install the locked security tools and run ``python -m ops.security.<gate>`` with
    ``args`` and the session's own arguments. An inconclusive gate (exit 3: a check it
    could not make, with ``--allow-offline``) does not fail the session; the summary
    session reports it."""
    install_locked(session, "security", runtime=False)
    run_gate(session, f"ops.security.{gate.replace('-', '_')}", *args)


def run_gate(session: nox.Session, module: str, *args: str) -> None:
    """``python -m MODULE ARGS`` plus the session's arguments; exit 0 (passed) or 3
    (inconclusive: a check that could not be made, which the gate names) let the session
    go on, anything else fails it."""
    session.run("python", "-m", module, *args, *session.posargs, success_codes=[DONE, INCONCLUSIVE])


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
