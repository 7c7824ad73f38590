"""Settings: embedded defaults, and refusals in staging/production with one line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from app.settings import ConfigError, Environment, is_placeholder, load_settings
from ops.core.commands import Completed
from ops.live.server import app_cli

GOOD_SECRET = "k3Jq9vX2mB7tR4wZ8pL1nF6hD0sA5cE9gU2yT7qW"  # pragma: allowlist secret
PG_URL = "postgresql://app@db.internal:5432/trading"


def deployed(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "environment": "production",
        "jwt_secret_key": GOOD_SECRET,
        "database_url": PG_URL,
        "_env_file": None,
    }
    values.update(overrides)
    return values


def test_embedded_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path)
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.is_sqlite
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'trading.db'}"
    assert settings.redis_url is None
    secret = settings.effective_jwt_secret
    assert len(secret) >= 32
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600
    again = load_settings(_env_file=None, data_dir=tmp_path)
    assert again.effective_jwt_secret == secret, "the generated key survives restarts"


def test_production_accepts_a_real_configuration() -> None:
    settings = load_settings(**deployed())
    assert settings.effective_database_url.startswith("postgresql+asyncpg://")
    assert not settings.docs_enabled


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_secret_key": ""}, "JWT_SECRET_KEY: is required in production"),
        ({"jwt_secret_key": "short-but-real-Xy1"}, "JWT_SECRET_KEY: must be at least 32"),
        (
            {"jwt_secret_key": "change-me-change-me-change-me-change-me"},
            "JWT_SECRET_KEY: is a placeholder",
        ),
        ({"debug": True}, "DEBUG: must be off in production"),
        ({"database_url": "sqlite:///prod.db"}, "DATABASE_URL: must be a PostgreSQL URL"),
        ({"database_url": ""}, "DATABASE_URL: must be a PostgreSQL URL"),
        ({"cors_origins": "*"}, "CORS_ORIGINS: '*' is not allowed"),
        ({"environment": "staging", "debug": True}, "DEBUG: must be off in staging"),
    ],
)
def test_deployed_environments_refuse_unsafe_settings(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**deployed(**overrides))
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("environment", "prod", "ENVIRONMENT"),
        ("database_url", "mysql://x/y", "DATABASE_URL"),
        ("jwt_algorithm", "none", "JWT_ALGORITHM"),
        ("rate_limit_per_ip", 0, "RATE_LIMIT_PER_IP"),
        ("log_level", "LOUD", "LOG_LEVEL"),
    ],
)
def test_invalid_values_name_the_variable(field: str, value: object, variable: str) -> None:
    with pytest.raises(ConfigError, match=f"^configuration error: {variable}: "):
        load_settings(_env_file=None, **{field: value})


def test_cors_origins_are_read_as_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert load_settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ENVIRONMENT=testing\nRATE_LIMIT_PER_USER=7\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.environment is Environment.TESTING
    assert settings.rate_limit_per_user == 7


@pytest.mark.parametrize(
    "value",
    [
        "",
        "changeme",
        "CHANGE_ME_PLEASE",
        "<your-secret>",
        "${JWT_SECRET}",
        "xxxxxxxxxxxxxxxxx",
        "replace-with-a-real-key",
        "example-secret-key",
    ],
)
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value)


def test_real_secret_is_not_a_placeholder() -> None:
    assert not is_placeholder(GOOD_SECRET)


def test_bad_setting_ends_the_process_with_one_line(tmp_path: Path) -> None:
    result = run_app(
        "check-config",
        env={"ENVIRONMENT": "production", "JWT_SECRET_KEY": "changeme"},
        cwd=tmp_path,
    )
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "JWT_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_prints_no_secret(tmp_path: Path) -> None:
    result = run_app(
        "check-config",
        env={"JWT_SECRET_KEY": GOOD_SECRET, "DATABASE_URL": "postgresql://u:pw1234@h/db"},
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    assert GOOD_SECRET not in result.stdout
    assert "pw1234" not in result.stdout
    assert '"jwt_secret": "set"' in result.stdout


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from app.settings import _local_secret

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: _local_secret(tmp_path / "jwt-secret"), range(16)))
    assert len(keys) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jwt-secret"]


def run_app(*args: str, env: dict[str, str], cwd: Path) -> Completed:
    """``python -m app ARGS`` with exactly the settings in ``env``."""
    return app_cli(*args, settings=env, env=os.environ, cwd=cwd)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("jwt_algorithm", "RS256", "JWT_ALGORITHM: Input should be 'HS256', 'HS384' or 'HS512'"),
        ("log_level", "loud", "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
    ],
)
def test_choices_are_refused_naming_the_variable(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^configuration error: {re.escape(message)}"):
        load_settings(_env_file=None, **{field: value})


def test_the_log_level_is_read_in_any_case() -> None:
    assert load_settings(_env_file=None, log_level="warning").log_level == "WARNING"
