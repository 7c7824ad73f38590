"""Rate limits per user and per client address."""

from __future__ import annotations

from app.settings import Settings
from tests.support.app import Party, app_client


async def test_per_user_limit_returns_429_with_retry_after(
    settings: Settings, alice: Party, bob: Party
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_user": 3})
    async with app_client(limited) as client:
        statuses = [
            (await client.get("/v1/me", headers=alice.headers)).status_code for _ in range(4)
        ]
        refused = await client.get("/v1/me", headers=alice.headers)
        other_user = await client.get("/v1/me", headers=bob.headers)
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= limited.rate_limit_window_seconds
    assert refused.json()["error"]["code"] == "rate_limited"
    assert other_user.status_code == 200, "each user has their own budget"


async def test_per_address_limit_covers_anonymous_requests(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_ip": 2})
    async with app_client(limited, client=("203.0.113.9", 5000)) as client:
        statuses = [
            (
                await client.post("/v1/auth/token", data={"username": "x", "password": "y"})
            ).status_code
            for _ in range(3)
        ]
        health = await client.get("/health")
        last = await client.get("/v1/instruments")
    assert statuses == [401, 401, 429]
    assert "Retry-After" in last.headers
    assert health.status_code == 200, "probes are never rate limited"


async def test_limits_can_be_disabled(settings: Settings, alice: Party) -> None:
    relaxed = settings.model_copy(
        update={"rate_limit_enabled": False, "rate_limit_per_user": 1, "rate_limit_per_ip": 1}
    )
    async with app_client(relaxed) as client:
        statuses = {
            (await client.get("/v1/me", headers=alice.headers)).status_code for _ in range(3)
        }
    assert statuses == {200}
