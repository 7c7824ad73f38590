"""Helpers shared by test modules (not fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ops.appserver import AppProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


def base_env() -> dict[str, str]:
    """PATH, the repository on PYTHONPATH, and coverage's own variables (so that
    subprocesses are measured) -- nothing else of the caller's environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT)}
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE")})
    return env


def run_app_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app ARGS`` in a clean environment (only PATH and ``env``)."""
    full_env = base_env() | env
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        check=False,
        timeout=timeout,
    )


class AppServer(AppProcess):
    """The app in a subprocess with this checkout on PYTHONPATH and coverage measured."""

    def __init__(
        self, env: dict[str, str], cwd: Path, workers: int = 1, port: int | None = None
    ) -> None:
        super().__init__(base_env() | env, cwd, workers=workers, port=port)
