"""What a check is given: the environment, its variables and secrets, the clock, what the
public URL serves, the last deploy, and a memory of counters between runs."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.environments import EnvironmentDefinition
from ops.live.client import TradingClient
from ops.monitor.settings import MonitorSettings
from ops.monitor.state import MonitorState

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass
class MonitorContext:
    """One run's view of one environment.

    ``env`` holds the process variables with the environment's secrets over them (a
    check reads both the same way); :meth:`remember` and :meth:`recall` keep cumulative
    counters (deadlocks, evictions) between runs, so that a check can judge what
    happened *since the last run* rather than since the server started.
    """

    environment: EnvironmentDefinition
    env: Mapping[str, str]
    state: MonitorState
    clock: Clock = utcnow
    sleep: Callable[[float], None] = time.sleep
    served_version: str | None = None
    last_deploy: Mapping[str, Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> MonitorSettings:
        """The environment's ``[monitor]`` section."""
        return self.environment.monitor

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.environment.name

    def tls_context(self) -> ssl.SSLContext:
        """How certificates are verified: the system's trust store, plus the CA file named
        by ``[monitor.tls] ca_file_env`` when set (a private CA, or a test's)."""
        context = ssl.create_default_context()
        ca_file = self.env.get(self.settings.tls.ca_file_env)
        if ca_file:
            context.load_verify_locations(cafile=str(Path(ca_file)))
        return context

    def client(self, token: str | None = None) -> TradingClient:
        """A client of the public URL, with the monitor's timeout and trust store."""
        return TradingClient(
            self.environment.public_url, token=token,
            timeout=self.settings.request_timeout_seconds, verify=self.tls_context(),
        )  # fmt: skip

    def recall(self, check: str, counter: str) -> float | None:
        """The value a check remembered at the previous run (None the first time)."""
        return self.state.counters.get(check, {}).get(counter)

    def remember(self, check: str, counter: str, value: float) -> float | None:
        """Keep ``value`` for the next run; returns the previous one."""
        previous = self.recall(check, counter)
        self.state.counters.setdefault(check, {})[counter] = value
        return previous

    def since_last_run(self, check: str, counter: str, value: float) -> float | None:
        """How much a cumulative counter grew since the previous *run* (None the first
        time), and ``value`` kept for the next one. The baseline is read once per run, so
        that every attempt of a confirmed check measures against the same previous run,
        not against the attempt before it (which would hide what the first attempt saw)."""
        baselines: dict[str, float | None] = self.cache.setdefault(f"baseline:{check}", {})
        if counter not in baselines:
            baselines[counter] = self.recall(check, counter)
        self.remember(check, counter, value)
        return increase(baselines[counter], value)


def increase(previous: float | None, current: float) -> float | None:
    """How much a cumulative counter grew since the previous reading; None the first time,
    and the current value after a reset (the server restarted: the counter started over)."""
    if previous is None:
        return None
    return current - previous if current >= previous else current
