"""The order routes' DirectRoute answers every request as FastAPI's own handler would.

Each request below goes to the app twice: once with the routes as they are, once with
``DirectRoute.get_route_handler`` swapped for FastAPI's. Status, body (but the request
id) and headers that matter must be the same. The requests are the ones a handler of
its own could get wrong: the order of the checks, bodies that are not JSON, content
types, path parameters, missing and bad tokens.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, Query, Response
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request

from app.api.deps import RuntimeDep, UnreadCallerDep
from app.api.routes import orders
from app.api.routing import DirectRoute, direct_handler, post_direct
from tests.support.app import Party

GOOD = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00"}

Send = Callable[[httpx.AsyncClient, dict[str, str], str], Awaitable[httpx.Response]]


def _post(path: str, headers: dict[str, str] | None = None, **options: Any) -> Send:
    async def send(client: httpx.AsyncClient, auth: dict[str, str], _tag: str) -> httpx.Response:
        return await client.post(path, headers={**auth, **(headers or {})}, **options)

    return send


async def _replay(client: httpx.AsyncClient, auth: dict[str, str], tag: str) -> httpx.Response:
    body = {**GOOD, "client_order_id": f"same-{tag}"}
    await client.post("/v1/orders", json=body, headers=auth)
    return await client.post("/v1/orders", json=body, headers=auth)


async def _cancel(client: httpx.AsyncClient, auth: dict[str, str], _tag: str) -> httpx.Response:
    placed = await client.post("/v1/orders", json=GOOD, headers=auth)
    return await client.post(f"/v1/orders/{placed.json()['id']}/cancel", headers=auth)


CASES: dict[str, tuple[Send, bool]] = {
    # name: (the request, sent with a valid token)
    "a good order": (_post("/v1/orders", json=GOOD), True),
    "a replay": (_replay, True),
    "no token": (_post("/v1/orders", json=GOOD), False),
    "no token and a bad body": (_post("/v1/orders", json={"symbol": "?"}), False),
    "no token and undecodable JSON": (
        _post("/v1/orders", content=b"{", headers={"content-type": "application/json"}),
        False,
    ),
    "undecodable JSON": (
        _post("/v1/orders", content=b'{"symbol": ', headers={"content-type": "application/json"}),
        True,
    ),
    "not UTF-8": (
        _post(
            "/v1/orders",
            content=b'{"symbol": "\xff"}',
            headers={"content-type": "application/json"},
        ),
        True,
    ),
    "an empty body": (_post("/v1/orders", content=b""), True),
    "JSON sent as text/plain": (
        _post(
            "/v1/orders", content=json.dumps(GOOD).encode(), headers={"content-type": "text/plain"}
        ),
        True,
    ),
    "no content type": (
        _post("/v1/orders", content=json.dumps(GOOD).encode(), headers={"content-type": ""}),
        True,
    ),
    "a +json content type": (
        _post(
            "/v1/orders",
            content=json.dumps(GOOD).encode(),
            headers={"content-type": "application/vnd.order+json"},
        ),
        True,
    ),
    "a JSON array": (_post("/v1/orders", json=[GOOD]), True),
    "a bad field": (_post("/v1/orders", json={**GOOD, "qty": "-1"}), True),
    "an unknown order type": (_post("/v1/orders", json={**GOOD, "type": "stop"}), True),
    "a missing field": (_post("/v1/orders", json={"symbol": "AAPL"}), True),
    "a cancel": (_cancel, True),
    "a cancel of an unknown order": (_post("/v1/orders/999999/cancel"), True),
    "a cancel of a bad id": (_post("/v1/orders/zero/cancel"), True),
    "a cancel of id 0": (_post("/v1/orders/0/cancel"), True),
    "a cancel without a token": (_post("/v1/orders/zero/cancel"), False),
    "a bad token": (_post("/v1/orders", json=GOOD, headers={"Authorization": "Bearer nope"}), True),
}


def _comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    body: Any = response.json() if response.content else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].pop("request_id", None)
    if isinstance(body, dict):
        for volatile in ("id", "created_at", "updated_at", "client_order_id"):
            body.pop(volatile, None)
    kept = {"content-type", "www-authenticate", "idempotent-replayed", "retry-after"}
    return response.status_code, body, {k: v for k, v in response.headers.items() if k in kept}


async def _answers(client: httpx.AsyncClient, alice: Party, tag: str) -> dict[str, Any]:
    return {name: _comparable(await send(client, alice.headers if authorized else {}, tag))
            for name, (send, authorized) in CASES.items()}  # fmt: skip


async def test_the_direct_handler_answers_as_fastapis_does(
    client: httpx.AsyncClient, alice: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = await _answers(client, alice, "direct")
    monkeypatch.setattr(DirectRoute, "get_route_handler", APIRoute.get_route_handler)
    generic = await _answers(client, alice, "generic")
    different = {
        name: (direct[name], generic[name]) for name in CASES if direct[name] != generic[name]
    }
    assert not different
    statuses = {name: answer[0] for name, answer in direct.items()}
    assert statuses["a good order"] == 201
    assert statuses["a replay"] == 200
    assert statuses["no token and a bad body"] == 401  # the caller is checked first
    assert statuses["no token and undecodable JSON"] == 422  # but the JSON is read before


def test_the_order_routes_are_direct() -> None:
    direct = {
        (route.path, *sorted(route.methods or ()))
        for route in orders.router.routes
        if isinstance(route, DirectRoute)
    }
    assert direct == {("/v1/orders", "POST"), ("/v1/orders/{order_id}/cancel", "POST")}


async def _endpoint_with_query(
    caller: UnreadCallerDep, page: Annotated[int, Query()] = 1
) -> Response:
    return Response()


async def _endpoint_with_runtime(runtime: RuntimeDep) -> Response:
    return Response()


async def _nothing() -> None:
    return None


async def _endpoint_with_another_dependency(
    caller: UnreadCallerDep, other: Annotated[None, Depends(_nothing)]
) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (_endpoint_with_query, "_endpoint_with_query: DirectRoute cannot resolve query parameters"),
        (
            _endpoint_with_runtime,
            "DirectRoute resolves one dependency only: app.api.deps.unread_caller",
        ),
        (_endpoint_with_another_dependency, "DirectRoute resolves one dependency only"),
    ],
)
def test_a_signature_it_cannot_resolve_is_refused_when_the_route_is_defined(
    endpoint: Callable[..., Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        post_direct(APIRouter(), "/x")(endpoint)


async def test_an_endpoint_that_returns_no_response_is_refused() -> None:
    async def endpoint() -> dict[str, str]:
        return {"not": "a response"}

    route = APIRoute("/x", endpoint, methods=["POST"])
    handler = direct_handler(route.dependant, endpoint)
    request = _request()
    with pytest.raises(TypeError, match="endpoint: a DirectRoute endpoint returns a Response"):
        await handler(request)


def _request() -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [],
        "query_string": b"",
        "path_params": {},
    }
    return Request(scope, receive)
