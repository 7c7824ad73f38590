"""What a load run measured: the one file the load generator writes
(``measurements.json``) and the verdict reads.

Latency is measured from the time a request was *scheduled* to be sent (what a user
of an open system waits, coordinated omission corrected), service time from the time
it was actually sent. Only requests scheduled after the warm-up count.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops.core.console import to_json, write_atomically
from ops.core.exits import CannotRun
from ops.perf.histograms import Histogram

FAILURE_SAMPLES = 5


@dataclass
class RequestFigures:
    """One request name's figures over the judged window."""

    name: str
    count: int = 0  # answered or failed, scheduled in the window
    failures: int = 0  # unexpected answers: errors, and rejections the scenario did not mean
    expected_rejections: int = 0  # rejections the scenario meant (an order it priced to fail)
    failure_samples: list[str] = field(default_factory=list)  # the first distinct ones
    latency: str = ""  # Histogram.encode(): from the scheduled send time
    service: str = ""  # Histogram.encode(): from the actual send time

    def latency_histogram(self) -> Histogram:
        """Intended-time latency."""
        return Histogram.decode(self.latency)

    def service_histogram(self) -> Histogram:
        """Service time."""
        return Histogram.decode(self.service)

    @property
    def error_ratio(self) -> float:
        """Unexpected failures over requests (0 when there were none)."""
        return self.failures / self.count if self.count else 0.0


@dataclass
class Step:
    """One step of a stepped-rate scenario (``hot-symbol``): what the server kept up with."""

    offered_rate: float
    achieved_rate: float
    p99_ms: float
    error_ratio: float


@dataclass
class Measurements:
    """Everything one run measured."""

    scenario: str
    scenario_hash: str  # scenario parameters and SLO digest: baselines compare like with like
    arrival: str
    offered_rate: float
    warmup_seconds: float
    window_seconds: float  # how long the judged window actually lasted
    scheduled: int = 0  # arrivals the schedule made in the window
    sent: int = 0  # of them, sent
    dropped: int = 0  # of them, dropped because max_in_flight requests were outstanding
    schedule_lag: str = ""  # Histogram.encode(): how late sends left, against the schedule
    cpu_warnings: list[str] = field(default_factory=list)  # locust processes that warned
    aborted: str = ""  # why the run stopped early, or ""
    workers: int = 0  # locust worker processes (0: one standalone process)
    steps: list[Step] = field(default_factory=list)
    requests: dict[str, RequestFigures] = field(default_factory=dict)
    # The server's /metrics text at the judged window's opening and close ("open",
    # "close"), for the cross-check; or why it could not be read.
    server_metrics: dict[str, str] = field(default_factory=dict)
    server_metrics_problem: str = ""

    @property
    def achieved_ratio(self) -> float:
        """Sent over scheduled (1 when nothing was scheduled)."""
        return self.sent / self.scheduled if self.scheduled else 1.0

    @property
    def achieved_rate(self) -> float:
        """Requests sent per second of the judged window."""
        return self.sent / self.window_seconds if self.window_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurements:
        """The inverse of :meth:`to_dict`."""
        values = dict(data)
        values["steps"] = [Step(**step) for step in values.get("steps", [])]
        values["requests"] = {
            name: RequestFigures(**figures) for name, figures in values.get("requests", {}).items()
        }
        return cls(**values)


def write(measurements: Measurements, path: Path) -> None:
    """Write ``measurements.json`` whole (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, to_json(measurements.to_dict()) + "\n")


def read(path: Path) -> Measurements:
    """The measurements of a run; CannotRun when the file is missing or corrupt."""
    try:
        return Measurements.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CannotRun(f"the load generator wrote no measurements ({path})") from None
    except (ValueError, TypeError, KeyError) as error:
        raise CannotRun(f"{path.name} is not a measurements file: {error}") from None
