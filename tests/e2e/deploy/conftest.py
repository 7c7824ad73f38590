"""A throwaway `local` environment (own state dir, proxy port, webhook) for deploy tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.core.processes import free_port
from ops.deploy.history import DeployHistory
from ops.project import ROOT
from tests.e2e.deploy.breakages import Breakage
from tests.support.invoke import run_invoke, subprocess_env

ENV_NAME = "e2e"


@dataclass
class DeployEnv:
    """Where the test environment lives and how to drive it."""

    root: Path
    port: int
    state: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The public URL (the proxy)."""
        return f"http://127.0.0.1:{self.port}"

    def invoke(
        self, *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run an invoke task against this environment."""
        return run_invoke(*args, env={**self.env, **(extra_env or {})})

    def serving(self) -> str | None:
        """The version the public URL serves."""
        try:
            response = httpx.get(f"{self.url}/version", timeout=5)
        except httpx.HTTPError:
            return None
        version: str | None = response.headers.get("X-App-Version")
        return version

    def history(self) -> list[dict[str, Any]]:
        """The deploy history."""
        return DeployHistory(self.state).records()


DEFINITION = """\
platform = "local"
public_url = "http://127.0.0.1:{port}"
seed_demo_data = true
releases_to_keep = 3

[app]
ENVIRONMENT = "development"
LOG_LEVEL = "WARNING"
RATE_LIMIT_PER_IP = "1000000"
RATE_LIMIT_PER_USER = "1000000"

[timeouts]
readiness_seconds = 20
drain_seconds = 5
verify_seconds = 5
lock_wait_seconds = 20

[gates]
probes = 10

[perf.requests."GET /v1/market/{{symbol}}/book"]
p95_ms = 2000
p99_ms = 2000

[notify]
slack_webhook_env = "E2E_WEBHOOK"

[local]
proxy_port = {port}
state_dir = "{state}"
"""


@pytest.fixture(scope="module")
def deploy_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployEnv]:
    """A fresh environment definition; everything it runs is stopped afterwards."""
    root = tmp_path_factory.mktemp("deploy")
    port = free_port()
    state = root / "state"
    (root / "environments").mkdir()
    (root / "environments" / f"{ENV_NAME}.toml").write_text(
        DEFINITION.format(port=port, state=state)
    )
    env = subprocess_env({"DEPLOY_ENVIRONMENTS_DIR": str(root / "environments")})
    for name in ("UV", "HOME"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    deploy = DeployEnv(root, port, state, env)
    yield deploy
    deploy.invoke("down", "--env", ENV_NAME)


def broken_source(root: Path, name: str, breakage: Breakage) -> Path:
    """A copy of the app's source with one change, ``breakage``: a bad release."""
    target = root / name
    if target.exists():
        return target
    target.mkdir()
    for file in ("pyproject.toml", "uv.lock", "alembic.ini"):
        shutil.copy2(ROOT / file, target / file)
    shutil.copytree(ROOT / "app", target / "app", ignore=shutil.ignore_patterns("__pycache__"))
    module = target / breakage.path
    module.write_text(breakage.apply(module.read_text()))
    return target
