"""The locked dependencies: what uv.lock pins, the runtime closure, a runtime environment.

The audit reads every pinned package; the SBOM and licence gates look at the
runtime environment exactly as the image installs it (``uv sync --locked
--no-default-groups``), built in a temporary directory from the uv cache.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker

from ops.project import ROOT, normalize
from ops.security.gate import GateError, last_line


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One package pin of uv.lock."""

    name: str
    version: str
    registry: bool
    line: int


def _read(lock: Path) -> tuple[dict[str, Any], str]:
    try:
        text = lock.read_text(encoding="utf-8")
        return tomllib.loads(text), text
    except FileNotFoundError:
        raise GateError(f"lock file missing: {lock}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise GateError(f"{lock.name} is not a readable lock file: {error}") from None


def line_of(text: str, name: str) -> int:
    """The line of ``name = "<name>"`` in a lock file's text (1 when not found)."""
    pattern = re.compile(rf'^name = "{re.escape(name)}"$', re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def locked_packages(lock: Path) -> list[LockedPackage]:
    """Every pinned package (the project itself excluded), in lock order."""
    data, text = _read(lock)
    packages = []
    for entry in data.get("package", []):
        if "version" not in entry or "virtual" in entry.get("source", {}):
            continue
        registry = "registry" in entry.get("source", {})
        name = str(entry["name"])
        packages.append(LockedPackage(name, str(entry["version"]), registry, line_of(text, name)))
    return packages


def runtime_closure(lock: Path, project: str) -> dict[str, str]:
    """Name to version of every package the project's runtime needs on this interpreter.

    Follows ``dependencies`` and requested extras from the project's entry,
    evaluating each edge's environment marker here.
    """
    data, _ = _read(lock)
    entries = {normalize(str(entry["name"])): entry for entry in data.get("package", [])}
    root = entries.get(normalize(project))
    if root is None:
        raise GateError(f"{lock.name} has no entry for the project {project!r}")
    found: dict[str, str] = {}
    pending = list(root.get("dependencies", []))
    while pending:
        edge = pending.pop()
        name = normalize(str(edge["name"]))
        if not _applies(edge.get("marker")) or name not in entries:
            continue
        entry = entries[name]
        extras = edge.get("extra", [])
        first_visit = name not in found
        found[name] = str(entry.get("version", ""))
        if first_visit:
            pending += entry.get("dependencies", [])
        for extra in extras:
            pending += entry.get("optional-dependencies", {}).get(extra, [])
    return found


def _applies(marker: Any) -> bool:
    if not marker:
        return True
    try:
        return Marker(str(marker)).evaluate()
    except InvalidMarker:
        raise GateError(f"uv.lock has an invalid marker: {marker}") from None


@contextmanager
def runtime_environment(uv: str, project: Path = ROOT) -> Iterator[str]:
    """A temporary virtualenv with exactly the locked runtime dependencies; its python."""
    with tempfile.TemporaryDirectory(prefix="runtime-env-") as directory:
        venv = Path(directory) / "venv"
        _uv(uv, ["venv", "--quiet", "--python", sys.executable, str(venv)], project, venv)
        sync = ["sync", "--locked", "--no-default-groups", "--no-install-project", "--quiet"]
        _uv(uv, [*sync, f"--python={venv / 'bin' / 'python'}"], project, venv)
        yield str(venv / "bin" / "python")


def _uv(uv: str, args: list[str], project: Path, venv: Path) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - uv with arguments built here
            [uv, *args],
            cwd=project,
            env=_uv_environment(venv),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except FileNotFoundError:
        raise GateError(f"uv not found ({uv}): pass --uv PATH") from None
    except subprocess.TimeoutExpired:
        raise GateError("uv did not build the runtime environment within 600s") from None
    if done.returncode != 0:
        raise GateError(f"uv {args[0]} failed: {last_line(done.stderr) or 'no output'}")


def _uv_environment(venv: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    return env
