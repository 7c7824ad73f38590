"""``invoke users.provision`` end to end: an environment's service accounts made in its
PostgreSQL database, checked by logging in at its public URL (a real server on that
database), used by the perf step -- and every way it refuses or fails."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.core.console import Console
from ops.core.exits import CANNOT_RUN, CannotRun
from ops.core.steps import StepFailed
from ops.environments import load_environment
from ops.live.client import TradingClient, limit_order
from ops.live.server import UNLIMITED, AppServer, app_cli
from ops.perf.provision import provision as provision_load
from ops.users.operations import provision
from tests.support import backends
from tests.support.invoke import run_invoke

NAME = "svc"
DEFINITION = """\
platform = "local"
public_url = "{url}"
approval_required = {approval}

[gates]
smoke_user = "{smoke}"

[monitor.journey]
user = "monitor@example.com"

[users]
provision = ["smoke", "monitor", "perf"]
perf_email_domain = "perf.example.com"
gate_cash = "2500"
perf_cash = "1000000"
perf_holding_lots = 50

[perf.scenarios.trader-mix]
accounts = 3
makers = 1
symbols = ["AAPL"]

[perf.scenarios.hot-symbol]
accounts = 3
makers = 1

[perf.scenarios.read-mix]
accounts = 2
symbols = ["AAPL"]

[local]
state_dir = "{state}"
"""
PASSWORDS = {
    "SMOKE_PASSWORD": "smoke-account-pass",  # pragma: allowlist secret
    "MONITOR_PASSWORD": "monitor-account-pass",  # pragma: allowlist secret
    "PERF_PASSWORD": "load-accounts-secret",  # pragma: allowlist secret
}


@dataclass
class Site:
    """A served database and a definition directory naming it."""

    root: Path
    server: AppServer
    database_url: str

    def define(self, *, url: str = "", smoke: str = "smoke@example.com",
               approval: bool = False) -> None:  # fmt: skip
        """(Re)write the environment's definition."""
        text = DEFINITION.format(url=url or self.server.url, smoke=smoke, state=self.root / "state",
                                 approval=str(approval).lower())  # fmt: skip
        (self.root / "environments" / f"{NAME}.toml").write_text(text, encoding="utf-8")

    def env(self, **changes: str) -> dict[str, str]:
        """The variables a run sees: the definitions, the database, the passwords."""
        return {"DEPLOY_ENVIRONMENTS_DIR": str(self.root / "environments"),
                "DATABASE_URL": self.database_url, **PASSWORDS, **changes}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pg_template: str) -> Iterator[Site]:
    """A PostgreSQL database (seeded) served by the app, and a definition pointing at both."""
    root = tmp_path_factory.mktemp("users")
    (root / "environments").mkdir()
    with backends.throwaway_database("trading_users", pg_template) as url:
        settings = {"ENVIRONMENT": "testing", "DATABASE_URL": url, "DATA_DIR": str(root / "var"),
                    "JWT_SECRET_KEY": secrets.token_urlsafe(48), **UNLIMITED}  # fmt: skip
        with AppServer(settings, root, env=os.environ) as server:
            found = Site(root, server, url)
            found.define()
            yield found


def run(
    site: Site, capsys: pytest.CaptureFixture[str], **options: bool
) -> tuple[dict[str, Any], str]:
    """One in-process run; (its result, what it printed)."""
    result = provision(NAME, site.env(), Console(interactive=False), **options)
    return result, capsys.readouterr().out


def test_a_dry_run_plans_every_account_and_changes_nothing(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(site, capsys, dry_run=True)
    assert [entry["pending"][0] for entry in result["accounts"]] == ["create"] * 6
    assert "smoke@example.com" in out
    assert "deposit 2500 USD" in out
    assert "dry run: nothing changed" in out
    again, _ = run(site, capsys, dry_run=True)
    assert again["accounts"] == result["accounts"]


def test_provision_creates_funds_and_verifies_then_is_idempotent(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(site, capsys)
    assert result["result"] == "succeeded"
    assert [step["name"] for step in result["steps"]] == ["apply"] * 6 + ["verify"]
    assert "perf-maker-000@perf.example.com: create; deposit 1000000 USD; transfer in" in out
    assert "6 accounts as planned; 5 logged in" in out
    text = json.dumps(result)
    assert not any(password in text for password in PASSWORDS.values())
    again, out = run(site, capsys)
    assert [step["name"] for step in again["steps"]] == ["verify"], "nothing to apply"
    assert all(entry["pending"] == [] for entry in again["accounts"])


def test_the_perf_step_acts_as_the_provisioned_accounts(site: Site) -> None:
    environment = load_environment(NAME, site.root / "environments")
    provisioned = provision_load(site.server.url, "trader-mix", environment.slo(), site.env(),
                                 local=False, environment=environment)  # fmt: skip
    assert [a.email for a in provisioned.accounts] == [
        "perf-maker-000@perf.example.com", "perf-taker-000@perf.example.com",
        "perf-taker-001@perf.example.com",
    ]  # fmt: skip
    taker = provisioned.accounts[1]
    with TradingClient(site.server.url) as client:
        client.login(taker.email, taker.password)
        order = client.place(limit_order("AAPL", "sell", "1", "100000"))
        assert order["status"] == "new", "the load account holds what it sells"
        client.cancel(order["id"])


def test_a_rotated_secret_changes_only_that_password(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    env = site.env(SMOKE_PASSWORD="rotated-smoke-pass")
    result = provision(NAME, env, Console(interactive=False))
    pending = {entry["email"]: entry["pending"] for entry in result["accounts"]}
    assert pending["smoke@example.com"] == ["set password"]
    assert [p for email, p in pending.items() if email != "smoke@example.com"] == [[]] * 5
    with TradingClient(site.server.url) as client:
        client.login("smoke@example.com", "rotated-smoke-pass")
    provision(NAME, site.env(), Console(interactive=False))
    capsys.readouterr()


def test_verify_fails_when_the_public_url_serves_another_database(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = {"ENVIRONMENT": "testing", "DATA_DIR": str(tmp_path / "other"),
                "JWT_SECRET_KEY": secrets.token_urlsafe(48), **UNLIMITED}  # fmt: skip
    assert app_cli("migrate", settings=settings, env=os.environ, cwd=tmp_path).ok
    with AppServer(settings, tmp_path, env=os.environ) as other:
        site.define(url=other.url)
        try:
            with pytest.raises(StepFailed, match=r"verify: log in as smoke@example.com: .*401"):
                run(site, capsys)
        finally:
            site.define()
    assert "FAIL verify" in capsys.readouterr().out


def test_without_login_only_the_database_is_verified(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.define(url="http://127.0.0.1:9")  # nothing serves it yet: before a first deploy
    try:
        result, out = run(site, capsys, login=False)
    finally:
        site.define()
    assert result["result"] == "succeeded"
    assert "6 accounts as planned (no login at the public URL)" in out


def test_a_user_of_another_role_refuses_the_run_before_any_change(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.define(smoke="admin@example.com")
    try:
        with pytest.raises(CannotRun, match=r"admin@example\.com exists as admin; a service acc"):
            run(site, capsys)
    finally:
        site.define()


def test_a_change_needing_approval_is_refused_without_it(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.define(approval=True)
    env = site.env(MONITOR_PASSWORD="rotated-monitor-pass")
    try:
        with pytest.raises(CannotRun, match="changing svc's service accounts needs approval"):
            provision(NAME, env, Console(interactive=False))
        approved = provision(NAME, env, Console(interactive=False), yes=True)
        assert approved["approval"] == "approved with --yes"
        provision(NAME, site.env(), Console(interactive=False), yes=True)
    finally:
        site.define()
    capsys.readouterr()


def test_the_task_says_in_one_line_what_is_missing_or_unreachable(site: Site) -> None:
    missing = run_invoke("users.provision", "--env", NAME, env=site.env(MONITOR_PASSWORD=""))
    assert missing.returncode == CANNOT_RUN
    assert missing.stderr.strip() == (
        "error: MONITOR_PASSWORD: the monitor user's password is required"
    )
    gone = "postgresql://postgres:hidden-pass@127.0.0.1:9/nowhere"  # pragma: allowlist secret
    unreachable = run_invoke("users.provision", "--env", NAME, env=site.env(DATABASE_URL=gone))
    assert unreachable.returncode == CANNOT_RUN
    line = unreachable.stderr.strip()
    assert line.startswith("error: database postgresql+asyncpg://postgres:***@127.0.0.1:9/nowhere")
    assert "hidden-pass" not in unreachable.stdout + unreachable.stderr
    done = run_invoke("users.provision", "--env", NAME, "--json", env=site.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "succeeded"
