"""Application settings, read from the environment and `.env` files.

With no configuration at all the service runs on the embedded defaults: a
SQLite file under ``DATA_DIR`` and in-process cache and rate limiter. Staging
and production refuse to start on unsafe values; every refusal is a single
line naming the variable (see :func:`load_settings`).
"""

from __future__ import annotations

import os
import re
import secrets
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_LENGTH = 32
_PLACEHOLDER_WORDS = (
    "change",
    "placeholder",
    "replace",
    "example",
    "dummy",
    "your-",
    "your_",
    "todo",
    "fixme",
    "insecure",
    "not-a-secret",
)


class Environment(StrEnum):
    """Where the service runs; staging and production are the strict ones."""

    DEVELOPMENT = "development"
    TESTING = "testing"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_deployed(self) -> bool:
        """True for environments that serve real users and must be locked down."""
        return self in (Environment.STAGING, Environment.PRODUCTION)


def async_database_url(url: str) -> str:
    """``url`` with the async driver the service uses (``postgres://`` and
    ``postgresql://`` -> asyncpg, ``sqlite://`` -> aiosqlite); ValueError for another."""
    value = url.strip()
    if value.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + value.split("://", 1)[1]
    if value.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + value.split("://", 1)[1]
    if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise ValueError("must be a postgresql:// or sqlite:// URL")
    return value


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


def is_placeholder(value: str) -> bool:
    """Tell whether a secret looks like a template placeholder rather than a real value."""
    lowered = value.strip().lower()
    if not lowered:
        return True
    if re.fullmatch(r"<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}", lowered):
        return True
    if len(set(lowered)) <= 2:
        return True
    return any(word in lowered for word in _PLACEHOLDER_WORDS)


class Settings(BaseSettings):
    """Every knob of the service. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    environment: Environment = Environment.DEVELOPMENT
    debug: bool = False
    app_name: str = "trading-api"
    app_version: str = "0.1.0"
    git_sha: str = "unknown"

    data_dir: Path = Path("var")
    database_url: str = ""
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_echo: bool = False
    redis_url: str | None = None
    redis_prefix: str = Field(default="trading:", pattern=r"^[A-Za-z0-9:_\-]{1,64}$")

    jwt_secret_key: str = ""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"  # HMAC only: one shared key
    jwt_expire_minutes: int = Field(default=30, ge=1, le=24 * 60)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    rate_limit_enabled: bool = True
    rate_limit_per_ip: int = Field(default=600, ge=1)
    rate_limit_per_user: int = Field(default=300, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1)

    market_cache_ttl_seconds: float = Field(default=0.5, ge=0)
    market_order_collar: Decimal = Field(default=Decimal("0.05"), gt=0, lt=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = True

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value) if value.strip() else ""

    @model_validator(mode="after")
    def _deployed_safety(self) -> Settings:
        if not self.environment.is_deployed:
            return self
        env = self.environment.value
        if self.debug:
            raise ValueError(f"DEBUG: must be off in {env}")
        if not self.jwt_secret_key:
            raise ValueError(f"JWT_SECRET_KEY: is required in {env}")
        if len(self.jwt_secret_key) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"JWT_SECRET_KEY: must be at least {MIN_SECRET_LENGTH} characters in {env}"
            )
        if is_placeholder(self.jwt_secret_key):
            raise ValueError(f"JWT_SECRET_KEY: is a placeholder, set a real secret in {env}")
        if not self.database_url or self.database_url.startswith("sqlite"):
            raise ValueError(f"DATABASE_URL: must be a PostgreSQL URL in {env}, not SQLite")
        if "*" in self.cors_origins:
            raise ValueError(f"CORS_ORIGINS: '*' is not allowed in {env}")
        return self

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.effective_database_url.startswith("sqlite")

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``DATA_DIR``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'trading.db').resolve()}"

    @cached_property
    def effective_jwt_secret(self) -> str:
        """The signing key; outside staging/production a per-data-dir key is created once."""
        if self.jwt_secret_key:
            return self.jwt_secret_key
        return _local_secret(self.data_dir / "jwt-secret")

    @property
    def docs_enabled(self) -> bool:
        """Interactive docs and the schema are served everywhere but production."""
        return self.environment is not Environment.PRODUCTION


def _local_secret(path: Path) -> str:
    """Read (or create, mode 0600) a random key kept beside the embedded database.

    Several workers may start at once: the key is written to a private temporary
    file and linked into place atomically, so every process reads the same key.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process won the race; use its key
    finally:
        temporary.unlink()
    return path.read_text(encoding="utf-8").strip()


def describe_validation_error(error: ValidationError) -> str:
    """Render the first problem of a settings validation error as one line."""
    first = error.errors()[0]
    message = str(first.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    location = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    if location:
        variable = location[0].upper()
        return f"{variable}: {message}"
    return message


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, raising :class:`ConfigError` with one line."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(f"configuration error: {describe_validation_error(error)}") from None
