"""Containers of the image under check: started on the host network with their own
port, their settings from a private env file (a secret never reaches a command line
or a log), and always removed at the end.

The host network is what lets a container reach this machine's PostgreSQL and Redis,
and lets the drain gate see the app's own socket rather than a port proxy's.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.core.commands import Completed
from ops.image.engine import Engine

NAME_PREFIX = "trading-image-check"


def unique_name(purpose: str) -> str:
    """A container or volume name no other run uses."""
    return f"{NAME_PREFIX}-{purpose}-{secrets.token_hex(4)}"


@contextmanager
def env_file(settings: Mapping[str, str]) -> Iterator[Path]:
    """``settings`` in a private (0600) file for ``--env-file``, deleted afterwards."""
    fd, name = tempfile.mkstemp(prefix="image-check-", suffix=".env")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in settings.items())
        yield path
    finally:
        path.unlink(missing_ok=True)


@dataclass
class Container:
    """One container of the image, by name."""

    engine: Engine
    name: str
    logs_seen: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        """``docker inspect``'s ``State`` (empty once the container is gone)."""
        done = self.engine.run("inspect", "--format", "{{json .State}}", self.name, timeout=60)
        return json.loads(done.stdout) if done.ok and done.stdout.strip() else {}

    def running(self) -> bool:
        """True while the container runs."""
        return bool(self.state().get("Running"))

    def health(self) -> str:
        """The HEALTHCHECK's status (``starting``, ``healthy``, ``unhealthy``), or ``none``
        when the image has no HEALTHCHECK."""
        health = self.state().get("Health")
        return str(health.get("Status", "none")) if isinstance(health, dict) else "none"

    def logs(self) -> str:
        """Everything it printed, stdout and stderr."""
        done = self.engine.run("logs", self.name, timeout=60)
        return done.stdout + done.stderr

    def log_tail(self, lines: int = 3) -> str:
        """Its last lines, joined for a one-line message."""
        tail = [line.strip() for line in self.logs().splitlines() if line.strip()]
        return " / ".join(tail[-lines:]) or "no output"

    def exec(self, *command: str) -> Completed:
        """``docker exec`` in it."""
        return self.engine.run("exec", self.name, *command, timeout=60)

    def stop(self, seconds: float) -> Completed:
        """``docker stop``: the image's stop signal, then SIGKILL after ``seconds``."""
        return self.engine.run(
            "stop", "--time", str(round(seconds)), self.name, timeout=seconds + 60
        )

    def exit_code(self) -> int | None:
        """How it ended (None while it runs)."""
        state = self.state()
        return None if state.get("Running") or "ExitCode" not in state else int(state["ExitCode"])

    def remove(self) -> None:
        """Remove it, running or not."""
        self.engine.run("rm", "--force", "--volumes", self.name, timeout=120)


@contextmanager
def started(
    engine: Engine,
    image: str,
    *,
    purpose: str,
    settings: Mapping[str, str],
    options: tuple[str, ...] = (),
    command: tuple[str, ...] = (),
) -> Iterator[Container]:
    """A detached container of ``image`` with ``settings`` as its environment; removed
    when the block ends."""
    container = Container(engine, unique_name(purpose))
    with env_file(settings) as path:
        engine.docker(
            "run",
            "--detach",
            "--name",
            container.name,
            "--env-file",
            str(path),
            *options,
            image,
            *command,
            timeout=120,
        )
    try:
        yield container
    finally:
        container.remove()


def one_off(
    engine: Engine,
    image: str,
    *,
    settings: Mapping[str, str],
    options: tuple[str, ...] = (),
    command: tuple[str, ...] = (),
    timeout: float,
) -> Completed:
    """Run ``image`` once to completion (``--rm``) and return how it ended."""
    with env_file(settings) as path:
        return engine.run(
            "run", "--rm", "--env-file", str(path), *options, image, *command, timeout=timeout
        )


@contextmanager
def volume(engine: Engine, purpose: str) -> Iterator[str]:
    """A named volume, removed at the end."""
    name = unique_name(purpose)
    engine.docker("volume", "create", name, timeout=60)
    try:
        yield name
    finally:
        engine.run("volume", "rm", "--force", name, timeout=60)
