"""The dynamic API checks: each fails against a deliberately broken stand-in, and the app passes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest

from ops.core import environ
from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from ops.live import server as live
from ops.live.client import TradingClient
from ops.security import api_checks, api_security
from ops.security.api_checks import Problem
from ops.security.findings import Severity
from ops.security.scanner import ScanError
from tests.ops.security import vulnerable_api
from tests.ops.security.conftest import RunGate, options

ORDER = {"order_id": str(vulnerable_api.OWNER_ORDER)}


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    with vulnerable_api.serving() as url:
        yield url


@pytest.fixture(scope="module")
def stand_in_ops(stand_in: str) -> list[api_checks.Operation]:
    return api_checks.operations(httpx.get(f"{stand_in}/openapi.json", timeout=10).json())


def named(problems: list[Problem], check: str, endpoint: str) -> list[Problem]:
    return [p for p in problems if p.check == check and p.endpoint == endpoint]


def test_injection_fails_on_sql_built_from_input_and_on_reflected_html(
    stand_in: str, stand_in_ops: list[api_checks.Operation]
) -> None:
    with httpx.Client(base_url=stand_in, timeout=10) as client:
        problems = api_checks.injection(client, stand_in_ops, None, "POST /v1/auth/token")
    [bypass, *_] = named(problems, "sql-injection-login", "POST /v1/auth/token")
    assert bypass.severity is Severity.CRITICAL
    assert bypass.payload in api_checks.SQL_PAYLOADS
    disclosed = named(problems, "sql-error-disclosed", "POST /v1/auth/token")
    assert {p.parameter for p in disclosed} == {"username", "password"}
    assert named(problems, "injection-server-error", "POST /v1/auth/token")
    [xss, *_] = named(problems, "reflected-xss", "GET /v1/search")
    assert xss.parameter == "q"
    assert xss.message().startswith("GET /v1/search: the payload came")
    assert "(parameter q, payload '" in xss.message()


def test_authentication_fails_when_tokens_are_ignored(
    stand_in: str, stand_in_ops: list[api_checks.Operation]
) -> None:
    tokens, skipped = api_checks.forged_tokens(
        vulnerable_api.owner_token(), vulnerable_api.SIGNING_KEY, "HS256"
    )
    assert set(tokens) == {
        "missing", "malformed", "tampered", "alg=none", "wrong-key", "expired", "other-algorithm",
    }  # fmt: skip
    assert skipped == []
    with httpx.Client(base_url=stand_in, timeout=10) as client:
        problems = api_checks.authentication(client, stand_in_ops, tokens, vulnerable_api.PUBLIC)
    kinds = {
        p.detail.split(" a ")[1].split(" token")[0]
        for p in named(problems, "authentication-bypass", "GET /v1/me")
    }
    assert kinds == set(tokens)
    assert all(p.severity is Severity.CRITICAL for p in problems)
    assert not [p for p in problems if p.endpoint == "POST /v1/auth/token"], "public"


def test_object_authorization_fails_when_anyone_reads_any_order(
    stand_in: str, stand_in_ops: list[api_checks.Operation]
) -> None:
    with httpx.Client(base_url=stand_in, timeout=10) as client:
        problems = api_checks.object_authorization(
            client,
            stand_in_ops,
            owner=vulnerable_api.owner_token(),
            intruder=vulnerable_api.intruder_token(),
            resources=ORDER,
            public=vulnerable_api.PUBLIC,
        )
    [problem] = named(problems, "broken-object-authorization", "GET /v1/orders/{order_id}")
    assert "another account's order_id=7 answered 200" in problem.detail


def test_cors_fails_when_every_origin_is_reflected(
    stand_in: str, stand_in_ops: list[api_checks.Operation]
) -> None:
    with httpx.Client(base_url=stand_in, timeout=10) as client:
        problems, skipped = api_checks.cors(client, stand_in_ops, "https://app.example")
    [preflight, *_] = named(problems, "cors-disallowed-origin", "GET /v1/me")
    assert preflight.severity is Severity.CRITICAL  # with credentials
    assert "https://evil.example was allowed" in preflight.detail
    assert skipped == []


def test_rate_limit_fails_when_nothing_is_limited(stand_in: str) -> None:
    with httpx.Client(base_url=stand_in, timeout=10) as client:
        [problem] = api_checks.rate_limit(client, "/v1/me", 5)
    assert problem.check == "rate-limit-missing"
    assert problem.endpoint == "GET /v1/me"
    assert "10 requests in a row were all served (per-address limit 5)" in problem.detail


def test_schemathesis_failures_become_problems(stand_in: str, reports: Path) -> None:
    fuzzing = options(reports=reports, max_examples=1)
    problems = api_security.schemathesis(fuzzing, stand_in, vulnerable_api.owner_token())
    assert any(p.endpoint == "POST /v1/auth/token" and p.check == "schemathesis" for p in problems)


def test_a_schemathesis_report_that_is_missing_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="schemathesis wrote no usable report"):
        api_security.schemathesis_problems(tmp_path / "absent.xml")


@contextmanager
def standing_in(_env: object = None, _settings: object = None) -> Iterator[Any]:
    with vulnerable_api.serving() as url:
        yield SimpleNamespace(url=url)


def failing_to_start(_env: object = None, _settings: object = None) -> Any:
    raise live.ServerFailed("python -m app migrate failed: no database\nTraceback ...")


def test_an_app_that_does_not_start_cannot_be_checked(
    monkeypatch: pytest.MonkeyPatch, run_gate: RunGate
) -> None:
    monkeypatch.setattr(live, "seeded_server", failing_to_start)
    ran = run_gate(api_security.main)
    assert ran.code == CANNOT_RUN
    assert ran.err == (
        "api-security: the app could not be checked: python -m app migrate failed: no database\n"
    )


def test_the_gate_fails_against_the_stand_in_and_names_each_problem(
    monkeypatch: pytest.MonkeyPatch, run_gate: RunGate
) -> None:
    accounts = api_security.Accounts(
        vulnerable_api.owner_token(),
        vulnerable_api.owner_token(),
        vulnerable_api.intruder_token(),
        ORDER,
    )
    monkeypatch.setattr(live, "seeded_server", standing_in)
    monkeypatch.setattr(
        live, "funded_admin", lambda url: TradingClient(url, token=vulnerable_api.intruder_token())
    )
    monkeypatch.setattr(api_security, "new_trader", lambda *_: vulnerable_api.intruder_token())
    monkeypatch.setattr(api_security, "prepare", lambda _url: accounts)
    monkeypatch.setattr(
        api_security,
        "policy",
        lambda: api_security.Policy(vulnerable_api.PUBLIC, "POST /v1/auth/token"),
    )
    ran = run_gate(api_security.main, "--max-examples", "1")
    assert ran.code == CHECK_FAILED
    err = ran.err
    for check in (
        "sql-injection-login", "reflected-xss", "authentication-bypass",
        "broken-object-authorization", "cors-disallowed-origin", "rate-limit-missing",
    ):  # fmt: skip
        assert f" {check} at " in err, check
    assert "critical authentication-bypass at app/main.py:1: GET /v1/search: answered 200" in err


def test_the_app_passes_every_check() -> None:
    secret = secrets.token_urlsafe(48)
    env = {"JWT_SECRET_KEY": secret, "CORS_ORIGINS": api_security.ALLOWED_ORIGIN}
    with live.seeded_server(environ.current(), env) as server:
        schema = api_security.openapi_schema(server.url)
        accounts = api_security.prepare(server.url)
        problems, skipped = api_security.run_checks(
            server.url, schema, accounts, api_security.policy(), secret, api_security.ALLOWED_ORIGIN
        )
    assert problems == []
    assert skipped == []


def test_the_app_enforces_its_rate_limits() -> None:
    with live.seeded_server(environ.current(), api_security.RATE_LIMITED_SETTINGS) as server:
        assert api_security.rate_limits(server.url) == []


def test_findings_point_at_the_route_function() -> None:
    locations = api_security.route_locations()
    path, line = locations["GET /v1/orders/{order_id}"]
    assert path == "app/api/routes/orders.py"
    assert line > 1
    problem = Problem("bola", Severity.CRITICAL, "GET /v1/orders/{order_id}", "read it")
    [finding] = api_security.to_findings([problem], locations)
    assert finding.path == path
    assert finding.message == "GET /v1/orders/{order_id}: read it"


def test_forging_without_the_key_names_what_it_could_not_make() -> None:
    token = jwt.encode({"sub": "1"}, secrets.token_urlsafe(32), algorithm="HS256")
    tokens, skipped = api_checks.forged_tokens(token, None, "HS256")
    assert "expired" not in tokens
    assert skipped == ["expired and other-algorithm tokens: the signing key is not known"]
    with pytest.raises(ValueError, match="not a JWT"):
        api_checks.token_claims("nonsense")


def test_the_cors_control_needs_an_allowed_origin(
    stand_in: str, stand_in_ops: list[api_checks.Operation]
) -> None:
    with httpx.Client(base_url=stand_in, timeout=10) as client:
        _, skipped = api_checks.cors(client, stand_in_ops, None)
    assert skipped == ["CORS: no allowed origin to compare with, so a refusal proves little"]


def test_a_broken_policy_file_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "api-security.toml"
    broken.write_text("public = [\n")
    with pytest.raises(ScanError, match=r"api-security\.toml: needs public"):
        api_security.policy(broken)


def test_sample_values_follow_the_schema() -> None:
    components = {"Side": {"enum": ["buy", "sell"]}}
    assert api_checks.sample({"$ref": "#/components/schemas/Side"}, components) == "buy"
    assert api_checks.sample({"anyOf": [{"type": "null"}, {"type": "integer"}]}, {}) == 1
    assert api_checks.sample({"type": "boolean"}, {}) is True
    assert api_checks.sample({"type": "array"}, {}) == []
    assert api_checks.sample({"type": "string", "pattern": "^.+@.+$"}, {}) == "trader@example.com"
