"""Read GitHub workflows: which nox sessions, nox tags and invoke tasks they call.

A test compares these references with the sessions the noxfile defines and the
tasks tasks.py defines, so a workflow can never call something that does not exist.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops.project import ROOT

WORKFLOW_DIR = ROOT / ".github" / "workflows"
ACTION_DIR = ROOT / ".github" / "actions"
_SEPARATORS = re.compile(r"\s*(?:\|\||&&|;|\|)\s*")


@dataclass(frozen=True, slots=True)
class Reference:
    """One name a workflow step uses: kind is ``session``, ``tag`` or ``task``."""

    kind: str
    name: str
    where: str


def load(path: Path) -> dict[str, Any]:
    """A workflow or action file as data, with YAML 1.1's ``on: -> True`` key undone."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflow_files() -> list[Path]:
    """Every workflow and local action definition."""
    return sorted([*WORKFLOW_DIR.glob("*.yml"), *ACTION_DIR.glob("*/action.yml")])


def run_scripts(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(location, script) for every ``run:`` in jobs or composite steps."""
    for job_id, job in (data.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step:
                yield f"jobs.{job_id}.steps[{index}]", str(step["run"])
    runs = data.get("runs") or {}
    for index, step in enumerate(runs.get("steps") or []):
        if "run" in step:
            yield f"runs.steps[{index}]", str(step["run"])


def _commands(script: str) -> Iterator[list[str]]:
    for line in script.replace("\\\n", " ").splitlines():
        line = re.sub(r"\$\((.*)\)", r" ; \1 ; ", line)  # look inside $(...)
        for part in _SEPARATORS.split(line):
            try:
                tokens = shlex.split(part, comments=True)
            except ValueError:
                continue
            if tokens:
                yield tokens


# ``uv run`` options that take a value (the next token is not the program).
_UV_RUN_VALUE_OPTIONS = frozenset(
    {"--group", "--only-group", "--extra", "--with", "--with-requirements", "--python", "-p",
     "--env-file", "--project", "--directory", "--package", "--index", "--no-group"}
)  # fmt: skip


def _unwrap_uv_run(tokens: list[str]) -> list[str]:
    """``uv run [OPTIONS] PROGRAM ARGS`` -> ``PROGRAM ARGS``; other commands unchanged."""
    if Path(tokens[0]).name != "uv" or tokens[1:2] != ["run"]:
        return tokens
    index = 2
    while index < len(tokens) and tokens[index].startswith("-"):
        index += 2 if tokens[index] in _UV_RUN_VALUE_OPTIONS else 1
    return tokens[index:]


def references_in(script: str, where: str) -> list[Reference]:
    """The nox sessions/tags and invoke tasks named in a shell script."""
    found: list[Reference] = []
    for command in _commands(script):
        tokens = _unwrap_uv_run(command)
        if not tokens:
            continue
        program = Path(tokens[0]).name
        if program == "nox":
            found += _nox_references(tokens[1:], where)
        elif program in {"invoke", "inv"}:
            task = next((t for t in tokens[1:] if not t.startswith("-")), None)
            if task and "$" not in task:
                found.append(Reference("task", task, where))
    return found


def _nox_references(args: list[str], where: str) -> list[Reference]:
    found: list[Reference] = []
    mode: str | None = None
    for arg in args:
        if arg == "--":
            break
        if arg in {"-s", "--session", "--sessions", "-e"}:
            mode = "session"
            continue
        if arg in {"-t", "--tag", "--tags"}:
            mode = "tag"
            continue
        if arg.startswith("-"):
            mode = None
            continue
        if mode and "$" not in arg:
            found.append(Reference(mode, arg, where))
    return found


def granting(data: dict[str, Any], scope: str) -> list[str]:
    """The jobs of a workflow whose token may write ``scope`` (``pull-requests``): granted
    by the job, or by the workflow's default to a job without its own; ``write-all``
    grants every scope."""
    default = data.get("permissions")
    found = []
    for job_id, job in (data.get("jobs") or {}).items():
        permissions = job.get("permissions", default)
        if permissions == "write-all" or (
            isinstance(permissions, dict) and permissions.get(scope) == "write"
        ):
            found.append(job_id)
    return found


def all_references() -> list[Reference]:
    """Every reference in every workflow and local action."""
    found: list[Reference] = []
    for path in workflow_files():
        for location, script in run_scripts(load(path)):
            found += references_in(script, f"{path.relative_to(ROOT)}:{location}")
    return found


@dataclass(frozen=True, slots=True)
class Inventory:
    """What exists to be referenced: nox sessions (with their -python names), tags, tasks."""

    sessions: frozenset[str]
    tags: frozenset[str]
    tasks: frozenset[str]

    def missing(self, references: list[Reference]) -> list[Reference]:
        """References naming nothing that exists."""
        known = {"session": self.sessions, "tag": self.tags, "task": self.tasks}
        return [ref for ref in references if ref.name not in known[ref.kind]]


def inventory() -> Inventory:
    """Sessions and tags from the noxfile's registry, tasks from tasks.py's namespace."""
    import importlib

    import nox.registry

    importlib.import_module("noxfile")
    tasks_module = importlib.import_module("tasks")
    sessions: set[str] = set()
    tags: set[str] = set()
    for name, func in nox.registry.get().items():
        sessions.add(name)
        pythons = func.python if isinstance(func.python, list) else []
        sessions.update(f"{name}-{python}" for python in pythons)
        tags.update(func.tags)
    tasks = set(tasks_module.namespace.task_names)
    return Inventory(frozenset(sessions), frozenset(tags), frozenset(tasks))
