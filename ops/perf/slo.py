"""Service level objectives: what a performance run must show, per request and overall.

The defaults live in ``deploy/perf.toml``; an environment definition's ``[perf]``
section overrides any part of them (merged key by key), so every limit is written once
-- the deploy pipeline's latency gate reads its budget from the same model
(:func:`Slo.request`).

A request is named ``METHOD /route/{template}`` -- the route template the app's own
``/metrics`` labels requests with (``POST /v1/orders``, ``GET /v1/market/{symbol}/book``).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ops.core.exits import CannotRun
from ops.project import ROOT

DEFAULTS = ROOT / "deploy" / "perf.toml"
Arrival = Literal["constant", "poisson"]
REFERENCE_SETTINGS = (
    "db_reference_seconds", "db_reference_clients", "db_reference_threads", "db_reference_scale",
)  # fmt: skip


class SloProblem(CannotRun):
    """The SLO file or an override is invalid; the message is one line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSettings(_Section):
    """The offered load and what the generator must achieve for a verdict to count."""

    rate: float = Field(default=50, gt=0)  # requests per second offered, all names together
    arrival: Arrival = "poisson"
    duration_seconds: float = Field(default=60, gt=0, le=3600)  # judged, after the warm-up
    warmup_seconds: float = Field(default=10, ge=0, le=600)  # run, never judged
    max_in_flight: int = Field(default=64, ge=1, le=10_000)  # beyond it arrivals are dropped
    min_achieved_ratio: float = Field(default=0.95, gt=0, le=1)  # sent / scheduled
    max_dropped_ratio: float = Field(default=0.0, ge=0, le=1)  # dropped / scheduled
    max_schedule_lag_ms: float = Field(default=50, gt=0)  # p99 of late sends by the generator
    # pgbench TPC-B on the run's database server before the load (ops.perf.pgbench): the
    # yardstick the order rate is reported against. 0 seconds: off.
    db_reference_seconds: int = Field(default=10, ge=0, le=600)
    db_reference_clients: int = Field(default=16, ge=1, le=1000)
    db_reference_threads: int = Field(default=2, ge=1, le=64)
    db_reference_scale: int = Field(default=1, ge=1, le=1000)

    @model_validator(mode="after")
    def _threads_per_client(self) -> RunSettings:
        if self.db_reference_threads > self.db_reference_clients:
            raise ValueError("db_reference_threads must not exceed db_reference_clients")
        return self


class AbortSettings(_Section):
    """When a run stops early: a dead or drowning target is not hammered to the end."""

    grace_seconds: float = Field(default=10, ge=0)
    window_seconds: float = Field(default=5, gt=0)
    error_ratio: float = Field(default=0.5, gt=0, le=1)
    p99_factor: float = Field(default=10, gt=1)  # window p99 beyond factor x the p99 limit


class RequestSlo(_Section):
    """The limits of one request name (intended-time latency, as users see it)."""

    p50_ms: float = Field(default=50, gt=0)
    p95_ms: float = Field(default=150, gt=0)
    p99_ms: float = Field(default=300, gt=0)
    error_ratio: float = Field(default=0.001, ge=0, le=1)
    min_samples: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RequestSlo:
        if not self.p50_ms <= self.p95_ms <= self.p99_ms:
            raise ValueError("p50_ms <= p95_ms <= p99_ms must hold")
        return self


class RegressionSettings(_Section):
    """How much worse than a baseline a figure may get: both bounds must be passed."""

    percent: float = Field(default=20, ge=0)
    ms: float = Field(default=5, ge=0)


class Slo(_Section):
    """The whole model: run settings, abort conditions, per-request limits."""

    run: RunSettings = Field(default_factory=RunSettings)
    abort: AbortSettings = Field(default_factory=AbortSettings)
    defaults: RequestSlo = Field(default_factory=RequestSlo)
    requests: dict[str, dict[str, float]] = Field(default_factory=dict)
    regression: RegressionSettings = Field(default_factory=RegressionSettings)
    # Each scenario's own parameters (accounts, shares of each action...), validated by
    # the scenario itself (ops.perf.scenarios).
    scenarios: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_requests(self) -> Slo:
        for name in self.requests:
            method, _, route = name.partition(" ")
            if method not in ("GET", "POST", "PUT", "PATCH", "DELETE") or not route.startswith("/"):
                raise ValueError(f"requests.{name!r}: expected 'METHOD /route/{{template}}'")
            try:
                self.request(name)
            except ValidationError as error:
                raise ValueError(f"requests.{name!r}: {_first_problem(error)}") from None
        return self

    def request(self, name: str) -> RequestSlo:
        """The limits of ``name``: its own entries over the defaults."""
        merged = {**self.defaults.model_dump(), **self.requests.get(name, {})}
        return RequestSlo.model_validate(merged)

    def digest(self) -> str:
        """A short hash of the model (part of a scenario's identity for baselines); the
        database reference's settings are left out: they do not change the app's load."""
        data = self.model_dump(mode="json", exclude={"run": set(REFERENCE_SETTINGS)})
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, key by key through nested tables."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def read_defaults(path: Path = DEFAULTS) -> dict[str, Any]:
    """The raw tables of the defaults file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SloProblem(f"{path}: no such SLO file") from None
    except tomllib.TOMLDecodeError as error:
        raise SloProblem(f"{path.name}: invalid TOML: {error}") from None


def resolve(
    overrides: Mapping[str, Any] | None = None, path: Path = DEFAULTS, where: str = ""
) -> Slo:
    """The defaults with ``overrides`` (an environment's ``[perf]``) merged in."""
    data = merged(read_defaults(path), overrides or {})
    try:
        return Slo.model_validate(data)
    except ValidationError as error:
        raise SloProblem(f"{where or path.name}: {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    """``field: message`` of the first problem pydantic found."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}" if field else message
