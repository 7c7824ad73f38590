"""Developer tasks: run the app locally, migrate, seed (the logic behind tasks.py)."""

from __future__ import annotations

import shlex
import sys

from invoke.context import Context

APP = f"{shlex.quote(sys.executable)} -m app"


def dev(c: Context, host: str, port: int, reload: bool) -> None:
    """Migrate and seed the embedded database, then serve with auto-reload."""
    c.run(f"{APP} migrate", echo=True)
    c.run(f"{APP} seed", echo=True)
    flags = "--reload" if reload else ""
    c.run(f"{APP} serve --host {shlex.quote(host)} --port {port} {flags}", echo=True, pty=False)


def migrate(c: Context, revision: str, downgrade: str | None, check: bool) -> None:
    """Apply (or check, or revert) migrations on the configured database."""
    if check:
        c.run(f"{APP} migrate --check", echo=True)
    elif downgrade:
        c.run(f"{APP} migrate --downgrade {shlex.quote(downgrade)}", echo=True)
    else:
        c.run(f"{APP} migrate --revision {shlex.quote(revision)}", echo=True)


def seed(c: Context, as_json: bool) -> None:
    """Create the demo users, funds and holdings (idempotent)."""
    c.run(f"{APP} seed{' --json' if as_json else ''}", echo=not as_json)
