"""The local platform's parts (proxy switch, releases) and the gates, against real servers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ops.core.commands import ToolNotFound
from ops.core.stats import percentile
from ops.deploy import gates
from ops.deploy.gates import GateFailed, SmokeCredentials, Target
from ops.deploy.platforms import PlatformError
from ops.deploy.platforms.local import public_probe
from ops.deploy.platforms.proxy import CaddyProxy, find_caddy
from ops.deploy.platforms.releases import ReleaseStore
from ops.project import ROOT
from tests.support.http import LocalServer

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def test_proxy_config_and_atomic_switch(tmp_path: Path) -> None:
    proxy = CaddyProxy(tmp_path, 18080, ENV)
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
    assert Path(find_caddy(ENV)).exists()
    assert not proxy.stop()


def test_a_missing_caddy_names_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(ToolNotFound, match="caddy not found: it is installed by the `ops`"):
        find_caddy({"PATH": "/nonexistent"})


def test_the_proxy_refuses_a_port_in_use(tmp_path: Path) -> None:
    with HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as busy:
        proxy = CaddyProxy(tmp_path, busy.server_address[1], ENV)
        with pytest.raises(PlatformError, match=r"port \d+ is already in use by another program"):
            proxy.ensure_running()


def test_releases_are_built_once_and_pruned(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "releases", os.environ)
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
    store = ReleaseStore(tmp_path / "releases", os.environ)
    (tmp_path / "src").mkdir()
    with pytest.raises(PlatformError, match=r"building release bad failed: .*pyproject\.toml is"):
        store.build("bad", tmp_path / "src")
    assert not (tmp_path / "releases" / "bad").exists()


def test_a_failed_install_names_uv_and_leaves_nothing(tmp_path: Path) -> None:
    fake_uv = tmp_path / "uv"
    fake_uv.write_text("#!/bin/sh\necho 'error: the lock is out of date' >&2\nexit 2\n")
    fake_uv.chmod(0o755)
    store = ReleaseStore(tmp_path / "releases", {**ENV, "UV": str(fake_uv)})
    with pytest.raises(PlatformError, match=r"uv sync --locked failed \(exit 2\): the lock is out"):
        store.build("r1", ROOT)
    assert not (tmp_path / "releases" / "r1").exists()


class FakeApp(BaseHTTPRequestHandler):
    """A release that serves v1, is never ready, and has a book but no users."""

    def do_GET(self) -> None:
        body = json.dumps({"version": "v1", "bids": [], "asks": []}).encode()
        self.send_response(503 if self.path == "/ready" else 200)
        self.send_header("X-App-Version", "v1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.dumps({"error": {"code": "unauthorized", "message": "bad password"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[Target]:
    with LocalServer(FakeApp) as local:
        yield Target(local.url)


CREDENTIALS = SmokeCredentials("a@example.com", "pw")


def test_readiness_fails_with_what_it_saw(server: Target) -> None:
    with pytest.raises(GateFailed, match=r"^not ready within 0.3s \(/ready answered 503"):
        gates.readiness(server, "/ready", timeout=0.3, alive=lambda: True)
    with pytest.raises(GateFailed, match=r"^the process exited while starting$"):
        gates.readiness(server, "/ready", timeout=5, alive=lambda: False)
    assert gates.readiness(server, "/health", timeout=1, alive=lambda: True) == (
        "/health answered 200"
    )


def test_smoke_names_the_check_that_failed(server: Target) -> None:
    assert gates.smoke(server, ["health", "book"], "v1", CREDENTIALS) == [
        "healthy", "book has 0 bid and 0 ask levels",
    ]  # fmt: skip
    with pytest.raises(GateFailed, match=r"^smoke:version: serves version 'v1', expected 'v2'$"):
        gates.smoke(server, ["health", "version"], "v2", CREDENTIALS)
    with pytest.raises(
        GateFailed,
        match=r"^smoke:place_cancel: log in as a@example.com: expected 200, got 401: unauthorized",
    ):
        gates.smoke(server, ["place_cancel"], "v1", CREDENTIALS)


def test_smoke_through_an_unreachable_target_names_the_request() -> None:
    with pytest.raises(GateFailed, match=r"^smoke:health: GET /health: ConnectError"):
        gates.smoke(Target("http://127.0.0.1:9"), ["health"], "v1", CREDENTIALS)


def test_latency_within_and_over_budget(server: Target) -> None:
    assert gates.latency(server, "/health", probes=5, budget_ms=10_000).startswith("p95 ")
    with pytest.raises(GateFailed, match=r"^p95 .* over 5 probes of /health \(budget 1e-06 ms\)"):
        gates.latency(server, "/health", probes=5, budget_ms=0.000001)
    with pytest.raises(GateFailed, match=r"^GET /ready: expected 200, got 503: "):
        gates.latency(server, "/ready", probes=2, budget_ms=10_000)


def test_verification_of_the_public_url(server: Target) -> None:
    assert gates.verify(server.base_url, "/version", "v1", timeout=1) == (
        f"{server.base_url}/version serves v1"
    )
    with pytest.raises(GateFailed, match=r"does not serve v2 \(last: 200, 'v1'\)$"):
        gates.verify(server.base_url, "/version", "v2", timeout=0.3)
    with pytest.raises(GateFailed, match=r"does not serve v2 \(last: GET /version: Connect"):
        gates.verify("http://127.0.0.1:9", "/version", "v2", timeout=0.3)


def test_public_probe(server: Target) -> None:
    assert public_probe(server.base_url, "/version") == {
        "reachable": True, "status": 200, "version": "v1",
    }  # fmt: skip
    unreachable = public_probe("http://127.0.0.1:9", "/version")
    assert not unreachable["reachable"]
    assert "ConnectError" in unreachable["error"]


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0
