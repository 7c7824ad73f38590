"""Which service accounts an environment needs and their passwords (ops/users/accounts.py)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from app.services.seed import DEMO_PASSWORD
from ops.core.exits import CannotRun
from ops.environments import EnvironmentDefinition, ServiceUsers, load_environment
from ops.perf.scenarios import SCENARIOS, parameters
from ops.project import ROOT
from ops.users.accounts import (
    derived_password,
    gate_users,
    load_accounts,
    password_of,
    scenario_accounts,
    service_users,
)

LOAD_SECRET = "one-load-secret-for-all"  # pragma: allowlist secret
SHORT = "short"  # pragma: allowlist secret


def staging(**users: Any) -> EnvironmentDefinition:
    base = load_environment("staging")
    return base.model_copy(update={"users": base.users.model_copy(update=users)})


def test_staging_provisions_its_gate_users_and_enough_load_accounts_for_every_scenario() -> None:
    environment = staging(provision=["smoke", "monitor", "perf"])
    users = service_users(environment)
    assert [(u.kind, u.email) for u in users[:2]] == [
        ("smoke", "smoke@staging.trading.example.com"),
        ("monitor", "monitor@staging.trading.example.com"),
    ]
    load = users[2:]
    slo = environment.slo()
    for role in ("maker", "taker", "reader"):
        wanted = max(parameters(name, slo).roles().count(role) for name in SCENARIOS)
        assert sum(1 for user in load if user.role == role) == wanted > 0
    assert load[0].email == "perf-maker-000@staging.trading.example.com"
    symbols = {s for name in SCENARIOS for s in parameters(name, slo).traded}
    assert set(load[0].holding_lots) == symbols
    assert load[0].cash == environment.users.perf_cash
    assert users[0].cash == environment.users.gate_cash


def test_only_the_kinds_listed_are_provisioned() -> None:
    assert [u.kind for u in service_users(staging(provision=["monitor"]))] == ["monitor"]
    assert service_users(staging(provision=[])) == []
    domain = staging(provision=["perf"], perf_email_domain="load.example.net")
    assert service_users(domain)[0].email.endswith("@load.example.net")


def test_passwords_come_from_the_secrets_and_load_passwords_are_derived() -> None:
    environment = staging(provision=["smoke", "monitor", "perf"])
    smoke, monitor, first, second = service_users(environment)[:4]
    smoke_secret, monitor_secret = "smoke-secret", "monitor-secret"  # pragma: allowlist secret
    secrets = {"SMOKE_PASSWORD": smoke_secret, "MONITOR_PASSWORD": monitor_secret,
               "PERF_PASSWORD": LOAD_SECRET}  # fmt: skip
    assert password_of(smoke, secrets, environment) == "smoke-secret"
    assert password_of(monitor, secrets, environment) == "monitor-secret"
    one, two = (password_of(user, secrets, environment) for user in (first, second))
    assert one == derived_password(LOAD_SECRET, first.email) != two
    assert LOAD_SECRET not in one
    assert len(one) >= 32
    assert derived_password(LOAD_SECRET, first.email.upper()) == one, "e-mails are not cased"
    assert derived_password("another-load-secret", first.email) != one


@pytest.mark.parametrize(
    ("kind", "secrets", "message"),
    [
        ("smoke", {}, "SMOKE_PASSWORD: the smoke user's password is required"),
        ("monitor", {"MONITOR_PASSWORD": ""}, "MONITOR_PASSWORD: the monitor user's password is"),
        ("perf", {"PERF_PASSWORD": SHORT}, "PERF_PASSWORD: must be at least 8 characters"),
    ],
)
def test_a_missing_or_weak_password_is_named(
    kind: str, secrets: dict[str, str], message: str
) -> None:
    environment = staging(provision=["smoke", "monitor", "perf"])
    user = next(u for u in service_users(environment) if u.kind == kind)
    with pytest.raises(CannotRun, match=message):
        password_of(user, secrets, environment)


def test_the_smoke_user_has_the_demo_password_where_demo_data_is_seeded() -> None:
    local = load_environment("local")
    (smoke,) = [u for u in service_users(local) if u.kind == "smoke"]
    assert password_of(smoke, {}, local) == DEMO_PASSWORD
    (monitor,) = [u for u in service_users(local) if u.kind == "monitor"]
    with pytest.raises(CannotRun, match="MONITOR_PASSWORD"):
        password_of(monitor, {}, local)


def test_a_scenario_acts_as_the_first_accounts_of_each_role() -> None:
    environment = staging(provision=["perf"])
    params = parameters("trader-mix", environment.slo())
    accounts = scenario_accounts(environment, params, {"PERF_PASSWORD": LOAD_SECRET})
    assert [a.role for a in accounts] == params.roles()
    assert accounts[0].email == "perf-maker-000@staging.trading.example.com"
    assert accounts[params.makers].email == "perf-taker-000@staging.trading.example.com"
    assert len({a.email for a in accounts}) == len(accounts)
    assert accounts[0].password == derived_password(LOAD_SECRET, accounts[0].email)
    with pytest.raises(CannotRun, match=r"staging: \[users\] provision has no load accounts"):
        scenario_accounts(staging(provision=["smoke"]), params, {"PERF_PASSWORD": LOAD_SECRET})


def test_verification_logs_in_as_the_gate_users_and_one_load_account_per_role() -> None:
    users = service_users(staging(provision=["smoke", "monitor", "perf"]))
    chosen = gate_users(users)
    assert [(u.kind, u.role) for u in chosen] == [
        ("smoke", None), ("monitor", None), ("perf", "maker"), ("perf", "taker"),
        ("perf", "reader"),
    ]  # fmt: skip


def test_the_users_section_is_validated() -> None:
    with pytest.raises(ValueError, match="provision"):
        ServiceUsers.model_validate({"provision": ["admin"]})
    with pytest.raises(ValueError, match="gate_cash"):
        ServiceUsers.model_validate({"gate_cash": "-1"})
    assert ServiceUsers().provision == ["smoke", "monitor"]
    assert ServiceUsers().gate_cash == Decimal(10000)
    assert load_environment("staging").users.provision == ["smoke", "monitor", "perf"]
    assert load_environment("production").users.provision == ["smoke", "monitor"]
    assert load_accounts(staging(provision=["smoke"])), "defined whether provisioned or not"


def test_the_tasks_load_without_the_load_generator() -> None:
    """invoke's sessions install the ops group only: the tasks, the deploy and the users
    task must not import locust, gevent or the HDR histograms (the perf group)."""
    probe = (
        "import sys, tasks, ops.deploy.context, ops.users.operations; "
        "print(sorted(m for m in ('hdrh', 'locust', 'gevent') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
