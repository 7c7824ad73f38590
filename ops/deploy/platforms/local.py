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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops.core.commands import CommandError
from ops.core.exits import CannotRun, one_line
from ops.core.processes import PidFile, log_tail, read_pid_file, spawn
from ops.core.uv import find_uv
from ops.deploy.gates import Target
from ops.deploy.platforms.base import Candidate, PlatformError
from ops.deploy.platforms.proxy import CaddyProxy, find_caddy
from ops.deploy.platforms.releases import Release, ReleaseStore
from ops.environments import EnvironmentDefinition
from ops.live.client import VERSION_HEADER, ApiUnreachable, TradingClient
from ops.live.server import app_cli, app_env

SLOTS = ("blue", "green")
# After the switch, new connections go to the new socket at once; connections
# already dialled to the old one get this long to be served before it stops.
SWITCH_SETTLE_SECONDS = 1.0
DISCARD_GRACE_SECONDS = 5.0
# A draining release gets its graceful time-out, and this much more, before SIGKILL.
DRAIN_MARGIN_SECONDS = 5.0
PUBLIC_PROBE_SECONDS = 3.0


class LocalPlatform:
    """Blue/green process slots behind one Caddy, all under the environment's state dir."""

    name = "local"

    def __init__(
        self, environment: EnvironmentDefinition, secrets: Mapping[str, str], env: Mapping[str, str]
    ) -> None:
        self.environment = environment
        self.secrets = dict(secrets)
        self.env = dict(env)
        self.state = environment.state_dir
        self.run_dir = self.state / "run"
        self.releases = ReleaseStore(self.state / "releases", env)
        self.proxy = CaddyProxy(self.run_dir, environment.local.proxy_port, env)
        self.notes: list[str] = []

    # -- paths and slot records ------------------------------------------------

    def socket(self, slot: str) -> Path:
        """The Unix socket of a slot."""
        return self.run_dir / f"{slot}.sock"

    def _pid_path(self, slot: str) -> Path:
        return self.run_dir / f"{slot}.pid"

    def _meta_path(self, slot: str) -> Path:
        return self.run_dir / f"{slot}.json"

    def slot_record(self, slot: str) -> PidFile | None:
        """The process running in ``slot``, if it is alive (stale records are cleared)."""
        record = read_pid_file(self._pid_path(slot))
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

    def _other(self, slot: str | None) -> str:
        return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]

    # -- Platform protocol -------------------------------------------------------

    def preflight(self) -> None:
        """uv and caddy must be installed."""
        try:
            find_uv(self.env)
            find_caddy(self.env)
        except CommandError as error:
            raise CannotRun(f"{self.name}: {one_line(error)}") from None

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
        release = self.releases.build(version, source)
        return f"release {release.path} ({'reused' if reused else 'built'})"

    def _settings(self, version: str) -> dict[str, str]:
        """The app's settings for ``version``: the definition's, the secrets, shared data."""
        shared = self.environment.shared_data_dir
        shared.mkdir(parents=True, exist_ok=True)
        return {
            "HOME": str(self.state),
            **self.environment.app,
            **self.secrets,
            "DATA_DIR": str(shared),
            "DATABASE_URL": self.environment.database_url(self.secrets),
            "APP_VERSION": version,
            "GIT_SHA": version,
        }

    def _release(self, version: str) -> Release:
        """A built release of ``version``."""
        release = self.releases.get(version)
        if release is None:
            kept = ", ".join(self.available_versions()) or "none"
            raise PlatformError(f"release {version} is not built (kept: {kept})")
        return release

    def _app(self, version: str, *args: str) -> None:
        """``python -m app ARGS`` with the release's own interpreter and settings."""
        release = self._release(version)
        app_cli(
            *args, settings=self._settings(version), env=self.env, cwd=release.path,
            python=release.python, source=release.path,
        ).checked(words=4)  # fmt: skip

    def migrate(self, version: str) -> str:
        """Run the release's migrations (and the idempotent demo seed where configured)."""
        self._app(version, "migrate")
        if self.environment.seed_demo_data:
            self._app(version, "seed")
            return "migrated to head; demo data seeded"
        return "migrated to head"

    def start(self, version: str) -> Candidate:
        """Start ``version`` in the idle slot on its own socket."""
        slot = self._other(self.serving_slot())
        leftover = self.slot_record(slot)
        if leftover is not None:
            self.notes.append(f"stopped a leftover process in idle slot {slot}")
            leftover.stop(DISCARD_GRACE_SECONDS)
        sock = self.socket(slot)
        sock.unlink(missing_ok=True)
        release = self._release(version)
        log_path = self.state / "logs" / f"{slot}-{version}-{int(time.time())}.log"
        command = [
            str(release.python), "-m", "app", "serve", "--uds", str(sock),
            "--workers", str(self.environment.local.workers), "--no-migrate",
            "--forwarded-allow-ips", "*",
            "--graceful-timeout", f"{self.environment.timeouts.drain_seconds:g}",
        ]  # fmt: skip
        settings = self._settings(version)
        spawn(
            command, env=app_env(self.env, settings, source=release.path), cwd=release.path,
            log_path=log_path, pid_path=self._pid_path(slot),
        )  # fmt: skip
        meta = {"version": version, "started_at": time.time(), "log": str(log_path)}
        self._meta_path(slot).write_text(json.dumps(meta))
        notes, self.notes = self.notes, []
        return Candidate(version, Target("http://candidate", uds=sock), slot, log_path, notes)

    def alive(self, candidate: Candidate) -> bool:
        """True while the candidate's process runs."""
        return self.slot_record(candidate.slot) is not None

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        """The candidate's last log lines."""
        return log_tail(candidate.log_path, lines)

    def switch(self, candidate: Candidate) -> str:
        """Start the proxy if needed, then re-point ``current.sock`` at the candidate."""
        started = self.proxy.ensure_running()
        self.proxy.point_to(self.socket(candidate.slot))
        started_note = "started the proxy; " if started else ""
        return f"{started_note}proxy now sends to slot {candidate.slot}"

    def drain(self, candidate: Candidate) -> str:
        """Stop the other slot gracefully (in-flight requests finish first)."""
        other = self._other(candidate.slot)
        record = self.slot_record(other)
        if record is None:
            return "no previous release was running"
        time.sleep(SWITCH_SETTLE_SECONDS)
        graceful = record.stop(self.environment.timeouts.drain_seconds + DRAIN_MARGIN_SECONDS)
        self.socket(other).unlink(missing_ok=True)
        how = "drained" if graceful else "killed after the drain timeout"
        return f"stopped {self.slot_version(other)} in slot {other} ({how})"

    def discard(self, candidate: Candidate) -> str:
        """Stop the candidate; the serving slot is untouched."""
        record = read_pid_file(self._pid_path(candidate.slot))
        if record is not None:
            record.stop(DISCARD_GRACE_SECONDS)
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
            "public": public_probe(self.environment.public_url, self.environment.version_path),
        }

    def down(self) -> list[str]:
        """Stop both slots and the proxy; releases and data stay."""
        stopped = []
        for slot in SLOTS:
            record = self.slot_record(slot)
            if record is not None:
                record.stop(self.environment.timeouts.drain_seconds + DRAIN_MARGIN_SECONDS)
                stopped.append(f"slot {slot} ({self.slot_version(slot)})")
            self.socket(slot).unlink(missing_ok=True)
        if self.proxy.stop():
            stopped.append("proxy")
        return stopped

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Remove releases beyond the newest ``keep``."""
        return self.releases.prune(keep, protect)


def public_probe(public_url: str, path: str) -> dict[str, Any]:
    """What ``path`` (a version endpoint) answers on the public URL, or the error."""
    with TradingClient(public_url, timeout=PUBLIC_PROBE_SECONDS) as client:
        try:
            response = client.request("GET", path)
        except ApiUnreachable as error:
            return {"reachable": False, "error": str(error)}
    return {
        "reachable": True,
        "status": response.status_code,
        "version": response.headers.get(VERSION_HEADER),
    }
