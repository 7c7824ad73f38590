"""Deployment environments: one committed TOML file each under deploy/environments/.

A definition holds only non-secret settings. Secrets are named in
``required_secrets`` and come from the process environment or a git-ignored
``.env.<name>.local`` file; the committed ``.env.<name>`` files hold placeholders
only, and a placeholder is never accepted as a secret. Anything wrong -- an
unknown environment, an invalid field, a missing secret -- is reported as one
line naming the file and the field or variable, before anything changes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.settings import is_placeholder
from ops.core.environ import read_dotenv
from ops.core.exits import CannotRun, OpsError
from ops.monitor.settings import MonitorSettings
from ops.perf.slo import Slo, SloProblem, resolve
from ops.project import ROOT

DEFAULT_ENVIRONMENTS_DIR = ROOT / "deploy" / "environments"
# Another set of definitions (tests, a private fork) can be selected with this variable.
ENVIRONMENTS_DIR_VARIABLE = "DEPLOY_ENVIRONMENTS_DIR"
# A variable whose name holds one of these is a secret (never in [app], never a placeholder).
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY")
Platform = Literal["local", "kubernetes", "railway"]
SmokeCheck = Literal["health", "version", "login", "place_cancel", "book"]
DEFAULT_SMOKE: tuple[SmokeCheck, ...] = ("health", "version", "login", "place_cancel", "book")


class EnvironmentProblem(CannotRun):
    """An environment cannot be used; the message is one line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Section):
    """How long each waiting step may take."""

    readiness_seconds: float = Field(default=30, gt=0, le=900)
    drain_seconds: float = Field(default=20, ge=0, le=600)
    verify_seconds: float = Field(default=20, gt=0, le=600)
    lock_wait_seconds: float = Field(default=300, ge=0, le=3600)


class Gates(_Section):
    """What a new release must pass before it takes traffic."""

    smoke: list[SmokeCheck] = Field(default_factory=lambda: list(DEFAULT_SMOKE))
    smoke_user: str = "alice@example.com"
    smoke_password_env: str = "SMOKE_PASSWORD"  # noqa: S105 - a variable name
    probes: int = Field(default=20, ge=1, le=1000)  # the latency gate's budget: slo()


class Notify(_Section):
    """Where results are announced (the URL itself is a secret in the environment)."""

    slack_webhook_env: str | None = "SLACK_WEBHOOK_URL"


class Retention(_Section):
    """Backups to keep: the newest N, plus the newest of each recent day, week and month."""

    keep_last: int = Field(default=7, ge=1)
    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=6, ge=0)


class Backup(_Section):
    """Where backups of this environment go and how long they are kept."""

    storage: Literal["local", "s3"] = "local"
    local_dir: str = "var/backups"
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_region: str | None = None
    s3_endpoint_url_env: str = "BACKUP_S3_ENDPOINT_URL"
    encryption_key_env: str = "BACKUP_ENCRYPTION_KEY"
    encrypt_database: bool = False
    encrypt_state: bool = False
    s3_part_size_mib: int = Field(default=64, ge=5, le=5120)
    config_paths: list[str] | None = None  # None: ops.backup.archives.CONFIG_PATHS
    state_paths: list[str] | None = None  # None: ops.backup.archives.STATE_PATHS
    retention: Retention = Field(default_factory=Retention)


class Drill(_Section):
    """Targets the disaster-recovery drill must meet."""

    rto_seconds: float = Field(default=900, gt=0)
    rpo_seconds: float = Field(default=26 * 3600, gt=0)
    server_url_env: str = "DRILL_DATABASE_URL"  # where scratch databases go (default: own server)


class LocalSettings(_Section):
    """``[local]``: the local platform (releases run as processes behind a proxy here)."""

    proxy: Literal["caddy"] = "caddy"
    proxy_port: int = Field(default=8080, ge=1, le=65535)
    state_dir: str | None = None  # None: var/deploy/<environment name>
    workers: int = Field(default=1, ge=1, le=32)


class KubernetesSettings(_Section):
    """``[kubernetes]``: kubectl against the manifests under deploy/kubernetes."""

    context: str | None = None
    namespace: str = "trading"
    deployment: str = "trading-api"
    container: str = "api"
    manifests_dir: str = "deploy/kubernetes/base"
    image: str = ""  # the image repository; "" : ghcr.io/<GITHUB_REPOSITORY>, where CI pushes
    rollout_timeout_seconds: int = Field(default=300, gt=0)


class RailwaySettings(_Section):
    """``[railway]``: the railway CLI's project, service and environment."""

    project: str | None = None
    service: str = "trading-api"
    environment: str = "production"


class ImageSettings(_Section):
    """What the production image must meet (``invoke image.check``)."""

    size_budget_mb: float = Field(default=400, gt=0)  # MiB, as `docker image ls` counts
    boot_seconds: float = Field(default=90, gt=0, le=900)  # migrate, serve, healthy
    health_interval_seconds: float = Field(default=2, gt=0, le=60)  # during the check only
    drain_seconds: float = Field(default=20, gt=0, le=300)  # SIGTERM to the request's end
    database_url_env: str = "IMAGE_CHECK_DATABASE_URL"  # the PostgreSQL server to boot on
    redis_url_env: str = "IMAGE_CHECK_REDIS_URL"


ServiceUserKind = Literal["smoke", "monitor", "perf"]
GATE_USERS: tuple[ServiceUserKind, ...] = ("smoke", "monitor")


class ServiceUsers(_Section):
    """``[users]``: the service accounts ``invoke users.provision`` keeps (docs/users.md):
    the smoke user (``[gates]``), the monitor's journey user (``[monitor.journey]``) and
    the load accounts of the perf step, each with the balance it trades with."""

    provision: list[ServiceUserKind] = Field(default_factory=lambda: list(GATE_USERS))
    gate_cash: Decimal = Field(default=Decimal(10000), ge=0)  # the smoke and monitor users'
    perf_password_env: str = "PERF_PASSWORD"  # noqa: S105 - a variable name
    perf_email_domain: str = ""  # "": the public URL's host
    perf_cash: Decimal = Field(default=Decimal(100_000_000), ge=0)
    perf_holding_lots: int = Field(default=100_000, ge=0)  # of every symbol a scenario trades


class EnvironmentDefinition(_Section):
    """One deployment target, as ``deploy/environments/<name>.toml`` defines it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    description: str = ""
    platform: Platform
    public_url: str = Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    health_path: str = Field(default="/health", pattern=r"^/\S*$")
    readiness_path: str = Field(default="/ready", pattern=r"^/\S*$")
    version_path: str = Field(default="/version", pattern=r"^/\S*$")
    approval_required: bool = False
    pre_deploy_backup: bool = False
    seed_demo_data: bool = False
    releases_to_keep: int = Field(default=3, ge=1, le=50)
    required_secrets: list[str] = Field(default_factory=list)
    app: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    gates: Gates = Field(default_factory=Gates)
    notify: Notify = Field(default_factory=Notify)
    backup: Backup = Field(default_factory=Backup)
    drill: Drill = Field(default_factory=Drill)
    local: LocalSettings = Field(default_factory=LocalSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    railway: RailwaySettings = Field(default_factory=RailwaySettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    image: ImageSettings = Field(default_factory=ImageSettings)
    users: ServiceUsers = Field(default_factory=ServiceUsers)
    perf: dict[str, Any] = Field(default_factory=dict)  # over deploy/perf.toml: slo()

    @field_validator("required_secrets")
    @classmethod
    def _variable_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.isidentifier() or name.upper() != name:
                raise ValueError(f"{name!r} is not an environment variable name")
        return names

    @field_validator("app")
    @classmethod
    def _no_secrets_in_app(cls, values: dict[str, str]) -> dict[str, str]:
        for key in values:
            if any(word in key.upper() for word in SECRET_WORDS):
                raise ValueError(f"{key} looks like a secret: list it in required_secrets")
        return values

    def url(self, path: str) -> str:
        """An absolute URL on the public address."""
        return self.public_url.rstrip("/") + path

    def slo(self) -> Slo:
        """The environment's performance objectives: deploy/perf.toml with its ``[perf]``
        over it (the deploy gate's latency budget is one of them)."""
        return resolve(self.perf, where=f"{self.name}.toml [perf]")

    @property
    def is_production(self) -> bool:
        """True for the environment that needs explicit approval."""
        return self.name == "production"

    @property
    def state_dir(self) -> Path:
        """Where the environment's deploy lock, history and run reports are kept (and, on
        the local platform, its releases, processes and data): ``local.state_dir``, else
        ``var/deploy/<name>``."""
        return (ROOT / (self.local.state_dir or f"var/deploy/{self.name}")).resolve()

    @property
    def shared_data_dir(self) -> Path:
        """The local platform's data shared by every release (``DATA_DIR``: SQLite file, key)."""
        return self.state_dir / "shared"

    def database_url(self, secrets: Mapping[str, str]) -> str:
        """The environment's database: ``DATABASE_URL`` from its secrets, else (local
        platform) the SQLite file in the shared data directory."""
        if secrets.get("DATABASE_URL"):
            return secrets["DATABASE_URL"]
        if self.platform == "local":
            return f"sqlite+aiosqlite:///{self.shared_data_dir / 'trading.db'}"
        raise EnvironmentProblem(f"DATABASE_URL: required for environment {self.name!r}")


def environments_dir(env: Mapping[str, str]) -> Path:
    """Where the definitions are: ``$DEPLOY_ENVIRONMENTS_DIR`` or deploy/environments."""
    override = env.get(ENVIRONMENTS_DIR_VARIABLE)
    return Path(override) if override else DEFAULT_ENVIRONMENTS_DIR


def environment_path(name: str, directory: Path = DEFAULT_ENVIRONMENTS_DIR) -> Path:
    """The definition file of ``name``."""
    return directory / f"{name}.toml"


def available(directory: Path = DEFAULT_ENVIRONMENTS_DIR) -> list[str]:
    """Names of every defined environment."""
    return sorted(path.stem for path in directory.glob("*.toml"))


def load_environment(
    name: str, directory: Path = DEFAULT_ENVIRONMENTS_DIR
) -> EnvironmentDefinition:
    """Read and validate one definition; raise :class:`EnvironmentProblem` with one line."""
    path = environment_path(name, directory)
    if not path.is_file():
        known = ", ".join(available(directory)) or "none"
        raise EnvironmentProblem(f"unknown environment {name!r} (defined: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise EnvironmentProblem(f"{_rel(path)}: invalid TOML: {error}") from None
    data.setdefault("name", name)
    if data["name"] != name:
        raise EnvironmentProblem(f"{_rel(path)}: name is {data['name']!r}, file says {name!r}")
    try:
        definition = EnvironmentDefinition.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "definition"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise EnvironmentProblem(f"{_rel(path)}: {where}: {message}") from None
    try:
        resolve(definition.perf, where=f"{_rel(path)} [perf]")
    except SloProblem as error:
        raise EnvironmentProblem(str(error)) from None
    return definition


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def local_secrets_file(name: str, root: Path = ROOT) -> Path:
    """The git-ignored file that may hold an environment's secrets."""
    return root / f".env.{name}.local"


def resolve_secrets(
    environment: EnvironmentDefinition, env: Mapping[str, str], root: Path = ROOT
) -> dict[str, str]:
    """Every required secret, from the process environment first, then ``.env.<name>.local``.

    Raises :class:`EnvironmentProblem` naming the first secret that is missing or a
    placeholder.
    """
    local_file = local_secrets_file(environment.name, root)
    try:
        from_file = read_dotenv(local_file)
    except OpsError as error:
        raise EnvironmentProblem(str(error)) from None
    resolved: dict[str, str] = {}
    for key in environment.required_secrets:
        value = env.get(key) or from_file.get(key)
        if not value:
            raise EnvironmentProblem(
                f"{key}: required by environment {environment.name!r}; set it in the "
                f"environment or in {local_file.name} (git-ignored)"
            )
        if is_placeholder(value):
            raise EnvironmentProblem(f"{key}: is a placeholder in environment {environment.name!r}")
        resolved[key] = value
    return resolved


def known_secrets(
    environment: EnvironmentDefinition, env: Mapping[str, str], root: Path = ROOT
) -> dict[str, str]:
    """The variables set for an environment -- the process environment over its
    ``.env.<name>.local`` file -- with placeholder secrets left out; nothing is required
    (a reader such as the monitor says itself what is missing)."""
    try:
        values = {**read_dotenv(local_secrets_file(environment.name, root)), **env}
    except OpsError as error:
        raise EnvironmentProblem(str(error)) from None

    def placeholder_secret(key: str, value: str) -> bool:
        secret = key in environment.required_secrets or any(w in key.upper() for w in SECRET_WORDS)
        return secret and is_placeholder(value)

    return {k: v for k, v in values.items() if v and not placeholder_secret(k, v)}
