"""The ``local`` platform: releases run as processes on this machine behind Caddy.

Two slots, blue and green, each an app instance listening on its own Unix
socket under ``<state>/run``. The proxy sends traffic to whichever socket
``current.sock`` points at; a deploy starts the new release in the idle slot,
gates it there, re-points the link, then drains the old slot.

State under ``<state_dir>`` (``var/deploy/<env>`` by default)::

    releases/<version>/   immutable code + virtualenv     shared/   DATA_DIR (SQLite, key)
    run/                  sockets, pid files, Caddyfile   logs/     one log per slot start
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from ops.deploy import processes
from ops.deploy.gates import Target
from ops.deploy.platforms.base import Candidate, PlatformError
from ops.deploy.proxy import CaddyProxy, ProxyError, find_caddy
from ops.deploy.release import ReleaseError, ReleaseStore, find_uv
from ops.environments import EnvironmentDefinition

SLOTS = ("blue", "green")
# After the switch, new connections go to the new socket at once; connections
# already dialled to the old one get this long to be served before it stops.
SWITCH_SETTLE_SECONDS = 1.0


class LocalPlatform:
    """Blue/green process slots behind one Caddy, all under the environment's state dir."""

    name = "local"

    def __init__(self, environment: EnvironmentDefinition, secrets: dict[str, str]) -> None:
        self.environment = environment
        self.secrets = secrets
        self.state = environment.state_dir
        self.run_dir = self.state / "run"
        self.releases = ReleaseStore(self.state / "releases")
        self.proxy = CaddyProxy(self.run_dir, environment.local.proxy_port)
        self.notes: list[str] = []

    # -- paths and slot records ------------------------------------------------

    def socket(self, slot: str) -> Path:
        """The Unix socket of a slot."""
        return self.run_dir / f"{slot}.sock"

    def _pid_path(self, slot: str) -> Path:
        return self.run_dir / f"{slot}.pid"

    def _meta_path(self, slot: str) -> Path:
        return self.run_dir / f"{slot}.json"

    def slot_record(self, slot: str) -> processes.PidFile | None:
        """The process running in ``slot``, if it is alive (stale records are cleared)."""
        record = processes.read_pid_file(self._pid_path(slot))
        if record is None:
            return None
        if not record.alive():
            self.notes.append(f"cleared stale pid file of slot {slot} (pid {record.pid})")
            self._pid_path(slot).unlink(missing_ok=True)
            return None
        return record

    def slot_version(self, slot: str) -> str | None:
        """The version last started in ``slot``."""
        try:
            return str(json.loads(self._meta_path(slot).read_text())["version"])
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def serving_slot(self) -> str | None:
        """The slot the proxy points at."""
        target = self.proxy.target()
        return next((slot for slot in SLOTS if target == self.socket(slot)), None)

    # -- Platform protocol -------------------------------------------------------

    def preflight(self) -> None:
        """uv and caddy must be installed."""
        try:
            find_uv()
            find_caddy()
        except (ReleaseError, ProxyError) as error:
            raise PlatformError(str(error)) from None

    def serving_version(self) -> str | None:
        """The version in the slot the proxy points at, if that slot runs."""
        slot = self.serving_slot()
        if slot is None or self.slot_record(slot) is None:
            return None
        return self.slot_version(slot)

    def available_versions(self) -> list[str]:
        """Kept releases, oldest first."""
        return [release.version for release in self.releases.all()]

    def build(self, version: str, source: Path) -> str:
        """Build (or reuse) the immutable release directory."""
        reused = self.releases.get(version) is not None
        try:
            release = self.releases.build(version, source)
        except ReleaseError as error:
            raise PlatformError(str(error)) from None
        return f"release {release.path} ({'reused' if reused else 'built'})"

    def _app_env(self, version: str) -> dict[str, str]:
        shared = self.environment.shared_data_dir
        shared.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.state),
            **self.environment.app,
            **self.secrets,
            "DATA_DIR": str(shared),
            "DATABASE_URL": self.environment.database_url(self.secrets),
            "APP_VERSION": version,
            "GIT_SHA": version,
        }
        env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE")})
        return env

    def _python(self, version: str) -> Path:
        release = self.releases.get(version)
        if release is None:
            raise PlatformError(
                f"release {version} is not built (kept: {self.available_versions()})"
            )
        return release.python

    def _run_app(self, version: str, *args: str) -> None:
        release = self.releases.root / version
        result = subprocess.run(  # noqa: S603 - the release's own interpreter
            [str(self._python(version)), "-m", "app", *args],
            cwd=release,
            env=self._app_env(version),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise PlatformError(f"app {' '.join(args)} failed: {lines[-1] if lines else '?'}")

    def migrate(self, version: str) -> str:
        """Run the release's migrations (and the idempotent demo seed where configured)."""
        self._run_app(version, "migrate")
        if self.environment.seed_demo_data:
            self._run_app(version, "seed")
            return "migrated to head; demo data seeded"
        return "migrated to head"

    def _idle_slot(self) -> str:
        serving = self.serving_slot()
        return SLOTS[1] if serving == SLOTS[0] else SLOTS[0]

    def start(self, version: str) -> Candidate:
        """Start ``version`` in the idle slot on its own socket."""
        slot = self._idle_slot()
        leftover = self.slot_record(slot)
        if leftover is not None:
            self.notes.append(f"stopped a leftover process in idle slot {slot}")
            processes.stop(leftover, grace=5)
        sock = self.socket(slot)
        if sock.exists():
            sock.unlink()
        python = self._python(version)
        log_path = self.state / "logs" / f"{slot}-{version}-{int(time.time())}.log"
        command = [
            str(python), "-m", "app", "serve", "--uds", str(sock),
            "--workers", str(self.environment.local.workers), "--no-migrate",
            "--forwarded-allow-ips", "*",
            "--graceful-timeout", f"{self.environment.timeouts.drain_seconds:g}",
        ]  # fmt: skip
        processes.spawn(
            command,
            pid_path=self._pid_path(slot),
            log_path=log_path,
            env=self._app_env(version),
            cwd=self.releases.root / version,
        )
        meta = {"version": version, "started_at": time.time(), "log": str(log_path)}
        self._meta_path(slot).write_text(json.dumps(meta))
        return Candidate(version, Target("http://candidate", uds=sock), slot, log_path)

    def alive(self, candidate: Candidate) -> bool:
        """True while the candidate's process runs."""
        return self.slot_record(candidate.slot) is not None

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        """The candidate's last log lines."""
        if candidate.log_path is None:
            return "(no log)"
        return processes.log_tail(candidate.log_path, lines)

    def switch(self, candidate: Candidate) -> str:
        """Start the proxy if needed, then re-point ``current.sock`` at the candidate."""
        try:
            started = self.proxy.ensure_running()
        except ProxyError as error:
            raise PlatformError(str(error)) from None
        self.proxy.point_to(self.socket(candidate.slot))
        started_note = "started the proxy; " if started else ""
        return f"{started_note}proxy now sends to slot {candidate.slot}"

    def drain(self, candidate: Candidate) -> str:
        """Stop the other slot gracefully (in-flight requests finish first)."""
        other = SLOTS[1] if candidate.slot == SLOTS[0] else SLOTS[0]
        record = self.slot_record(other)
        if record is None:
            return "no previous release was running"
        time.sleep(SWITCH_SETTLE_SECONDS)
        grace = self.environment.timeouts.drain_seconds + 5
        graceful = processes.stop(record, grace=grace)
        self.socket(other).unlink(missing_ok=True)
        version = self.slot_version(other)
        how = "drained" if graceful else "killed after the drain timeout"
        return f"stopped {version} in slot {other} ({how})"

    def discard(self, candidate: Candidate) -> str:
        """Stop the candidate; the serving slot is untouched."""
        record = processes.read_pid_file(self._pid_path(candidate.slot))
        if record is not None:
            processes.stop(record, grace=5)
        self.socket(candidate.slot).unlink(missing_ok=True)
        self._meta_path(candidate.slot).unlink(missing_ok=True)
        return f"stopped candidate {candidate.version} in slot {candidate.slot}"

    def status(self) -> dict[str, Any]:
        """Proxy, slots, and what the public URL serves."""
        serving = self.serving_slot()
        slots = {}
        for slot in SLOTS:
            record = self.slot_record(slot)
            slots[slot] = {
                "version": self.slot_version(slot) if record else None,
                "pid": record.pid if record else None,
                "running": record is not None,
                "serving": slot == serving and record is not None,
            }
        proxy = self.proxy.record()
        return {
            "proxy": {
                "running": proxy is not None,
                "port": self.proxy.port,
                "pid": proxy.pid if proxy else None,
            },
            "slots": slots,
            "public": public_probe(self.environment.url(self.environment.version_path)),
        }

    def down(self) -> list[str]:
        """Stop both slots and the proxy; releases and data stay."""
        stopped = []
        for slot in SLOTS:
            record = self.slot_record(slot)
            if record is not None:
                processes.stop(record, grace=self.environment.timeouts.drain_seconds + 5)
                stopped.append(f"slot {slot} ({self.slot_version(slot)})")
            self.socket(slot).unlink(missing_ok=True)
        if self.proxy.stop():
            stopped.append("proxy")
        return stopped

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Remove releases beyond the newest ``keep``."""
        return self.releases.prune(keep, protect)


def public_probe(url: str) -> dict[str, Any]:
    """What ``url`` (a version endpoint) answers, or the error."""
    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError as error:
        return {"reachable": False, "error": type(error).__name__}
    return {
        "reachable": True,
        "status": response.status_code,
        "version": response.headers.get("X-App-Version"),
    }
