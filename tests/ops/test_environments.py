"""Environment definitions: validation and secrets, each failure one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.core.environ import read_dotenv
from ops.environments import (
    EnvironmentProblem,
    available,
    load_environment,
    resolve_secrets,
)
from ops.perf.slo import resolve
from ops.project import ROOT

GOOD_SECRET = "S7n2Kq9xV4mB8wR1tY6uP3zL0cF5hJ2d"  # pragma: allowlist secret


def test_committed_environments_are_valid() -> None:
    assert available() == ["local", "production", "staging"]
    production = load_environment("production")
    assert production.approval_required
    assert production.pre_deploy_backup
    assert load_environment("local").platform == "local"


def test_committed_env_files_hold_only_placeholders() -> None:
    from app.settings import is_placeholder

    for name in (".env.example", ".env.staging", ".env.production", ".env.test"):
        for key, value in read_dotenv(ROOT / name).items():
            if any(word in key for word in ("SECRET", "PASSWORD", "KEY", "URL")) and value:
                assert is_placeholder(value) or "<" in value, f"{name}: {key} is not a placeholder"


def _write(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.toml").write_text(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('platform = "moon"\npublic_url = "http://x"', "platform: Input should be"),
        ('platform = "local"\npublic_url = "not a url"', "public_url: String should match"),
        ('platform = "local"\npublic_url = "http://x"\n[gates]\nprobes = 0', "gates.probes"),
        ('platform = "local"\npublic_url = "http://x"\nsurprise = 1', "surprise: Extra inputs"),
        (
            'platform = "local"\npublic_url = "http://x"\n[app]\nJWT_SECRET_KEY = "x"',
            "looks like a secret",
        ),
        (
            'platform = "local"\npublic_url = "http://x"\nrequired_secrets = ["lower"]',
            "not an environment variable",
        ),
        ("platform = ", "invalid TOML"),
        (
            'platform = "local"\npublic_url = "http://x"\n[perf.run]\nrate = 0',
            "bad.toml [perf]: run.rate: Input should be greater than 0",
        ),
        (
            'platform = "local"\npublic_url = "http://x"\n[gates]\np95_budget_ms = 250',
            "gates.p95_budget_ms: Extra inputs are not permitted",
        ),
        ('name = "other"\nplatform = "local"\npublic_url = "http://x"', "name is 'other'"),
    ],
)
def test_invalid_definitions_fail_with_one_line(tmp_path: Path, body: str, message: str) -> None:
    _write(tmp_path, "bad", body)
    with pytest.raises(EnvironmentProblem) as caught:
        load_environment("bad", tmp_path)
    text = str(caught.value)
    assert message in text
    assert text.startswith(str(tmp_path / "bad.toml")) or "bad.toml" in text
    assert "\n" not in text


def test_each_environment_resolves_its_performance_objectives() -> None:
    book = "GET /v1/market/{symbol}/book"
    assert load_environment("staging").slo().request(book).p95_ms == 300
    assert load_environment("production").slo().request(book).p95_ms == 250
    assert load_environment("local").slo() == resolve()


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(
        EnvironmentProblem,
        match=r"unknown environment 'qa' \(defined: local, production, staging\)",
    ):
        load_environment("qa")


def test_secrets_come_from_the_environment_or_the_local_file(tmp_path: Path) -> None:
    staging = load_environment("staging")
    env = {
        "DATABASE_URL": "postgresql://u:p@h/db",
        "REDIS_URL": "redis://h/0",
        "JWT_SECRET_KEY": GOOD_SECRET,
    }
    with pytest.raises(
        EnvironmentProblem, match="SMOKE_PASSWORD: required by environment 'staging'"
    ):
        resolve_secrets(staging, env, tmp_path)
    (tmp_path / ".env.staging.local").write_text("# local\nSMOKE_PASSWORD='Smoke-Pass-2026'\n")
    assert resolve_secrets(staging, env, tmp_path)["SMOKE_PASSWORD"] == "Smoke-Pass-2026"


def test_placeholder_secrets_are_refused(tmp_path: Path) -> None:
    staging = load_environment("staging")
    env = {
        "DATABASE_URL": "postgresql://u:p@h/db",
        "REDIS_URL": "redis://h/0",
        "JWT_SECRET_KEY": "<32+ random characters>",
        "SMOKE_PASSWORD": "x1y2z3w4",
    }
    with pytest.raises(EnvironmentProblem, match="JWT_SECRET_KEY: is a placeholder"):
        resolve_secrets(staging, env, tmp_path)


def test_malformed_local_secrets_file(tmp_path: Path) -> None:
    staging = load_environment("staging")
    (tmp_path / ".env.staging.local").write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(EnvironmentProblem, match=r"^\.env\.staging\.local:2: expected KEY=value$"):
        resolve_secrets(staging, {}, tmp_path)


def test_database_url_of_an_environment() -> None:
    local = load_environment("local")
    assert local.database_url({}).endswith("var/deploy/local/shared/trading.db")
    assert local.database_url({"DATABASE_URL": "postgresql://h/db"}) == "postgresql://h/db"
    with pytest.raises(EnvironmentProblem, match="DATABASE_URL: required for environment"):
        load_environment("staging").database_url({})


def test_each_environment_keeps_its_own_state() -> None:
    staging, production = load_environment("staging"), load_environment("production")
    assert staging.state_dir == ROOT / "var" / "deploy" / "staging"
    assert production.state_dir == ROOT / "var" / "deploy" / "production"
    assert load_environment("local").state_dir == ROOT / "var" / "deploy" / "local"
