"""The ``api-security`` gate: dynamic checks against the running app.

This project's answer to an OWASP ZAP baseline job, with no Docker needed. The
app is started by :func:`ops.live.server.seeded_server` (migrated, seeded, on a
free port) with a known signing key and one allowed CORS origin, and checked:

- injection: SQL and XSS payloads in every string parameter of every operation;
- authentication: every operation not listed public in security/api-security.toml
  must answer 401 to a missing, malformed, expired, tampered, alg=none,
  wrong-key or other-algorithm token;
- object-level authorization: a second trader, registered through the API, must
  not read, cancel, list or change the first trader's order, nor use admin
  operations on the first trader's account;
- CORS: a disallowed origin is refused in preflight and in plain requests;
- schemathesis: schema-driven fuzzing with every check.

A second server with low limits shows the per-user and per-address rate limits
answer 429 with Retry-After. Every finding names the endpoint, the parameter and
the payload, and points at the route's function in app/.
"""

from __future__ import annotations

import inspect
import secrets
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import APIRoute

from app.services.seed import DEMO_ADMIN, DEMO_PASSWORD, DEMO_TRADER
from ops.core.commands import check
from ops.core.exits import OpsError, one_line
from ops.live import server as live
from ops.live.client import TradingClient, limit_order
from ops.live.schemathesis import schemathesis_command
from ops.project import ROOT
from ops.security import scanner
from ops.security.api_checks import (
    Problem,
    authentication,
    cors,
    forged_tokens,
    injection,
    object_authorization,
    operations,
    rate_limit,
)
from ops.security.findings import Finding, Severity

NAME = "api-security"
TOOL = "api-checks"  # ops/security/api_checks.py, with schemathesis
CONFIG = ROOT / "security" / "api-security.toml"
ALLOWED_ORIGIN = "https://trading.example.test"
ALGORITHM = "HS256"
USER_LIMIT, ADDRESS_LIMIT = 20, 60
RATE_LIMITED_SETTINGS = {
    "RATE_LIMIT_PER_USER": str(USER_LIMIT),
    "RATE_LIMIT_PER_IP": str(ADDRESS_LIMIT),
    # Windows align to the epoch; one that never rolls over mid-check keeps a fresh
    # budget from hiding the 429.
    "RATE_LIMIT_WINDOW_SECONDS": str(10**10),
}
FALLBACK_LOCATION = ("app/main.py", 1)


@dataclass(frozen=True, slots=True)
class Policy:
    """Operations that are public on purpose, and the login operation."""

    public: tuple[str, ...]
    login: str


def policy(path: Path = CONFIG) -> Policy:
    """The policy file; ScanError (one line) when it is unreadable or incomplete."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Policy(tuple(str(op) for op in data["public"]), str(data["login"]))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        problem = f"{path.name}: needs public = [...] and login = ...: {error}"
        raise scanner.ScanError(problem) from None


@dataclass(frozen=True, slots=True)
class Accounts:
    """Tokens of the admin, of the owner of the resources, and of a second trader."""

    admin: str
    owner: str
    intruder: str
    resources: Mapping[str, str]


def new_trader(client: TradingClient, prefix: str) -> str:
    """Register a trader with a random address and password and log it in; its token."""
    email, password = f"{prefix}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    client.register(email, password)
    return client.login(email, password)


def prepare(base_url: str) -> Accounts:
    """Register a second trader, log in the seeded admin and trader, place the trader's order."""
    with TradingClient(base_url) as client:
        intruder = new_trader(client, "intruder")
        admin = client.login(DEMO_ADMIN, DEMO_PASSWORD)
        owner = client.login(DEMO_TRADER, DEMO_PASSWORD)
        account = client.me()["account_id"]
        placed = client.place(limit_order("AAPL", "buy", "1", "100"))
    resources = {"order_id": str(placed["id"]), "account_id": str(account)}
    return Accounts(admin, owner, intruder, resources)


def run_checks(
    base_url: str,
    schema: Mapping[str, Any],
    accounts: Accounts,
    rules: Policy,
    secret: str | None,
    allowed_origin: str | None,
) -> tuple[list[Problem], list[str]]:
    """Injection, authentication, object authorization and CORS; problems and skipped checks."""
    ops = operations(schema)
    tokens, skipped = forged_tokens(accounts.owner, secret, ALGORITHM)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        problems = injection(client, ops, accounts.admin, rules.login)
        problems += authentication(client, ops, tokens, rules.public)
        problems += object_authorization(
            client,
            ops,
            owner=accounts.owner,
            intruder=accounts.intruder,
            resources=accounts.resources,
            public=rules.public,
        )
        cors_problems, cors_skipped = cors(client, ops, allowed_origin)
    return problems + cors_problems, skipped + cors_skipped


def schemathesis(options: scanner.Options, base_url: str, token: str) -> list[Problem]:
    """Run schemathesis with every check (``--max-examples`` each); a problem per failure."""
    junit = scanner.native_report(options, "schemathesis.xml")
    extra = ["--max-examples", str(options.max_examples), "--report-junit-path", str(junit)]
    extra += ["--report-dir", str(junit.parent / "schemathesis")]
    command = schemathesis_command(base_url, token, extra)
    check(command, ok=(0, 1), cwd=ROOT, env=options.env)
    return schemathesis_problems(junit)


def schemathesis_problems(junit: Path) -> list[Problem]:
    """A problem for every failed or errored test case of a schemathesis JUnit report."""
    try:
        root = ET.parse(junit).getroot()  # noqa: S314 - schemathesis' own report (suppressed)
    except (OSError, ET.ParseError) as error:
        raise scanner.ScanError(f"schemathesis wrote no usable report: {error}") from None
    problems = []
    for case in root.iter("testcase"):
        for outcome in (*case.findall("failure"), *case.findall("error")):
            text = (outcome.get("message") or outcome.text or "failed").strip()
            detail = " ".join(text.splitlines()[0].split()) if text else "failed"
            name = case.get("name", "schemathesis")
            problems.append(Problem("schemathesis", Severity.HIGH, name, detail[:300]))
    return problems


def rate_limits(base_url: str) -> list[Problem]:
    """On a server started with low limits: per user, then per address."""
    with TradingClient(base_url) as api:
        token = new_trader(api, "limits")
    with httpx.Client(base_url=base_url, timeout=10) as client:
        problems = rate_limit(client, "/v1/me", USER_LIMIT, token)
        problems += rate_limit(client, "/v1/instruments", ADDRESS_LIMIT)
    return problems


def route_locations() -> dict[str, tuple[str, int]]:
    """``METHOD /path`` to the file and line of the app function serving it."""
    from app.main import create_app
    from app.settings import Settings

    settings = Settings(_env_file=None, environment="testing", jwt_secret_key="x" * 48)
    found = {}
    for route in _api_routes(create_app(settings).routes):
        source = Path(inspect.getsourcefile(route.endpoint) or "")
        where = source.relative_to(ROOT).as_posix() if source.is_relative_to(ROOT) else str(source)
        for method in route.methods or ():
            found[f"{method} {route.path}"] = (where, route.endpoint.__code__.co_firstlineno)
    return found


def _api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """The API routes, also inside included routers (which carry their full prefix here)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)  # FastAPI >= 0.120 wraps routers
        if nested is not None:
            yield from _api_routes(nested.routes)


def to_findings(
    problems: Sequence[Problem], locations: Mapping[str, tuple[str, int]]
) -> list[Finding]:
    """Findings located at the route serving each problem's endpoint."""
    findings = []
    for problem in problems:
        path, line = locations.get(problem.endpoint, FALLBACK_LOCATION)
        finding = Finding(NAME, problem.check, problem.severity, problem.message(), path, line)
        findings.append(finding)
    return findings


def openapi_schema(base_url: str) -> dict[str, Any]:
    """The OpenAPI document the server at ``base_url`` publishes."""
    with TradingClient(base_url) as client:
        schema: dict[str, Any] = client.json("GET", "/openapi.json", what="the OpenAPI schema")
        return schema


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Start the app, run every check, then the rate limits on a second server."""
    rules = policy()
    secret = secrets.token_urlsafe(48)
    checked = {"JWT_SECRET_KEY": secret, "CORS_ORIGINS": ALLOWED_ORIGIN}
    try:
        with live.seeded_server(options.env, checked) as server:
            schema = openapi_schema(server.url)
            accounts = prepare(server.url)
            problems, skipped = run_checks(
                server.url, schema, accounts, rules, secret, ALLOWED_ORIGIN
            )
            with live.funded_admin(server.url) as admin:
                assert admin.token is not None
                problems += schemathesis(options, server.url, admin.token)
        with live.seeded_server(options.env, RATE_LIMITED_SETTINGS) as server:
            problems += rate_limits(server.url)
    except scanner.ScanError:
        raise
    except (OpsError, httpx.HTTPError) as error:  # the server, the API or schemathesis
        raise scanner.ScanError(f"the app could not be checked: {one_line(error)}") from None
    findings = to_findings(problems, route_locations())
    notes = [f"{len(operations(schema))} operations checked; rate limits on a second server"]
    version = scanner.package_version("schemathesis")
    return scanner.ScanResult(NAME, TOOL, version, findings, skipped, notes=notes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.api_security [--max-examples N] [options]``."""
    return scanner.main(NAME, TOOL, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
