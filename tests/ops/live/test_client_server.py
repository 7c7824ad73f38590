"""The one API client against a real seeded server; the server's own failures are named."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.services.seed import DEMO_ADMIN, DEMO_PASSWORD, DEMO_TRADER
from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from ops.core.processes import free_port
from ops.live.client import (
    ApiError,
    ApiUnreachable,
    TradingClient,
    error_text,
    expect,
    limit_order,
)
from ops.live.server import AppServer, ServerFailed, app_cli, funded_admin, seeded_server


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("logs")
    with seeded_server(os.environ, log_dir=logs) as server:
        yield server.url


def test_a_trader_journey(url: str) -> None:
    with TradingClient(url) as client:
        token = client.login(DEMO_TRADER, DEMO_PASSWORD)
        assert client.token == token
        assert client.me()["email"] == DEMO_TRADER
        aapl = client.instrument("AAPL")
        assert client.quote("AAPL")["symbol"] == "AAPL"
        assert isinstance(client.book("AAPL")["bids"], list)
        body = limit_order(
            "AAPL", "buy", aapl["lot_size"], aapl["tick_size"], client_order_id="j-1"
        )
        placed = client.place(body)
        assert placed["status"] == "new"
        assert client.order(placed["id"])["client_order_id"] == "j-1"
        assert placed["id"] in [item["id"] for item in client.orders(limit=5)["items"]]
        assert client.cancel(placed["id"])["status"] == "canceled"


def test_an_idle_connection_outlives_uvicorns_default_keep_alive(url: str) -> None:
    """A pooled connection reused after 6 s of quiet still answers: uvicorn's default
    (5 s) closed it as clients sent on it -- a failed request under load."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for pause in (0.0, 6.0):
            time.sleep(pause)
            connection.request("GET", "/health")  # http.client never reconnects by itself
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"status":"ok"}'), pause
    finally:
        connection.close()


def test_an_admin_funds_accounts(url: str) -> None:
    with funded_admin(url) as admin:
        account = admin.me()["account_id"]
        before = Decimal(admin.deposit(account, "10")["cash"])
        assert Decimal(admin.deposit(account, "10")["cash"]) == before + 10
        trader = admin.as_user(TradingClient(url).login(DEMO_TRADER, DEMO_PASSWORD))
        with pytest.raises(ApiError, match="expected 201, got 403"):
            trader.deposit(account, "10")


def test_an_unexpected_answer_names_request_status_and_app_error(url: str) -> None:
    with TradingClient(url) as client, pytest.raises(ApiError) as failed:
        client.login(DEMO_ADMIN, "wrong-password")
    assert str(failed.value).startswith(f"log in as {DEMO_ADMIN}: expected 200, got 401: ")
    assert failed.value.status == 401
    assert failed.value.exit_code == CHECK_FAILED
    with TradingClient(url) as client, pytest.raises(ApiError, match="ZZZZ is not listed"):
        client.instrument("ZZZZ")


def test_an_unreachable_service_cannot_run() -> None:
    with TradingClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(ApiUnreachable, match=r"^GET /v1/instruments: ConnectError: ") as e:
            client.instruments()
        assert e.value.exit_code == CANNOT_RUN
        ready, seen = client.probe("/ready")()
        assert (ready, seen) == (False, "ConnectError")


def test_probe_and_error_text(url: str) -> None:
    with TradingClient(url) as client:
        assert client.probe("/ready")() == (True, "/ready answered 200")
        ready, seen = client.probe("/ready", status=204)()
        assert not ready
        assert seen.startswith("/ready answered 200: ")
    plain = httpx.Response(502, text="<html>\n bad gateway </html>")
    assert error_text(plain) == "<html> bad gateway </html>"
    assert error_text(httpx.Response(500)) == "(empty body)"
    with pytest.raises(ApiError, match=r"^x: expected 200 or 204, got 500: \(empty body\)$"):
        expect(httpx.Response(500), (200, 204), "x")


def test_the_app_cli_and_a_server_that_cannot_start(tmp_path: Path) -> None:
    bad = {"ENVIRONMENT": "production", "JWT_SECRET_KEY": "changeme"}
    done = app_cli("check-config", settings=bad, env=os.environ, cwd=tmp_path)
    assert done.code == 2
    assert "JWT_SECRET_KEY" in done.stderr
    server = AppServer(bad, tmp_path, env=os.environ)
    with pytest.raises(ServerFailed, match=r"^server exited with 2:\n") as failed:
        server.start(timeout=30)
    assert "JWT_SECRET_KEY" in str(failed.value), "the log tail says why"
