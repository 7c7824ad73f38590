"""The local platform's parts: processes, proxy switch, releases, gates, command output."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ops.deploy import commands, gates, processes
from ops.deploy.proxy import CaddyProxy, find_caddy
from ops.deploy.release import ReleaseStore
from ops.project import ROOT


def wait_for_log(path: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in processes.log_tail(path) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_processes_spawn_stop_and_stale_records(tmp_path: Path) -> None:
    record = processes.spawn(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        pid_path=tmp_path / "x.pid", log_path=tmp_path / "x.log", env={}, cwd=tmp_path,
    )  # fmt: skip
    assert record.alive()
    wait_for_log(tmp_path / "x.log", "up")
    assert processes.read_pid_file(tmp_path / "x.pid") == record
    assert processes.stop(record, grace=5)
    assert not record.alive()
    assert not (tmp_path / "x.pid").exists()
    assert processes.log_tail(tmp_path / "x.log") == "up"
    stale = processes.PidFile(tmp_path / "y.pid", 2**22 + 99, ("python",))
    assert not stale.alive()
    assert processes.stop(stale, grace=1)
    assert processes.read_pid_file(tmp_path / "missing.pid") is None
    assert processes.log_tail(tmp_path / "missing.log") == "(no log)"


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ignoring', flush=True); time.sleep(60)"
    )
    record = processes.spawn(
        [sys.executable, "-c", code],
        pid_path=tmp_path / "z.pid", log_path=tmp_path / "z.log", env={}, cwd=tmp_path,
    )  # fmt: skip
    wait_for_log(tmp_path / "z.log", "ignoring")
    assert not processes.stop(record, grace=0.5)
    assert not record.alive()


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    import os

    mine = processes.PidFile(tmp_path / "p.pid", os.getpid(), ("not", "this", "command"))
    assert not mine.alive()


def test_proxy_config_and_atomic_switch(tmp_path: Path) -> None:
    proxy = CaddyProxy(tmp_path, 18080)
    config = proxy.config()
    assert f"unix/{tmp_path / 'current.sock'}" in config
    assert "keepalive off" in config
    assert ":18080 {" in config
    assert "bind 127.0.0.1" in config
    assert proxy.target() is None
    proxy.point_to(tmp_path / "blue.sock")
    assert proxy.target() == tmp_path / "blue.sock"
    proxy.point_to(tmp_path / "green.sock")
    assert proxy.target() == tmp_path / "green.sock"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.sock"]
    assert Path(find_caddy()).exists()
    assert not proxy.stop()


def test_releases_are_built_once_and_pruned(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "releases")
    first = store.build("r1", ROOT)
    assert first.complete
    assert first.python.exists()
    assert (first.path / "app" / "main.py").exists()
    assert not list(first.path.rglob("__pycache__"))
    assert store.build("r1", ROOT).built_at() == first.built_at(), "complete releases are reused"
    (tmp_path / "releases" / "half").mkdir()  # an interrupted build is not a release
    for version in ("r2", "r3"):
        store.build(version, ROOT)
    assert [r.version for r in store.all()] == ["r1", "r2", "r3"]
    assert store.prune(keep=1, protect={"r1"}) == ["r2"]
    assert [r.version for r in store.all()] == ["r1", "r3"]


def test_release_from_an_incomplete_source_fails_and_leaves_nothing(tmp_path: Path) -> None:
    from ops.deploy.release import ReleaseError

    store = ReleaseStore(tmp_path / "releases")
    (tmp_path / "src").mkdir()
    with pytest.raises(ReleaseError, match=r"pyproject\.toml is missing"):
        store.build("bad", tmp_path / "src")
    assert not (tmp_path / "releases" / "bad").exists()


class VersionServer(BaseHTTPRequestHandler):
    version = "v1"

    def do_GET(self) -> None:
        body = json.dumps({"version": VersionServer.version, "bids": [], "asks": []}).encode()
        status = 200 if self.path != "/ready" else 503
        self.send_response(status)
        self.send_header("X-App-Version", "v1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[gates.Target]:
    httpd = HTTPServer(("127.0.0.1", 0), VersionServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield gates.Target(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.shutdown()


def test_gates_fail_with_what_they_saw(server: gates.Target) -> None:
    not_ready = gates.wait_ready(server, "/ready", timeout=0.5)
    assert not not_ready.ok
    assert "/ready answered 503" in not_ready.detail
    dead = gates.wait_ready(server, "/ready", timeout=5, alive=lambda: False)
    assert dead.detail == "the process exited while starting"
    credentials = gates.SmokeCredentials("a@example.com", "pw")
    results = gates.smoke(server, ["health", "version"], "v2", credentials)
    assert [r.ok for r in results] == [True, False]
    assert results[1].detail == "serves version 'v1', expected 'v2'"
    assert gates.latency(server, "/health", probes=5, budget_ms=10_000).ok
    slow = gates.latency(server, "/health", probes=5, budget_ms=0.000001)
    assert not slow.ok
    assert "p95" in slow.detail


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert gates.percentile(samples, 0.95) == 95.0
    assert gates.percentile([3.0], 0.95) == 3.0


def test_rendered_status_and_releases() -> None:
    status = commands.render_status(
        {
            "environment": "local", "platform": "local", "public_url": "http://x",
            "serving_version": "v2", "lock": None, "lock_stale": None,
            "public": {"reachable": True, "status": 200, "version": "v2"},
            "proxy": {"running": True, "port": 8080, "pid": 42},
            "slots": {"blue": {"version": None, "pid": None, "running": False, "serving": False},
                      "green": {"version": "v2", "pid": 7, "running": True, "serving": True}},
        }
    )  # fmt: skip
    assert "slot green    v2 (pid 7)  <- serving" in status
    assert "lock          free" in status
    releases = commands.render_releases(
        {"environment": "local", "serving": "v2", "kept": ["v1", "v2"], "history": [
            {"started_at": "t", "action": "deploy", "version": "v2", "result": "failed",
             "duration_seconds": 1.5, "who": "ana", "reason": "smoke: 500"}]}
    )  # fmt: skip
    assert "v2  <- serving" in releases
    assert "smoke: 500" in releases


def test_commands_refuse_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    definitions = tmp_path / "environments"
    definitions.mkdir()
    (definitions / "solo.toml").write_text(
        f'platform = "local"\npublic_url = "http://127.0.0.1:1"\nseed_demo_data = true\n'
        f'[local]\nstate_dir = "{tmp_path / "state"}"\nproxy_port = 1\n'
    )
    monkeypatch.setenv("DEPLOY_ENVIRONMENTS_DIR", str(definitions))
    with pytest.raises(commands.CommandError, match="no earlier successful release of solo"):
        commands.rollback("solo")
    with pytest.raises(commands.CommandError, match="release v0 is not kept"):
        commands.rollback("solo", to="v0")
    assert commands.unlock("solo") == "solo is not locked"
    with pytest.raises(commands.CommandError, match="unknown environment 'gone'"):
        commands.status("gone")
    assert commands.down("solo") == []
    assert commands.releases("solo")["kept"] == []
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("UV", raising=False)
    monkeypatch.setattr("ops.deploy.release.sys.executable", "/nonexistent/python")
    monkeypatch.setattr("ops.deploy.proxy.sys.executable", "/nonexistent/python")
    with pytest.raises(commands.CommandError, match="not found"):
        commands.deploy("solo", version="v1")


def test_pre_deploy_backup_runs_the_backup_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.db import migrate
    from ops.deploy.platforms import PlatformError
    from ops.environments import load_environment

    definitions = tmp_path / "environments"
    definitions.mkdir()
    (definitions / "guarded.toml").write_text(
        'platform = "local"\npublic_url = "http://127.0.0.1:1"\npre_deploy_backup = true\n'
        f'[backup]\nlocal_dir = "{tmp_path / "backups"}"\n'
        f'[local]\nstate_dir = "{tmp_path / "state"}"\nproxy_port = 1\n'
    )
    monkeypatch.setenv("DEPLOY_ENVIRONMENTS_DIR", str(definitions))
    environment = load_environment("guarded", definitions)
    with pytest.raises(PlatformError, match="pre-deploy backup failed"):
        commands.pre_deploy_backup(environment, {})
    environment.shared_data_dir.mkdir(parents=True)
    migrate.upgrade(environment.database_url({}))
    assert commands.pre_deploy_backup(environment, {})
    assert list((tmp_path / "backups").rglob("manifest.json"))
