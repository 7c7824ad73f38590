"""invoke and nox in a subprocess, from the repository, as a user runs them (and measured
by coverage: the child inherits coverage's variables)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ops.core.environ import child_env
from ops.project import ROOT


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A child's environment: PATH, this checkout on PYTHONPATH, coverage's variables, and
    ``extra`` -- nothing else of the test process's environment."""
    return {**child_env(os.environ, {"PYTHONPATH": str(ROOT)}), **(extra or {})}


def run_invoke(
    *args: str, env: Mapping[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``invoke ARGS`` with exactly ``env`` (plus PATH and coverage's variables)."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=subprocess_env(env),
        cwd=ROOT,
        check=False,
        timeout=timeout,
    )


def run_nox(noxfile: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``nox -f NOXFILE ARGS`` from the noxfile's directory."""
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(noxfile), *args],
        capture_output=True,
        text=True,
        cwd=noxfile.parent,
        timeout=timeout,
        check=False,
    )
