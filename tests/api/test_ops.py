"""Operations surface: health, readiness, metrics, version, headers, errors, CORS, docs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.db.engine import Database
from app.settings import Settings
from tests.support.app import Party, app_client, make_settings


async def test_health_touches_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert "at revision" in body["checks"]["database"]["detail"]


async def test_not_ready_when_migrations_are_behind(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["message"] == "not ready: database"
    assert "migrations not at head" in body["checks"]["database"]["detail"]


async def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(database_url="postgresql://nobody@127.0.0.1:1/none", data_dir=tmp_path)
    async with app_client(settings) as client:
        response = await client.get("/ready")
        health = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
    assert health.status_code == 200, "liveness does not depend on the database"


async def test_not_ready_when_redis_is_unreachable(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with app_client(broken) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False
    assert checks["database"]["ok"] is True


async def test_version(client: httpx.AsyncClient, settings: Settings) -> None:
    body = (await client.get("/version")).json()
    assert body["version"] == settings.app_version
    assert body["environment"] == "testing"
    assert body["started_at"]


async def test_every_response_carries_version_request_id_and_security_headers(
    client: httpx.AsyncClient, alice: Party, settings: Settings
) -> None:
    responses = [
        await client.get("/health"),
        await client.get("/v1/orders", headers=alice.headers),
        await client.get("/v1/orders"),  # 401
        await client.get("/v1/orders/999", headers=alice.headers),  # 404
        await client.post("/v1/orders", json={}, headers=alice.headers),  # 422
        await client.get("/no/such/path"),  # 404 unmatched
        await client.put("/v1/orders"),  # 405
    ]
    for response in responses:
        assert response.headers["X-App-Version"] == settings.app_version
        assert len(response.headers["X-Request-ID"]) >= 16
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) >= {"code", "message", "request_id"}
            assert error["request_id"] == response.headers["X-Request-ID"]
    assert responses[1].headers["Cache-Control"] == "no-store"


async def test_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "trace-123"})
    assert response.headers["X-Request-ID"] == "trace-123"
    hostile = await client.get("/health", headers={"X-Request-ID": "a\tb<script>"})
    assert hostile.headers["X-Request-ID"] != "a\tb<script>"


async def test_unhandled_errors_use_the_error_shape(
    client: httpx.AsyncClient, alice: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom with secret details")

    monkeypatch.setattr("app.services.accounts.summary", explode)
    response = await client.get("/v1/account", headers=alice.headers)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "boom" not in response.text
    assert response.headers["X-App-Version"]


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, alice: Party
) -> None:
    for order_id in (101, 102):
        await client.get(f"/v1/orders/{order_id}", headers=alice.headers)
    await client.post(
        "/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"},
        headers=alice.headers,
    )
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text_body = response.text
    assert 'route="/v1/orders/{order_id}",status="404"' in text_body
    assert "/v1/orders/101" not in text_body, "no per-id label cardinality"
    assert "http_request_duration_seconds_bucket" in text_body
    assert 'trading_orders_total{side="buy",status="new",type="limit"}' in text_body
    assert "app_build_info" in text_body


async def test_cors_allows_configured_origins_only(settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    async with app_client(configured) as client:
        allowed = await client.options(
            "/v1/orders",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        refused = await client.options(
            "/v1/orders",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        simple = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "cors_refused"
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in simple.headers


async def _docs_status(settings: Settings) -> tuple[int, int]:
    async with app_client(settings) as client:
        return (
            (await client.get("/docs")).status_code,
            (await client.get("/openapi.json")).status_code,
        )


async def test_docs_are_off_in_production(tmp_path: Path) -> None:
    production = Settings(
        _env_file=None,
        environment="production",
        jwt_secret_key="Zx8vB3nM1qW7eR5tY2uI9oP4aS6dF0gH",  # pragma: allowlist secret
        database_url="postgresql://app@127.0.0.1:1/none",
        data_dir=tmp_path,
    )
    assert await _docs_status(production) == (404, 404)
    assert await _docs_status(make_settings(data_dir=tmp_path)) == (200, 200)


async def test_production_sends_hsts(tmp_path: Path) -> None:
    production = make_settings(
        environment="staging",
        jwt_secret_key="Zx8vB3nM1qW7eR5tY2uI9oP4aS6dF0gH",  # pragma: allowlist secret
        database_url="postgresql://app@127.0.0.1:1/none",
        data_dir=tmp_path,
        log_json=True,
    )
    async with app_client(production) as client:
        response = await client.get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
