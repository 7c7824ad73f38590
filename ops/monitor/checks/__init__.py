"""The checks, by name: what each looks at, when it applies, whether to confirm a failure.

A check is a function named as the check, in the module its spec names, of the
:class:`~ops.monitor.context.MonitorContext`, returning its findings (one per subject:
a path, a backup kind, a certificate...). It raises nothing for a failure it observes
-- that is a finding -- and lets only a bug escape (the runner records that as
``unknown``). An optional ``<name>_applies`` function beside it says why the check
does not apply to an environment (no PostgreSQL, no ``https``...), or None.
``confirm`` checks look at something that can flicker (a request, a connection): a
failure is tried again, ``attempts`` times ``retry_seconds`` apart, before it counts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding
from ops.monitor.settings import ALL_CHECKS, CheckName

CheckFunction = Callable[[MonitorContext], list[Finding]]
Applies = Callable[[MonitorContext], str | None]


@dataclass(frozen=True)
class CheckSpec:
    """One check as the runner sees it."""

    name: CheckName
    module: str  # ops.monitor.checks.<module>, imported when the check runs
    describes: str
    confirm: bool

    def _module(self) -> object:
        return importlib.import_module(f"{__name__}.{self.module}")

    def function(self) -> CheckFunction:
        """The check itself: the function named after it in its module."""
        check: CheckFunction = getattr(self._module(), self.name)
        return check

    def applies(self, context: MonitorContext) -> str | None:
        """Why the check does not apply here (``<name>_applies`` beside it), or None."""
        applies: Applies | None = getattr(self._module(), f"{self.name}_applies", None)
        return applies(context) if applies is not None else None


CHECKS: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (
        CheckSpec("availability", "http", "/health and /ready: status, body, time", True),
        CheckSpec("journey", "journey", "a synthetic trader's journey, order cleaned up", True),
        CheckSpec("latency", "http", "p95 of the key read endpoints against a budget", True),
        CheckSpec("errors", "metrics", "5xx ratio per route between two /metrics scrapes", False),
        CheckSpec("version", "http", "what serves against the last successful deploy", True),
        CheckSpec("postgres", "postgres", "connections, old transactions, cache, deadlocks", True),
        CheckSpec("redis", "redis", "hit rate, memory, evictions, rejected connections", True),
        CheckSpec("backups", "backups", "backup age, size and verification; the last drill", False),
        CheckSpec("tls", "tls", "certificate expiry, chain and hostname", True),
        CheckSpec("watchdog", "watchdog", "the previous run happened on schedule", False),
    )
}
assert tuple(CHECKS) == ALL_CHECKS, "every check the settings name is registered, in order"
