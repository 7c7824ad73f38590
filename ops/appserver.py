"""Run the trading app as a child process: start, wait for readiness, stop by pid.

Used by the live API checks, the deploy platform and the disaster-recovery
drill, and by the tests that need a real server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ops.project import ROOT


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerFailed(RuntimeError):
    """The server exited or never became ready; the message ends with its log tail."""


class AppProcess:
    """``python -m app serve`` in its own process group, logging to a file."""

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        python: str = sys.executable,
        source: Path = ROOT,
        log_path: Path | None = None,
    ) -> None:
        self.env = env
        self.cwd = cwd
        self.workers = workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.python = python
        self.source = source
        self.log_path = log_path or cwd / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [
            self.python, "-m", "app", "serve", "--port", str(self.port),
            "--workers", str(self.workers), "--no-migrate", "--graceful-timeout", "5",
        ]  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        """Start and wait until ``/ready`` answers 200, or raise :class:`ServerFailed`."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(self.source)}
        env.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                self.command(),
                env=env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers die with it
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Poll ``/ready`` until it answers 200."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise ServerFailed(f"server not ready within {timeout:g}s:\n{self.log_tail()}")

    def _signal_group(self, signum: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL to every process of the server), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, grace: float = 20) -> None:
        """Stop gracefully (SIGTERM), killing after ``grace`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
