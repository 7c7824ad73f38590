"""The ``[monitor]`` section of an environment definition: every check's thresholds, with
their defaults written once, here.

``invoke monitor`` reads them, and so does the generator of the Prometheus alerting
rules (``deploy/monitoring/``): one number, one place. Each field says what it bounds;
ratios are fractions (0.8 = 80%), durations carry their unit in the name.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CheckName = Literal[
    "availability", "journey", "latency", "errors", "version", "postgres", "redis",
    "backups", "tls", "watchdog",
]  # fmt: skip
ALL_CHECKS: tuple[CheckName, ...] = (
    "availability", "journey", "latency", "errors", "version", "postgres", "redis",
    "backups", "tls", "watchdog",
)  # fmt: skip
Channel = Literal["slack", "email", "github"]
Fraction = Annotated[float, Field(gt=0, le=1)]  # a ratio threshold: 0.8 is 80%


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Availability(_Section):
    """``/health`` and ``/ready`` through the public URL."""

    budget_ms: float = Field(default=1000, gt=0)
    warning_ms: float = Field(default=500, gt=0)


class Journey(_Section):
    """The synthetic trader: log in, quote, book, place far from the market, read, cancel."""

    user: str = "monitor@example.com"
    password_env: str = "MONITOR_PASSWORD"  # noqa: S105 - a variable name
    symbol: str = "AAPL"
    step_budget_ms: float = Field(default=2000, gt=0)


class Latency(_Section):
    """p95 of ``probes`` requests to each key read endpoint."""

    paths: list[str] = Field(
        default_factory=lambda: ["/v1/instruments", "/v1/market/AAPL/quote", "/v1/market/AAPL/book"]
    )
    probes: int = Field(default=20, ge=5, le=500)
    p95_warning_ms: float = Field(default=250, gt=0)
    p95_critical_ms: float = Field(default=1000, gt=0)


class Errors(_Section):
    """5xx ratio per route between two scrapes of ``/metrics``."""

    metrics_path: str = Field(default="/metrics", pattern=r"^/\S*$")
    scrape_gap_seconds: float = Field(default=10, ge=0, le=300)
    min_requests: int = Field(default=20, ge=1)
    warning_ratio: Fraction = 0.01
    critical_ratio: Fraction = 0.05


class Postgres(_Section):
    """The application database (when ``DATABASE_URL`` is PostgreSQL)."""

    statement_timeout_ms: int = Field(default=5000, ge=100)
    connections_warning: Fraction = 0.8
    connections_critical: Fraction = 0.95
    oldest_transaction_warning_seconds: float = Field(default=300, gt=0)
    oldest_transaction_critical_seconds: float = Field(default=1800, gt=0)
    cache_hit_warning: Fraction = 0.9
    min_block_lookups: int = Field(default=1000, ge=1)  # since the last run, to judge the cache
    # SQLAlchemy ends every read-only session with ROLLBACK: 150 healthy reads of this app
    # (me, orders, book) rolled back 0.67 of their transactions on PostgreSQL 15.
    rollback_ratio_warning: Fraction = 0.9
    min_transactions: int = Field(default=100, ge=1)  # since the last run, to judge rollbacks
    deadlocks_warning: int = Field(default=1, ge=1)
    size_warning_gb: float = Field(default=50, gt=0)
    slowest_statements: int = Field(default=5, ge=0, le=50)


class Redis(_Section):
    """The shared cache (when ``REDIS_URL`` is set)."""

    hit_rate_warning: float = Field(default=0.5, ge=0, le=1)
    min_lookups: int = Field(default=100, ge=1)
    memory_warning: Fraction = 0.8
    memory_critical: Fraction = 0.95
    evictions_warning: int = Field(default=1, ge=1)
    rejected_connections_critical: int = Field(default=1, ge=1)
    clients_warning: Fraction = 0.8


class Backups(_Section):
    """Freshness and plausibility of backups and drills (the environment's ``[backup]``)."""

    kinds: list[Literal["db", "config", "state"]] = ["db"]  # pydantic copies a default
    required: bool = True  # false: no backup or drill at all is not a problem (a fresh clone)
    schedule_hours: float = Field(default=24, gt=0)
    grace_hours: float = Field(default=6, ge=0)
    recent: int = Field(default=7, ge=2, le=100)
    min_ratio_of_median: Fraction = 0.5
    min_history: int = Field(default=3, ge=1, le=100)  # earlier backups (at most `recent`)
    min_median_duration_seconds: float = Field(default=60, ge=0)  # quicker ones: noise
    verification_max_age_hours: float = Field(default=48, gt=0)
    drill_max_age_days: float = Field(default=8, gt=0)


class Tls(_Section):
    """Certificates of ``https`` URLs: expiry of leaf and intermediates, chain, hostname."""

    warning_days: float = Field(default=14, gt=0)
    warning_lifetime_fraction: float = Field(default=1 / 3, gt=0, lt=1)
    critical_days: float = Field(default=7, gt=0)
    ca_file_env: str = "MONITOR_CA_FILE"


class Email(_Section):
    """SMTP delivery, one message per run; the password is a secret named by
    ``password_env``, and the login happens only when the ``user_env`` variable is set."""

    host_env: str = "SMTP_HOST"
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    user_env: str = "SMTP_USER"
    password_env: str = "SMTP_PASSWORD"  # noqa: S105 - a variable name
    sender: str = Field(default="monitor@example.com", pattern=r"^[^@\s]+@[^@\s]+$")
    recipients: list[str] = Field(default_factory=list)


class GitHub(_Section):
    """Issues on a repository; the token is a secret named by ``token_env``."""

    repository_env: str = "GITHUB_REPOSITORY"
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 - a variable name
    api_url_env: str = "GITHUB_API_URL"  # unset: https://api.github.com
    label: str = Field(default="monitor", pattern=r"^[^,]+$")  # finds the issues: no comma


class Routes(_Section):
    """Which channels hear of what: a warning never pages (no e-mail by default)."""

    critical: list[Channel] = ["slack", "email", "github"]  # pydantic copies a default
    warning: list[Channel] = ["slack", "github"]


class MonitorSettings(_Section):
    """Everything ``invoke monitor`` needs to know about one environment."""

    checks: list[CheckName] = Field(default_factory=lambda: list(ALL_CHECKS))
    schedule_hours: float = Field(default=6, gt=0)
    grace_hours: float = Field(default=1, ge=0)
    attempts: int = Field(default=3, ge=1, le=10)
    retry_seconds: float = Field(default=5, ge=0, le=120)
    request_timeout_seconds: float = Field(default=10, gt=0, le=120)
    reminder_hours: float = Field(default=24, gt=0)
    recover_after: int = Field(default=2, ge=1, le=10)
    state: Literal["local", "storage"] = "local"
    heartbeat_url_env: str = "MONITOR_HEARTBEAT_URL"
    availability: Availability = Field(default_factory=Availability)
    journey: Journey = Field(default_factory=Journey)
    latency: Latency = Field(default_factory=Latency)
    errors: Errors = Field(default_factory=Errors)
    postgres: Postgres = Field(default_factory=Postgres)
    redis: Redis = Field(default_factory=Redis)
    backups: Backups = Field(default_factory=Backups)
    tls: Tls = Field(default_factory=Tls)
    email: Email = Field(default_factory=Email)
    github: GitHub = Field(default_factory=GitHub)
    routes: Routes = Field(default_factory=Routes)
