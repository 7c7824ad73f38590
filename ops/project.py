"""Facts about this repository: supported Pythons, dependency groups, locked versions."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCKFILE = ROOT / "uv.lock"
REPORTS = ROOT / "reports"


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


@cache
def pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    """The parsed ``pyproject.toml``."""
    return _load(path)


def supported_pythons(path: Path = PYPROJECT) -> list[str]:
    """Python versions from the trove classifiers, oldest first (the test matrix)."""
    classifiers = pyproject(path)["project"].get("classifiers", [])
    pattern = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")
    versions = [m.group(1) for c in classifiers if (m := pattern.match(c))]
    if not versions:
        raise ValueError(f"{path}: no 'Programming Language :: Python :: 3.N' classifiers")
    return sorted(versions, key=lambda v: tuple(int(part) for part in v.split(".")))


def dependency_groups(path: Path = PYPROJECT) -> list[str]:
    """Names of the PEP 735 dependency groups."""
    return list(pyproject(path).get("dependency-groups", {}))


def locked_versions(path: Path = LOCKFILE) -> dict[str, str]:
    """Package name (normalized) to the version the lock pins."""
    lock = _load(path)
    return {normalize(p["name"]): p["version"] for p in lock.get("package", []) if "version" in p}


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()
