"""The trading app as a child process: its CLI, a server on a free port, a seeded server.

Used by the API fuzzer, the API security gate, the perf session, the DR drill
and the tests that need a real server. The child sees only the variables it is
given (plus PATH and coverage's, see :func:`ops.core.environ.child_env`), with
the source tree on ``PYTHONPATH``.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.services.seed import DEMO_ADMIN, DEMO_PASSWORD
from ops.core.commands import Completed, run
from ops.core.environ import child_env
from ops.core.exits import CannotRun
from ops.core.processes import Process, free_port, pinned, wait_for
from ops.live.client import TradingClient
from ops.project import REPORTS, ROOT

READY_PATH = "/ready"
# Limits so high that no test or fuzzer meets them (the security gate sets its own).
UNLIMITED = {"RATE_LIMIT_PER_IP": "1000000", "RATE_LIMIT_PER_USER": "1000000"}


class ServerFailed(CannotRun):
    """The server exited or never became ready; the message ends with its log tail."""


def app_env(
    env: Mapping[str, str], settings: Mapping[str, str], source: Path = ROOT
) -> dict[str, str]:
    """A child's environment for the app: ``settings`` and the source on PYTHONPATH."""
    return child_env(env, {"PYTHONPATH": str(source), **settings})


def app_cli(
    *args: str,
    settings: Mapping[str, str],
    env: Mapping[str, str],
    cwd: Path,
    python: str | Path = sys.executable,
    source: Path = ROOT,
    timeout: float = 120,
) -> Completed:
    """``python -m app ARGS`` with exactly ``settings`` (and PATH); never raises for a status."""
    command = [str(python), "-m", "app", *args]
    return run(command, env=app_env(env, settings, source), cwd=cwd, timeout=timeout)


class AppServer:
    """``python -m app serve`` on 127.0.0.1 and a free port, logging to a file."""

    def __init__(
        self,
        settings: Mapping[str, str],
        cwd: Path,
        *,
        env: Mapping[str, str],
        workers: int = 1,
        port: int | None = None,
        python: str | Path = sys.executable,
        source: Path = ROOT,
        log_path: Path | None = None,
        cpus: Sequence[int] | None = None,
    ) -> None:
        self.settings = dict(settings)
        self.cwd = cwd
        self.workers = workers
        self.cpus = tuple(cpus or ())
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or cwd / f"server-{self.port}.log"
        self.process = Process(
            self.command(python), env=app_env(env, self.settings, source), cwd=cwd,
            log_path=self.log_path,
        )  # fmt: skip

    def command(self, python: str | Path = sys.executable) -> list[str]:
        """The command line that starts the server (on ``cpus`` when given)."""
        serve = [
            str(python), "-m", "app", "serve", "--port", str(self.port),
            "--workers", str(self.workers), "--no-migrate", "--graceful-timeout", "5",
        ]  # fmt: skip
        return pinned(serve, self.cpus)

    def start(self, timeout: float = 60) -> AppServer:
        """Start and wait until ``/ready`` answers 200, or raise :class:`ServerFailed`."""
        self.process.start()
        with TradingClient(self.url, timeout=2) as client:
            waited = wait_for(client.probe(READY_PATH), timeout=timeout, alive=self.process.alive)
        if waited.exited:
            code = self.process.returncode
            raise ServerFailed(f"server exited with {code}:\n{self.log_tail()}")
        if not waited.ready:
            self.stop()
            raise ServerFailed(f"server not ready within {timeout:g}s:\n{self.log_tail()}")
        return self

    def alive(self) -> bool:
        """True while the server runs."""
        return self.process.alive()

    def stop(self, grace: float = 20) -> bool:
        """Stop gracefully (SIGTERM), killing after ``grace`` seconds."""
        return self.process.stop(grace)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL to every process of the server), as a crash would."""
        self.process.kill()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote."""
        return self.process.log_tail(lines)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def seeded_server(
    env: Mapping[str, str],
    settings: Mapping[str, str] | None = None,
    log_dir: Path = REPORTS / "api",
    *,
    workers: int = 1,
    cpus: Sequence[int] | None = None,
) -> Iterator[AppServer]:
    """A migrated app with the demo users (password :data:`~app.services.seed.DEMO_PASSWORD`)
    on a free port, in a temporary directory, stopped on exit; ``settings`` may point it
    at PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``)."""
    with tempfile.TemporaryDirectory(prefix="trading-live-") as directory:
        workdir = Path(directory)
        values = {
            "ENVIRONMENT": "testing",
            "DATA_DIR": str(workdir / "var"),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "LOG_LEVEL": "WARNING",
            **UNLIMITED,
            **(settings or {}),
        }
        for step in ("migrate", "seed"):
            done = app_cli(step, settings=values, env=env, cwd=workdir)
            if not done.ok:
                raise ServerFailed(f"python -m app {step} failed: {done.stderr.strip()[-300:]}")
        server = AppServer(values, workdir, env=env, log_path=log_dir / "server.log",
                           workers=workers, cpus=cpus)  # fmt: skip
        with server:
            yield server


def funded_admin(base_url: str) -> TradingClient:
    """A client logged in as the demo admin, with cash and holdings so that orders can
    succeed and trade (the fuzzer and the security gate act as this user)."""
    client = TradingClient(base_url)
    client.login(DEMO_ADMIN, DEMO_PASSWORD)
    account_id = client.me()["account_id"]
    client.deposit(account_id, "1000000")
    client.transfer_in(account_id, "AAPL", "1000", "190")
    return client
