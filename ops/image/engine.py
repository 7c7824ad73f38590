"""The Docker engine the image tasks talk to: the one ``DOCKER_HOST`` (or the default
socket) names, else a private ``dockerd`` this machine can start.

A private engine keeps its images under ``~/.cache/trading-platform/docker`` (so the
stand-in base and earlier builds survive from one run to the next on the same machine),
listens on its own socket, is recorded in a pid file and reused by the next task while
it runs; the task that started it stops it when it ends. ``dockerd`` runs only as root:
elsewhere, with no engine reachable, the tasks cannot run (exit 2, one line).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ops.core.commands import CommandError, Completed, find_executable, run
from ops.core.environ import child_env
from ops.core.exits import CannotRun
from ops.core.processes import PidFile, read_pid_file, spawn, wait_for

DEFAULT_SOCKET = Path("/var/run/docker.sock")
CACHE_DIR = Path.home() / ".cache" / "trading-platform"
START_SECONDS = 60.0
HINT = "install Docker (Debian: apt-get install -y docker.io) or set DOCKER_HOST"


@dataclass(frozen=True)
class Engine:
    """A reachable Docker engine: ``docker`` commands run against ``host``."""

    host: str
    env: Mapping[str, str]

    def environment(self, **extra: str) -> dict[str, str]:
        """The variables a ``docker`` command runs with (classic builder: BuildKit would
        fetch a frontend image, which these machines cannot pull)."""
        keep = ("HOME", "SSL_CERT_FILE")
        return child_env(
            self.env, {"DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0", **extra}, keep=keep
        )

    def run(self, *args: str, timeout: float = 900, stdin: str | bytes | None = None) -> Completed:
        """``docker ARGS``, never raising for its exit status."""
        docker = find_executable("docker", hint=HINT, env=self.env)
        return run([docker, *args], env=self.environment(), timeout=timeout, stdin=stdin)

    def docker(self, *args: str, timeout: float = 900, stdin: str | bytes | None = None) -> str:
        """``docker ARGS``; its output, or :class:`~ops.core.commands.CommandFailed`."""
        return self.run(*args, timeout=timeout, stdin=stdin).checked(words=2).stdout

    def has_image(self, reference: str) -> bool:
        """True when the engine holds ``reference``."""
        return self.run("image", "inspect", reference, timeout=60).ok

    def answers(self) -> bool:
        """True when the engine answers ``docker version``."""
        try:
            return self.run("version", "--format", "{{.Server.Version}}", timeout=20).ok
        except CommandError:
            return False


def _host(env: Mapping[str, str]) -> str | None:
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    return f"unix://{DEFAULT_SOCKET}" if DEFAULT_SOCKET.exists() else None


@dataclass(frozen=True)
class PrivateEngine:
    """Where a private ``dockerd`` keeps its state and listens."""

    root: Path

    @property
    def data_root(self) -> Path:
        """Images and containers (kept between runs)."""
        return self.root / "data"

    @property
    def run_dir(self) -> Path:
        """Socket, pid file and log; a short path (a socket path has at most 107 bytes)."""
        # A fixed place, so every task (and .ci/run) finds the one engine of this user.
        return Path("/tmp") / f"trading-docker-{os.getuid()}"  # noqa: S108

    @property
    def socket(self) -> Path:
        """The engine's socket."""
        return self.run_dir / "docker.sock"

    @property
    def pid_file(self) -> Path:
        """Who runs it."""
        return self.run_dir / "dockerd.pid.json"

    def running(self) -> PidFile | None:
        """The engine this machine already runs, if any."""
        record = read_pid_file(self.pid_file)
        return record if record is not None and record.alive() else None

    def start(self, env: Mapping[str, str]) -> PidFile:
        """Start ``dockerd`` detached (as root) and wait until it answers."""
        if os.geteuid() != 0:
            raise CannotRun(f"no Docker engine reachable, and dockerd needs root: {HINT}")
        dockerd = find_executable("dockerd", hint=HINT, env=env)
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        command = [
            dockerd,
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--host=unix://{self.socket}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
        ]
        record = spawn(
            command,
            env=child_env(env),
            cwd=self.run_dir,
            log_path=self.run_dir / "dockerd.log",
            pid_path=self.pid_file,
        )
        engine = Engine(f"unix://{self.socket}", env)
        waited = wait_for(
            lambda: (engine.answers(), "no answer"),
            timeout=START_SECONDS,
            interval=0.3,
            alive=record.alive,
        )
        if not waited.ready:
            tail = (self.run_dir / "dockerd.log").read_text(errors="replace").splitlines()[-3:]
            record.stop(grace=10)
            raise CannotRun(f"dockerd did not start: {' / '.join(tail) or 'no log'}")
        return record


@contextmanager
def connected(env: Mapping[str, str], cache: Path = CACHE_DIR) -> Iterator[Engine]:
    """The engine to use: ``DOCKER_HOST``/the default socket when it answers, else a
    private one already running, else one started now (and stopped at the end)."""
    host = _host(env)
    if host is not None:
        engine = Engine(host, env)
        if not engine.answers():
            raise CannotRun(f"the Docker engine at {host} does not answer: {HINT}")
        yield engine
        return
    private = PrivateEngine(cache / "docker")
    if private.running() is not None:
        yield Engine(f"unix://{private.socket}", env)
        return
    record = private.start(env)
    try:
        yield Engine(f"unix://{private.socket}", env)
    finally:
        record.stop(grace=20)


def server_version(engine: Engine) -> str:
    """The engine's version, for reports."""
    return engine.docker("version", "--format", "{{.Server.Version}}", timeout=60).strip()
