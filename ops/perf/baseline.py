"""Baselines: every verdict is kept, and a run compares itself with one of them.

The history is ``var/perf/history/<scenario>/<UTC timestamp>-<version>.json`` (each a
``verdict.json``). ``--baseline FILE`` compares with that verdict, which must be of the
same scenario hash (scenario parameters and SLO digest: like with like);
``--baseline latest`` with the newest *passed* verdict of the same hash -- a failed,
inconclusive or smoke run is no baseline, or one regression would hide the next. With
nothing stored yet there is nothing to compare: a note, not an error (the first run).

A figure regresses when it is worse than the baseline's by both ``regression.percent``
and ``regression.ms`` (:class:`ops.perf.slo.RegressionSettings`): per request name and
per percentile (p50, p95, p99 of intended-time latency).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from ops.core.console import to_json, write_atomically
from ops.core.exits import CannotRun
from ops.perf.slo import RegressionSettings
from ops.perf.verdict import PERCENTILES, Comparison, EndpointFigures, Rule, Verdict
from ops.project import ROOT

HISTORY = ROOT / "var" / "perf" / "history"
LATEST = "latest"
STAMP = "%Y%m%dT%H%M%SZ"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BaselineProblem(CannotRun):
    """The baseline asked for cannot be used; one line."""


@dataclass(frozen=True)
class Baseline:
    """A stored verdict to compare with (``data``), or none (``path`` None) and why."""

    path: Path | None
    data: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def version(self) -> str:
        """The app version the baseline ran."""
        return str(self.data.get("app_version", "?"))

    def latency_ms(self, name: str, percentile: int) -> float | None:
        """The baseline's intended-time latency of ``name`` at ``percentile``, if it has one."""
        figures = self.data.get("requests", {}).get(name)
        if not figures or not figures.get("count"):
            return None
        return float(figures["latency"][f"p{percentile}_ms"])

    def compare(
        self, requests: Mapping[str, EndpointFigures], settings: RegressionSettings
    ) -> Comparison:
        """A regression rule per request name and percentile both runs measured."""
        if self.path is None:
            return Comparison(notes=[self.note], summary={"path": None, "note": self.note})
        rules = [
            regression_rule(name, percentile, figures.latency.at(percentile), base, settings,
                            self.version)
            for name, figures in requests.items()
            if figures.count
            for percentile in PERCENTILES
            if (base := self.latency_ms(name, percentile)) is not None
        ]  # fmt: skip
        unmatched = sorted(name for name in requests if self.latency_ms(name, 50) is None)
        notes = [f"not in the baseline: {', '.join(unmatched)}"] if unmatched else []
        summary = {
            "path": str(self.path), "app_version": self.version,
            "started_at": self.data.get("context", {}).get("started_at"),
            "scenario_hash": self.data.get("scenario_hash"),
            "percent": settings.percent, "ms": settings.ms,
        }  # fmt: skip
        return Comparison(rules, notes, summary)


def regression_rule(
    name: str,
    percentile: int,
    observed: float,
    base: float,
    settings: RegressionSettings,
    version: str,
) -> Rule:
    """Fails when ``observed`` is over ``base`` by more than the percentage AND by more than
    the milliseconds; the limit is the larger of the two bounds."""
    limit = max(base * (1 + settings.percent / 100), base + settings.ms)
    ok = observed <= limit
    tolerance = f"{settings.percent:g}% {'or' if ok else 'and'} {settings.ms:g} ms"
    relation = "within" if ok else ">"
    detail = (
        f"{name} p{percentile} {observed:.1f} ms {relation} baseline {base:.1f} ms "
        f"+ {tolerance} ({version})"
    )
    return Rule(f"p{percentile} regression", name, round(limit, 3), observed, ok, "regression",
                detail)  # fmt: skip


def choose(
    spec: str | None, scenario: str, scenario_hash: str, history: Path = HISTORY
) -> Baseline | None:
    """The baseline ``--baseline`` asks for: None (no comparison), ``latest``, or a file."""
    if not spec:
        return None
    if spec == LATEST:
        return latest(scenario, scenario_hash, history)
    path = Path(spec)
    data = read_verdict(path)
    if data.get("scenario_hash") != scenario_hash:
        raise BaselineProblem(
            f"baseline {path}: scenario {data.get('scenario')!r} hash "
            f"{data.get('scenario_hash')}, this run is {scenario!r} hash {scenario_hash}: "
            "a baseline must be of the same scenario and SLOs"
        )
    return Baseline(path, data)


def latest(scenario: str, scenario_hash: str, history: Path = HISTORY) -> Baseline:
    """The newest passed verdict of ``scenario`` with ``scenario_hash``; else no baseline,
    with a note saying what was found."""
    stored = sorted((history / scenario).glob("*.json"), reverse=True)
    for path in stored:
        try:
            data = read_verdict(path)
        except BaselineProblem:
            continue
        if data.get("scenario_hash") == scenario_hash and data.get("status") == "passed":
            return Baseline(path, data)
    note = (
        f"no baseline: no passed verdict of {scenario} with scenario hash {scenario_hash} "
        f"among {len(stored)} stored under {history / scenario} (first run?)"
    )
    return Baseline(None, note=note)


def read_verdict(path: Path) -> dict[str, Any]:
    """A stored ``verdict.json``; :class:`BaselineProblem` when it is missing or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineProblem(f"baseline {path}: no such file") from None
    except (OSError, ValueError) as error:
        raise BaselineProblem(f"baseline {path}: not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("requests"), dict):
        raise BaselineProblem(f"baseline {path}: not a verdict (no requests)")
    return data


def store(verdict: Verdict, history: Path = HISTORY) -> Path:
    """Keep ``verdict`` in the history; the path it was written to."""
    context = verdict.context
    stamp = context.started_at.astimezone(UTC).strftime(STAMP)
    version = _UNSAFE.sub("_", context.app_version) or "unknown"
    directory = history / context.scenario
    path = directory / f"{stamp}-{version}.json"
    serial = 1
    while path.exists():
        serial += 1
        path = directory / f"{stamp}-{version}-{serial}.json"
    write_atomically(path, to_json(verdict.to_dict()) + "\n")
    return path
