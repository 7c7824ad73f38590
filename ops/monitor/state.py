"""What ``invoke monitor`` remembers between runs: the open problems, the heartbeat, and the
cumulative counters checks compare against (deadlocks, evictions...).

A schedule runs the monitor on throwaway machines, so the state lives either in a
JSON file under the environment's state directory (``state = "local"``) or in the
environment's backup storage (``state = "storage"``, for CI), and is written
whole, atomically, at the end of a run -- a dry run never writes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ops.core.console import write_atomically
from ops.core.exits import CannotRun
from ops.storage import ObjectMissing, Storage, StorageError

FORMAT = 1
STATE_FILE = "monitor-state.json"


@dataclass
class OpenProblem:
    """A problem that was alerted and has not recovered yet."""

    key: str
    status: str
    reason: str
    summary: str
    opened_at: str
    notified_at: str
    release: str | None = None
    passes: int = 0  # consecutive passing runs since it last failed
    reminders: int = 0


@dataclass
class MonitorState:
    """Everything kept between runs of one environment's monitor."""

    environment: str
    problems: dict[str, OpenProblem] = field(default_factory=dict)
    last_run_at: str | None = None
    last_complete_run_at: str | None = None
    runs: int = 0
    counters: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (with the format version)."""
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], environment: str) -> MonitorState:
        """Read a saved state; :class:`CannotRun` naming what is wrong with it."""
        if data.get("format") != FORMAT or data.get("environment") != environment:
            raise CannotRun(
                f"monitor state is for {data.get('environment')!r} format {data.get('format')!r},"
                f" expected {environment!r} format {FORMAT}"
            )
        try:
            problems = {k: OpenProblem(**v) for k, v in data.get("problems", {}).items()}
            return cls(
                environment, problems, data.get("last_run_at"), data.get("last_complete_run_at"),
                int(data.get("runs", 0)), dict(data.get("counters", {})),
            )  # fmt: skip
        except (TypeError, ValueError) as error:
            raise CannotRun(f"monitor state is not readable: {error}") from None


class StateStore(Protocol):
    """Where the state is kept."""

    description: str

    def load(self, environment: str) -> MonitorState:
        """The saved state, or a fresh one when none was saved yet."""

    def save(self, state: MonitorState) -> None:
        """Replace the saved state."""


def _parse(raw: bytes, where: str, environment: str) -> MonitorState:
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise CannotRun(f"monitor state {where} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise CannotRun(f"monitor state {where} is not a JSON object")
    return MonitorState.from_dict(data, environment)


class FileStateStore:
    """The state as a file (the local platform's state directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)

    def load(self, environment: str) -> MonitorState:
        """The saved state, or a fresh one."""
        if not self.path.exists():
            return MonitorState(environment)
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            raise CannotRun(f"monitor state {self.path}: {error}") from None
        return _parse(raw, str(self.path), environment)

    def save(self, state: MonitorState) -> None:
        """Write it whole (a temporary file renamed into place)."""
        write_atomically(self.path, json.dumps(state.to_dict(), indent=2, sort_keys=True) + "\n")


class StorageStateStore:
    """The state as one object in the environment's backup storage (CI's runners come
    and go; the storage stays)."""

    def __init__(self, storage: Storage, key: str) -> None:
        self.storage = storage
        self.key = key
        self.description = f"{storage.description}: {key}"

    def load(self, environment: str) -> MonitorState:
        """The saved state, or a fresh one; an unreachable store cannot run."""
        try:
            raw = self.storage.get_bytes(self.key)
        except ObjectMissing:
            return MonitorState(environment)
        except StorageError as error:
            raise CannotRun(f"monitor state unreachable: {error}") from None
        return _parse(raw, self.description, environment)

    def save(self, state: MonitorState) -> None:
        """Replace the object (one PUT: readers see the old or the new state)."""
        data = json.dumps(state.to_dict(), indent=2, sort_keys=True).encode()
        try:
            self.storage.put_bytes(self.key, data)
        except StorageError as error:
            raise CannotRun(f"monitor state not saved: {error}") from None
