"""What the pipelines ask of uv: where it is, and environments with exactly the locked versions.

A release (local platform), the SBOM and the licence check all need the same
thing: a virtualenv holding the runtime dependencies exactly as ``uv.lock`` pins
them and as the image installs them. :func:`sync_runtime` builds it; the nox
sessions install their groups with the same :func:`sync_arguments`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ops.core.commands import check, find_executable

HINT = "install it (pip install uv), or run through nox, which brings its own"
UV_VARIABLE = "UV"  # nox and the tests name the uv they use here
TIMEOUT = 900.0


def find_uv(env: Mapping[str, str]) -> str:
    """The uv executable: ``$UV``, beside this interpreter, or on PATH."""
    return find_executable("uv", hint=HINT, env=env, variable=UV_VARIABLE)


def sync_arguments(
    groups: Sequence[str] = (), *, only_groups: bool = False, python: str | Path
) -> list[str]:
    """``uv sync`` arguments installing exactly the lock's pins: the runtime
    dependencies (unless ``only_groups``) and ``groups``, nothing by default."""
    flag = "--only-group" if only_groups else "--group"
    args = ["sync", "--locked", "--no-default-groups", f"--python={python}"]
    return args + [f"{flag}={group}" for group in groups]


def sync_runtime(
    uv: str, *, project: Path, venv: Path, python: str | Path, env: Mapping[str, str]
) -> Path:
    """Install the locked runtime dependencies of ``project`` into ``venv`` (created if
    needed) with interpreter ``python``; returns the environment's python."""
    child = {key: value for key, value in env.items() if key != "VIRTUAL_ENV"}
    child["UV_PROJECT_ENVIRONMENT"] = str(venv)
    args = [*sync_arguments(python=python), "--no-install-project", "--quiet"]
    check([uv, *args], cwd=project, env=child, timeout=TIMEOUT)
    return venv / "bin" / "python"


@contextmanager
def runtime_environment(
    uv: str, *, project: Path, python: str | Path, env: Mapping[str, str]
) -> Iterator[Path]:
    """A temporary virtualenv with exactly the locked runtime dependencies; yields its python."""
    with tempfile.TemporaryDirectory(prefix="runtime-env-") as directory:
        yield sync_runtime(
            uv, project=project, venv=Path(directory) / "venv", python=python, env=env
        )
