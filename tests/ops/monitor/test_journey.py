"""The synthetic trader's journey against a real seeded app (the demo trader as the monitor
user, its password through the context's variables) and against a stub app broken one
step at a time -- the order is cleaned up whatever failed, and a failed cleanup is
its own finding."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from app.services.seed import DEMO_PASSWORD, DEMO_TRADER
from ops.core.processes import free_port
from ops.core.steps import StepFailed
from ops.live.client import TradingClient
from ops.live.server import seeded_server
from ops.monitor.checks import journey as journey_module
from ops.monitor.checks.journey import journey
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding, Reason, Status
from tests.ops.monitor.http_support import (
    Received,
    StubServer,
    by_subject,
    json_answer,
    monitor_context,
)

PASSWORD = {"MONITOR_PASSWORD": "the-monitor-password"}
ORDER_ID = 7
CLIENT_ORDER_ID = "monitor-fixed"
FAILED = json_answer({"error": {"code": "internal", "message": "boom"}}, 500)


# -- against the real app --------------------------------------------------------------


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated app with the demo users."""
    with seeded_server(os.environ, log_dir=tmp_path_factory.mktemp("logs")) as server:
        yield server.url


def real(url: str, password: str = DEMO_PASSWORD, **journey_settings: Any) -> MonitorContext:
    return monitor_context(
        url, {"MONITOR_PASSWORD": password}, journey={"user": DEMO_TRADER, **journey_settings}
    )


def test_the_journey_passes_on_a_healthy_app_and_leaves_nothing_resting(app_url: str) -> None:
    findings = by_subject(journey(real(app_url)))
    trader, cleanup = findings["trader"], findings["cleanup"]
    assert trader.status is Status.OK, trader.summary
    assert trader.summary.startswith("7 steps passed")
    assert sorted(trader.figures) == sorted(
        f"{step}_ms" for step in ("login", "instrument", "quote", "book", "place", "read", "cancel")
    )
    assert cleanup.status is Status.OK
    with TradingClient(app_url) as client:
        client.login(DEMO_TRADER, DEMO_PASSWORD)
        assert client.order(int(str(cleanup.figures["order_id"])))["status"] == "canceled"


def test_a_wrong_password_fails_the_login_step(app_url: str) -> None:
    [trader] = journey(real(app_url, password="not-the-password"))
    assert (trader.status, trader.reason) == (Status.CRITICAL, Reason.STATUS)
    assert trader.figures["failed_step"] == "login"
    assert trader.figures["status_code"] == 401
    assert "not-the-password" not in trader.summary


def test_an_unlisted_symbol_fails_the_instrument_step(app_url: str) -> None:
    [trader] = journey(real(app_url, symbol="ZZZZ"))
    assert (trader.status, trader.reason) == (Status.CRITICAL, Reason.BODY)
    assert trader.summary == "instrument failed: GET /v1/instruments: ZZZZ is not listed"


def test_a_step_over_its_budget_is_a_latency_warning(app_url: str) -> None:
    findings = by_subject(journey(real(app_url, step_budget_ms=0.001)))
    trader = findings["trader"]
    assert (trader.status, trader.reason) == (Status.WARNING, Reason.LATENCY)
    assert trader.summary.endswith("(over 0.001 ms)")
    assert findings["cleanup"].status is Status.OK


def test_no_password_is_unknown_and_no_demo_password_is_tried() -> None:
    with StubServer() as server:
        [trader] = journey(monitor_context(server.url))
        assert server.requests() == []
    assert (trader.status, trader.reason) == (Status.UNKNOWN, Reason.MISSING)
    assert trader.summary == "MONITOR_PASSWORD is not set: cannot log in as monitor@example.com"


def test_an_environment_with_the_demo_users_logs_in_with_the_demo_password() -> None:
    with seeded_server(os.environ) as server:
        probe = monitor_context(server.url, journey={"user": DEMO_TRADER})
        probe.environment = probe.environment.model_copy(update={"seed_demo_data": True})
        trader, cleanup = journey(probe)
    assert trader.status is Status.OK, trader.summary
    assert cleanup.status is Status.OK


# -- against a stub, one step broken at a time ---------------------------------------------


def order(status: str = "new", **fields: Any) -> dict[str, Any]:
    return {"id": ORDER_ID, "client_order_id": CLIENT_ORDER_ID, "symbol": "AAPL", "side": "buy",
            "status": status, "qty": "1", "limit_price": "95.00", **fields}  # fmt: skip


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    """An app answering every step of the journey as it should."""
    monkeypatch.setattr(secrets, "token_hex", lambda _bytes: "fixed")  # its client order id
    with StubServer() as server:
        server.answer("/v1/auth/token", json_answer({"access_token": "t"}), method="POST")
        server.answer("/v1/instruments", json_answer(
            [{"symbol": "AAPL", "tick_size": "0.01", "lot_size": "1", "tradable": True}]
        ))  # fmt: skip
        server.answer("/v1/market/AAPL/quote", json_answer(
            {"symbol": "AAPL", "bid": "190.01", "ask": "190.50", "last": "190.20"}
        ))  # fmt: skip
        server.answer("/v1/market/AAPL/book", json_answer(
            {"symbol": "AAPL", "bids": [{"price": "190.01", "qty": "5"}], "asks": []}
        ))  # fmt: skip
        server.answer("/v1/orders", json_answer(order(), 201), method="POST")
        server.answer(f"/v1/orders/{ORDER_ID}", json_answer(order()))
        server.answer(f"/v1/orders/{ORDER_ID}/cancel", json_answer(order("canceled")),
                      method="POST")  # fmt: skip
        server.answer("/v1/orders", json_answer({"items": [order()], "next_cursor": None}))
        yield server


CANCEL = f"POST /v1/orders/{ORDER_ID}/cancel"


def walk(server: StubServer, **settings: Any) -> dict[str, Finding]:
    return by_subject(journey(monitor_context(server.url, PASSWORD, **settings)))


def sent(server: StubServer, method: str, path: str) -> Received:
    return next(seen for seen in server.received if (seen.method, seen.path) == (method, path))


def placed(server: StubServer) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sent(server, "POST", "/v1/orders").body)
    return body


def test_the_order_rests_far_below_the_market_and_is_cancelled(stub: StubServer) -> None:
    findings = walk(stub)
    assert findings["trader"].status is Status.OK
    assert placed(stub) == {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1",
                            "limit_price": "95.00", "time_in_force": "GTC",
                            "client_order_id": CLIENT_ORDER_ID}  # fmt: skip
    assert stub.requests("POST") == ["POST /v1/auth/token", "POST /v1/orders", CANCEL]
    assert sent(stub, "POST", "/v1/orders").headers["Authorization"] == "Bearer t"


def test_a_wrong_schema_fails_its_step_and_places_nothing(stub: StubServer) -> None:
    stub.answer("/v1/market/AAPL/quote", json_answer({"symbol": "AAPL", "bid": 190.01,
                                                      "ask": None, "last": None}))  # fmt: skip
    findings = walk(stub)
    assert list(findings) == ["trader"]  # nothing was sent: nothing to clean up
    trader = findings["trader"]
    assert (trader.status, trader.reason) == (Status.CRITICAL, Reason.BODY)
    assert trader.summary == (
        "quote failed: GET /v1/market/AAPL/quote: body: bid: Input should be a valid string"
    )
    assert "POST /v1/orders" not in stub.requests()


def test_a_missing_field_is_named(stub: StubServer) -> None:
    stub.answer("/v1/market/AAPL/book", json_answer({"symbol": "AAPL", "bids": []}))
    trader = walk(stub)["trader"]
    assert trader.summary == "book failed: GET /v1/market/AAPL/book: body: asks: Field required"


def test_a_500_on_cancel_is_retried_and_the_order_left_resting_is_a_finding(
    stub: StubServer,
) -> None:
    stub.answer(f"/v1/orders/{ORDER_ID}/cancel", FAILED, method="POST")
    findings = walk(stub)
    trader, cleanup = findings["trader"], findings["cleanup"]
    assert (trader.status, trader.reason, trader.figures["failed_step"]) == (
        Status.CRITICAL, Reason.STATUS, "cancel"
    )  # fmt: skip
    assert stub.requests("POST").count(CANCEL) == 2  # the step, then the cleanup
    assert (cleanup.status, cleanup.reason) == (Status.CRITICAL, Reason.STATUS)
    assert cleanup.summary == (
        f"order {ORDER_ID} may be left resting: cancel answered 500: internal: boom"
    )


def test_a_step_failing_after_the_order_still_cancels_it(stub: StubServer) -> None:
    stub.answer(f"/v1/orders/{ORDER_ID}", FAILED)
    findings = walk(stub)
    assert findings["trader"].figures["failed_step"] == "read"
    assert stub.requests("POST").count(CANCEL) == 1
    cleanup = findings["cleanup"]
    assert cleanup.status is Status.OK
    assert cleanup.summary == f"order {ORDER_ID} canceled after the journey failed"


def test_an_order_whose_answer_is_broken_is_found_and_cancelled(stub: StubServer) -> None:
    stub.answer("/v1/orders", json_answer({"status": "new"}, 201), method="POST")
    findings = walk(stub)
    assert findings["trader"].reason is Reason.BODY
    assert "GET /v1/orders" in stub.requests()
    assert stub.requests("POST")[-1] == CANCEL
    assert findings["cleanup"].status is Status.OK


def test_an_order_placed_during_a_time_out_is_found_and_cancelled(stub: StubServer) -> None:
    stub.answer("/v1/orders", json_answer(order(), 201, delay_seconds=2), method="POST")
    findings = walk(stub, request_timeout_seconds=0.5)
    trader = findings["trader"]
    assert (trader.status, trader.reason, trader.figures["failed_step"]) == (
        Status.CRITICAL, Reason.TIMEOUT, "place"
    )  # fmt: skip
    assert stub.requests("POST")[-1] == CANCEL
    assert findings["cleanup"].status is Status.OK


def test_an_order_the_lookup_does_not_find_was_not_placed(stub: StubServer) -> None:
    stub.answer("/v1/orders", FAILED, method="POST")
    stub.answer("/v1/orders", json_answer({"items": [], "next_cursor": None}))
    findings = walk(stub)
    assert findings["trader"].figures["status_code"] == 500
    assert findings["cleanup"].summary == f"order {CLIENT_ORDER_ID} was not placed"
    assert CANCEL not in stub.requests()


def test_a_refused_order_needs_no_cleanup(stub: StubServer) -> None:
    refused = json_answer({"error": {"code": "validation_error", "message": "bad"}}, 422)
    stub.answer("/v1/orders", refused, method="POST")
    findings = walk(stub)
    assert list(findings) == ["trader"]
    assert "GET /v1/orders" not in stub.requests()


def test_an_order_that_did_not_rest_fails_but_is_not_cancelled(stub: StubServer) -> None:
    stub.answer("/v1/orders", json_answer(order("rejected"), 201), method="POST")
    findings = walk(stub)
    assert findings["trader"].summary.endswith("the order is rejected, expected new")
    assert findings["cleanup"].summary == f"order {ORDER_ID} is rejected"
    assert CANCEL not in stub.requests()


def test_a_cleanup_that_cannot_find_out_is_critical(stub: StubServer) -> None:
    stub.answer("/v1/orders", FAILED, method="POST")
    stub.answer("/v1/orders", FAILED)
    cleanup = walk(stub)["cleanup"]
    assert (cleanup.status, cleanup.reason) == (Status.CRITICAL, Reason.STATUS)
    assert cleanup.summary.startswith(
        f"order {CLIENT_ORDER_ID} may be left resting: GET /v1/orders"
    )


def test_nothing_listening_is_critical_connect() -> None:
    [trader] = journey(monitor_context(f"http://127.0.0.1:{free_port()}", PASSWORD))
    assert (trader.status, trader.reason, trader.figures["failed_step"]) == (
        Status.CRITICAL, Reason.CONNECT, "login"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tick", "said"), [("abc", "'abc' is not a decimal"), ("0", "'0' is not positive"),
                       ("NaN", "'NaN' is not a decimal")],
)  # fmt: skip
def test_an_instrument_without_a_usable_tick_fails_before_any_order(
    stub: StubServer, tick: str, said: str
) -> None:
    stub.answer("/v1/instruments", json_answer([{"symbol": "AAPL", "tick_size": tick,
                                                 "lot_size": "1"}]))  # fmt: skip
    findings = walk(stub)
    assert list(findings) == ["trader"]
    assert findings["trader"].summary == (
        f"instrument failed: GET /v1/instruments: body: 0.tick_size: Value error, {said}"
    )


def test_reading_back_another_order_fails_and_the_order_is_cancelled(stub: StubServer) -> None:
    stub.answer(f"/v1/orders/{ORDER_ID}", json_answer(order(id=ORDER_ID + 1)))
    findings = walk(stub)
    assert findings["trader"].summary == (
        f"read failed: GET /v1/orders/{ORDER_ID}: answered order {ORDER_ID + 1}"
    )
    assert findings["cleanup"].status is Status.OK
    assert CANCEL in stub.requests()


def test_a_cancel_that_times_out_twice_leaves_a_critical_cleanup(stub: StubServer) -> None:
    slow = json_answer(order("canceled"), delay_seconds=2)
    stub.answer(f"/v1/orders/{ORDER_ID}/cancel", slow, method="POST")
    findings = walk(stub, request_timeout_seconds=0.3)
    assert findings["trader"].reason is Reason.TIMEOUT
    cleanup = findings["cleanup"]
    assert (cleanup.status, cleanup.reason) == (Status.CRITICAL, Reason.TIMEOUT)
    assert cleanup.summary.startswith(f"order {ORDER_ID} may be left resting: {CANCEL}: ")


def test_a_bug_of_the_check_escapes_after_the_cleanup(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_walk: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(journey_module._Walk, "_read", broken)
    with pytest.raises(StepFailed, match="read: RuntimeError: a bug"):
        journey(monitor_context(stub.url, PASSWORD))
    assert stub.requests("POST")[-1] == CANCEL
