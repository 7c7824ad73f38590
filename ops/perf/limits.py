"""Does a run's load fit the rate limits of the environment it loads?

A deployed environment keeps its limits on (a local run turns them off): a run that
offers more than one address may send, or more than one account may, would measure the
limiter's 429s, not the service. The perf profile respects the limits -- rather than
the service exempting named accounts, which would make the perf accounts a way around
the limiter in production -- so a run whose offered rate does not fit is refused before
it starts, naming the limit, with a margin for the log-ins and the window's edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.settings import Settings
from ops.core.exits import CannotRun
from ops.perf.slo import Slo

HEADROOM = 0.8  # of a limit a run may use: log-ins, tidying and a window's edges need room


class LimitsProblem(CannotRun):
    """The offered load does not fit the environment's rate limits; one line."""


@dataclass(frozen=True)
class Limits:
    """The limiter's settings of an environment: requests per window per address and per
    account."""

    enabled: bool
    per_address: int
    per_account: int
    window_seconds: int

    @classmethod
    def of(cls, app_settings: Mapping[str, str]) -> Limits:
        """An environment's ``[app]`` settings over the app's own defaults."""
        fields = Settings.model_fields

        def value(name: str) -> str:
            return app_settings.get(name.upper(), str(fields[name].default))

        return cls(
            enabled=value("rate_limit_enabled").lower() in ("1", "true", "yes"),
            per_address=int(value("rate_limit_per_ip")),
            per_account=int(value("rate_limit_per_user")),
            window_seconds=int(value("rate_limit_window_seconds")),
        )


def check_fits(slo: Slo, accounts: int, addresses: int, limits: Limits, where: str) -> None:
    """Refuse a run whose rate, spread over ``addresses`` generator hosts and ``accounts``
    acting accounts, would pass :data:`HEADROOM` of a limit in any window."""
    if not limits.enabled:
        return
    per_window = slo.run.rate * limits.window_seconds
    shares = (
        ("address", addresses, f"from {addresses} address(es)", limits.per_address,
         "generate from more hosts"),
        ("account", accounts, f"over {accounts} account(s)", limits.per_account,
         "list more accounts"),
    )  # fmt: skip
    for name, count, spread, limit, remedy in shares:
        each = per_window / max(count, 1)
        if each > limit * HEADROOM:
            raise LimitsProblem(
                f"{where}: {slo.run.rate:g} req/s {spread} is {each:.0f} requests per "
                f"{limits.window_seconds} s per {name}, over {HEADROOM:.0%} of its per-{name} "
                f"limit ({limit}): lower [perf.run] rate, or {remedy}"
            )
