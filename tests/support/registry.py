"""A real container registry for the push tests: Debian's ``docker-registry``
(distribution 2.8) on a free loopback port, storing in a temporary directory, stopped by
its process group. A registry on 127.0.0.1 is one the engine talks to over plain HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ops.core.environ import child_env
from ops.core.processes import Process, free_port, wait_for
from tests.support.needs import program

READY_SECONDS = 30
HINT = "install Debian's docker-registry (apt-get install -y docker-registry)"


@dataclass(frozen=True)
class Registry:
    """A running registry at ``host`` (``127.0.0.1:PORT``)."""

    host: str

    def repositories(self) -> list[str]:
        """What the registry holds (its catalog)."""
        answer = httpx.get(f"http://{self.host}/v2/_catalog", timeout=10)
        answer.raise_for_status()
        return list(answer.json().get("repositories") or [])


def _config(directory: Path, port: int) -> Path:
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    path = directory / "config.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@contextmanager
def running_registry(directory: Path) -> Iterator[Registry]:
    """A registry on a free port, for the duration of the block."""
    binary = program("docker-registry", HINT)
    port = free_port()
    command = [binary, "serve", str(_config(directory, port))]
    log = directory / "registry.log"
    with Process(command, env=child_env(os.environ), cwd=directory, log_path=log) as process:
        registry = Registry(f"127.0.0.1:{port}")

        def answers() -> tuple[bool, str]:
            try:
                return httpx.get(f"http://{registry.host}/v2/", timeout=2).status_code == 200, "up"
            except httpx.HTTPError as error:
                return False, type(error).__name__

        waited = wait_for(answers, timeout=READY_SECONDS, interval=0.2, alive=process.alive)
        if not waited.ready:
            raise RuntimeError(f"docker-registry did not start: {process.log_tail()}")
        yield registry
