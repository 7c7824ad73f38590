"""Registration, login, tokens, roles."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.app import DEMO_PASSWORD, Party, token_for


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/auth/register", json={"email": "New.Trader@Example.com", "password": "s3cure-pass"}
    )
    assert created.status_code == 201
    user = created.json()
    assert user["email"] == "new.trader@example.com"
    assert user["role"] == "trader"
    assert "password" not in json.dumps(user)

    login = await client.post(
        "/v1/auth/token", data={"username": "new.trader@example.com", "password": "s3cure-pass"}
    )
    assert login.status_code == 200
    token = login.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 30 * 60

    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json()["account_id"] == user["account_id"]
    account = await client.get(
        "/v1/account", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert account.json()["cash"] == "0"


async def test_duplicate_registration_is_409(client: httpx.AsyncClient, alice: Party) -> None:
    response = await client.post(
        "/v1/auth/register", json={"email": alice.email.upper(), "password": "whatever-123"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_exists"


async def test_validation_errors_never_echo_the_password(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/register", json={"email": "x@example.com", "password": "short"}
    )
    assert response.status_code == 422
    assert "short" not in response.text.replace("string_too_short", "")
    assert response.json()["error"]["details"][0]["loc"] == ["body", "password"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice@example.com", "wrong-password"), ("nobody@example.com", DEMO_PASSWORD)],
)
async def test_bad_credentials_are_401(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    response = await client.post(
        "/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["message"] == "incorrect email or password"


async def test_seeded_user_can_log_in(client: httpx.AsyncClient, alice: Party) -> None:
    response = await client.post(
        "/v1/auth/token", data={"username": alice.email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_tokens(alice: Party) -> dict[str, str | None]:
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    header, _, signature = alice.token.split(".")
    admin_claims = _b64({"sub": "1", "role": "admin", "typ": "access", "iat": 0, "exp": exp})
    return {
        "missing": None,
        "garbage": "not-a-token",
        "expired": token_for(2, "trader", now=datetime.now(UTC) - timedelta(hours=2)),
        "tampered": f"{header}.{admin_claims}.{signature}",
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{admin_claims}.",
        "wrong-key": token_for(2, "trader", secret="some-other-secret-of-sufficient-length"),
        "unknown-user": token_for(999, "trader"),
    }


@pytest.mark.parametrize(
    "kind", ["missing", "garbage", "expired", "tampered", "alg-none", "wrong-key", "unknown-user"]
)
@pytest.mark.parametrize("path", ["/v1/me", "/v1/orders", "/v1/account"])
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, alice: Party, kind: str, path: str
) -> None:
    token = _bad_tokens(alice)[kind]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get(path, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_traders_cannot_use_admin_endpoints(client: httpx.AsyncClient, alice: Party) -> None:
    response = await client.post(
        f"/v1/admin/accounts/{alice.account_id}/deposits",
        json={"amount": "1000000"},
        headers=alice.headers,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_role_comes_from_the_database_not_the_token(
    client: httpx.AsyncClient, alice: Party
) -> None:
    claims_admin = token_for(alice.user_id, "admin")
    response = await client.post(
        f"/v1/admin/accounts/{alice.account_id}/deposits",
        json={"amount": "1"},
        headers={"Authorization": f"Bearer {claims_admin}"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize("username", ["nul\x00@example.com", "lone\ud83d@example.com"])
async def test_unstorable_usernames_are_just_bad_credentials(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post(
        "/v1/auth/token",
        content=f"username={username}&password=whatever1".encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (401, 422)
