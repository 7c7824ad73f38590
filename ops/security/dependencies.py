"""The locked dependencies: what uv.lock pins, and the runtime closure of the project.

The audit reads every pinned package; the SBOM and licence gates compare the
locked runtime environment (:func:`ops.core.uv.runtime_environment`, exactly as
the image installs it) with the closure this module computes from the lock.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker

from ops.core.uv import find_uv, runtime_environment
from ops.project import ROOT, normalize
from ops.security.scanner import Options, ScanError


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
        raise ScanError(f"lock file missing: {lock}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ScanError(f"{lock.name} is not a readable lock file: {error}") from None


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


def runtime_closure(
    lock: Path, project: str, markers: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Name to version of every package the project's runtime needs on this interpreter
    (or on the one whose marker environment ``markers`` describes: an image's).

    Follows ``dependencies`` and requested extras from the project's entry,
    evaluating each edge's environment marker.
    """
    data, _ = _read(lock)
    entries = {normalize(str(entry["name"])): entry for entry in data.get("package", [])}
    root = entries.get(normalize(project))
    if root is None:
        raise ScanError(f"{lock.name} has no entry for the project {project!r}")
    found: dict[str, str] = {}
    pending = list(root.get("dependencies", []))
    while pending:
        edge = pending.pop()
        name = normalize(str(edge["name"]))
        if not _applies(edge.get("marker"), markers) or name not in entries:
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


def _applies(marker: Any, markers: Mapping[str, str] | None = None) -> bool:
    if not marker:
        return True
    try:
        return Marker(str(marker)).evaluate(dict(markers) if markers is not None else None)
    except InvalidMarker:
        raise ScanError(f"uv.lock has an invalid marker: {marker}") from None


@contextmanager
def runtime_python(options: Options) -> Iterator[str]:
    """The interpreter whose environment the SBOM and licence gates inspect: ``--python``,
    or a temporary environment with exactly the locked runtime dependencies."""
    if options.python:
        yield options.python
        return
    uv = options.uv or find_uv(options.env)
    with runtime_environment(uv, project=ROOT, python=sys.executable, env=options.env) as python:
        yield str(python)
