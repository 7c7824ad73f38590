"""Which service accounts an environment needs, and the password of each.

- the smoke user of the deploy gates (``[gates] smoke_user``, password
  ``smoke_password_env``; where demo data is seeded, the demo password by default);
- the monitor's journey user (``[monitor.journey] user`` and ``password_env``);
- the load accounts of the perf step: enough makers, takers and readers for any scenario
  (``perf-<role>-<NNN>@<domain>``), each with its own password derived from one secret
  (``[users] perf_password_env``) -- so CD holds one secret, and the users task and the
  perf step derive the same passwords without writing them anywhere.

Each has a cash balance to keep at least (and the load accounts a holding of every
symbol a scenario trades), as ``[users]`` says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from app.services.provisioning import Wanted
from app.services.seed import DEMO_PASSWORD
from ops.core.exits import CannotRun
from ops.environments import EnvironmentDefinition, ServiceUserKind

if TYPE_CHECKING:
    from ops.perf.scenarios import Account, ScenarioParameters

# The load generator's modules (locust, gevent, HDR histograms: the perf group) are
# imported only for load accounts: the deploy's smoke user needs none of them.
Role = Literal["maker", "taker", "reader"]  # ops.perf.scenarios.Role
PERF_ROLES: tuple[Role, ...] = ("maker", "taker", "reader")
MIN_PASSWORD = 8  # the service's rule for a password (app/api/schemas.py)


@dataclass(frozen=True, slots=True)
class ServiceUser:
    """One service account: what it is for, who, and the balance it keeps."""

    kind: ServiceUserKind
    email: str
    password_env: str
    role: Role | None = None  # a load account's role in the scenarios
    cash: Decimal = Decimal(0)
    holding_lots: Mapping[str, int] = field(default_factory=dict)

    def wanted(self, secrets: Mapping[str, str], environment: EnvironmentDefinition) -> Wanted:
        """What the service must keep for it, with its password from ``secrets``."""
        return Wanted(self.email, password_of(self, secrets, environment), self.cash,
                      self.holding_lots)  # fmt: skip


def service_users(environment: EnvironmentDefinition) -> list[ServiceUser]:
    """The service accounts ``[users] provision`` lists, in a fixed order."""
    kinds = environment.users.provision
    found = [smoke_user(environment)] if "smoke" in kinds else []
    if "monitor" in kinds:
        journey = environment.monitor.journey
        found.append(ServiceUser("monitor", journey.user, journey.password_env,
                                 cash=environment.users.gate_cash))  # fmt: skip
    if "perf" in kinds:
        found += load_accounts(environment)
    return found


def smoke_user(environment: EnvironmentDefinition) -> ServiceUser:
    """The user the deploy's smoke gate logs in as (``[gates] smoke_user``)."""
    gates = environment.gates
    return ServiceUser("smoke", gates.smoke_user, gates.smoke_password_env,
                       cash=environment.users.gate_cash)  # fmt: skip


def load_accounts(environment: EnvironmentDefinition) -> list[ServiceUser]:
    """The perf step's accounts: per role, as many as the scenario needing most has."""
    from ops.perf.scenarios import SCENARIOS, parameters

    slo = environment.slo()
    every = [parameters(name, slo) for name in SCENARIOS]
    symbols = sorted({symbol for params in every for symbol in params.traded})
    settings = environment.users
    lots = dict.fromkeys(symbols, settings.perf_holding_lots)
    domain = settings.perf_email_domain or (urlsplit(environment.public_url).hostname or "")
    counts = {role: max(params.roles().count(role) for params in every) for role in PERF_ROLES}
    users = []
    for role, count in counts.items():
        for number in range(count):
            email = f"perf-{role}-{number:03d}@{domain}"
            users.append(ServiceUser("perf", email, settings.perf_password_env, role=role,
                                     cash=settings.perf_cash, holding_lots=lots))  # fmt: skip
    return users


def password_of(
    user: ServiceUser, secrets: Mapping[str, str], environment: EnvironmentDefinition
) -> str:
    """The account's password: its secret (a load account's derived from the one load
    secret); the demo password for the smoke user where demo data is seeded; else
    :class:`CannotRun` naming the variable."""
    secret = secrets.get(user.password_env, "")
    if not secret and user.kind == "smoke" and environment.seed_demo_data:
        return DEMO_PASSWORD
    if not secret:
        raise CannotRun(f"{user.password_env}: the {user.kind} user's password is required")
    if len(secret) < MIN_PASSWORD:
        raise CannotRun(f"{user.password_env}: must be at least {MIN_PASSWORD} characters")
    return derived_password(secret, user.email) if user.kind == "perf" else secret


def derived_password(secret: str, email: str) -> str:
    """A load account's own password: HMAC-SHA256 of its e-mail under the load secret."""
    digest = hmac.new(secret.encode(), email.lower().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def scenario_accounts(
    environment: EnvironmentDefinition, params: ScenarioParameters, secrets: Mapping[str, str]
) -> tuple[Account, ...]:
    """The provisioned load accounts a scenario acts as, with their passwords: the first
    of each role, as many as the scenario has (its makers first)."""
    from ops.perf.scenarios import Account

    if "perf" not in environment.users.provision:
        raise CannotRun(f"{environment.name}: [users] provision has no load accounts ('perf')")
    by_role: dict[Role, list[ServiceUser]] = {role: [] for role in PERF_ROLES}
    for user in load_accounts(environment):
        assert user.role is not None  # every load account has one
        by_role[user.role].append(user)
    chosen: list[Account] = []
    for role in params.roles():
        user = by_role[role][sum(1 for account in chosen if account.role == role)]
        chosen.append(Account(email=user.email, password=password_of(user, secrets, environment),
                              role=role))  # fmt: skip
    return tuple(chosen)


def gate_users(users: Sequence[ServiceUser]) -> list[ServiceUser]:
    """The accounts a verification logs in as: every gate user, and the first load
    account of each role (logging in as every one would spend the login rate limit)."""
    chosen: list[ServiceUser] = []
    for user in users:
        if user.kind != "perf" or all(other.role != user.role for other in chosen):
            chosen.append(user)
    return chosen
