"""Where a local SLO run puts the server and the load generator, and in what shape.

The server runs as production runs it: PostgreSQL and Redis, the image's worker count
(read from ``deploy/Dockerfile``, so the number is written once). The load generator is
pinned to CPUs of its own -- a generator that competes with the server for its cores
measures itself. On a machine with one CPU, or on SQLite, the run is a *smoke run*: its
figures are reported, but it is not an SLO verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.core.exits import CannotRun
from ops.project import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
GENERATOR_SHARE = 4  # one generator CPU for every four


@dataclass(frozen=True)
class Placement:
    """The CPUs of each side; ``smoke_reason`` says why the run is not an SLO verdict."""

    server: tuple[int, ...]
    generator: tuple[int, ...]
    smoke_reason: str = ""

    def describe(self) -> str:
        """One line for the log."""
        if not self.generator:
            return f"server and load generator share CPUs {_list(self.server)}"
        return f"server on CPUs {_list(self.server)}, load generator on {_list(self.generator)}"


def _list(cpus: Sequence[int]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


def place(cpus: Sequence[int]) -> Placement:
    """Split ``cpus``: the last quarter (at least one) for the generator, the rest for the
    server; with one CPU nothing is pinned and the run is a smoke run."""
    ordered = tuple(sorted(cpus))
    if len(ordered) < 2:
        return Placement(ordered, (), "one CPU: the load generator shares it with the server")
    generator = max(1, len(ordered) // GENERATOR_SHARE)
    return Placement(ordered[:-generator], ordered[-generator:])


def production_workers(dockerfile: Path = DOCKERFILE) -> int:
    """The worker count the production image serves with (its ``--workers`` argument)."""
    text = dockerfile.read_text(encoding="utf-8")
    found = re.search(r'"--workers",\s*"(\d+)"', text)
    if not found:
        raise CannotRun(f"{dockerfile.name}: no --workers in the image's command")
    return int(found.group(1))
