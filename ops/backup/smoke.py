"""The drill's checks against the app running on restored data: read the restored
orders of an existing trader, register a user, place an order, read it back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import httpx

TIMEOUT = 15


@dataclass(frozen=True, slots=True)
class Probe:
    """Facts read from the restored database before the app starts."""

    admin_id: int | None  # an administrator, to fund the drill user
    order_owner_id: int | None  # the user of the newest order
    newest_order_id: int | None


def _token(user_id: int, role: str, secret: str) -> str:
    from app.security import create_access_token  # hashing set-up is slow: only when needed

    return create_access_token(
        user_id=user_id,
        role=role,
        secret=secret,
        algorithm="HS256",
        expires_in=timedelta(minutes=10),
    )


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 300:
        raise SmokeFailed(f"{what}: HTTP {response.status_code}: {_error_text(response)}")
    return response


def _error_text(response: httpx.Response) -> str:
    """The app's error body in a few words (code, message, first detail)."""
    try:
        error = response.json()["error"]
        details = error.get("details") or []
        first = (
            f" ({details[0].get('msg', '')})" if details and isinstance(details[0], dict) else ""
        )
        return f"{error['code']}: {error['message']}{first}"[:300]
    except (ValueError, KeyError, TypeError):
        return response.text.strip().replace("\n", " ")[:200]


class SmokeFailed(Exception):
    """A smoke check failed; one line."""


def read_restored_orders(client: httpx.Client, probe: Probe, secret: str) -> str:
    """The newest order in the backup is served to its owner."""
    if probe.order_owner_id is None or probe.newest_order_id is None:
        return "read orders: the backup holds no orders (skipped)"
    headers = {"Authorization": f"Bearer {_token(probe.order_owner_id, 'trader', secret)}"}
    page = _ok(
        client.get("/v1/orders", headers=headers, params={"limit": 5}), "GET /v1/orders"
    ).json()
    ids = [item["id"] for item in page["items"]]
    if probe.newest_order_id not in ids:
        raise SmokeFailed(f"GET /v1/orders: newest restored order {probe.newest_order_id} missing")
    _ok(client.get(f"/v1/orders/{probe.newest_order_id}", headers=headers), "GET /v1/orders/{id}")
    return f"read orders: newest restored order {probe.newest_order_id} served to its owner"


def _price_below_market(instrument: dict[str, str]) -> Decimal:
    tick = Decimal(instrument["tick_size"])
    reference = Decimal(instrument.get("last_price") or 0) or tick * 100
    steps = (reference / 2 / tick).to_integral_value(rounding=ROUND_DOWN)
    return tick * max(steps, Decimal(1))


def _amount(value: Decimal) -> str:
    """The API's amount text: plain digits, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def place_order(client: httpx.Client, probe: Probe, secret: str) -> str:
    """Register a drill user, fund it (when an admin exists), place a resting limit buy,
    read it back and cancel it."""
    email = f"drill-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(18)
    _ok(client.post("/v1/auth/register", json={"email": email, "password": password}), "register")
    login = client.post("/v1/auth/token", data={"username": email, "password": password})
    headers = {"Authorization": f"Bearer {_ok(login, 'login').json()['access_token']}"}
    account = _ok(client.get("/v1/me", headers=headers), "GET /v1/me").json()["account_id"]
    funded = probe.admin_id is not None
    if probe.admin_id is not None:
        admin = {"Authorization": f"Bearer {_token(probe.admin_id, 'admin', secret)}"}
        deposit = client.post(
            f"/v1/admin/accounts/{account}/deposits", headers=admin, json={"amount": "100000"}
        )
        _ok(deposit, "admin deposit")
    instruments = [
        i for i in _ok(client.get("/v1/instruments"), "GET /v1/instruments").json() if i["tradable"]
    ]
    if not instruments:
        raise SmokeFailed("GET /v1/instruments: no tradable instrument")
    chosen = instruments[0]
    body = {
        "symbol": chosen["symbol"],
        "side": "buy",
        "type": "limit",
        "qty": chosen["lot_size"],
        "limit_price": _amount(_price_below_market(chosen)),
        "client_order_id": f"drill-{secrets.token_hex(4)}",
    }
    order = _ok(client.post("/v1/orders", headers=headers, json=body), "POST /v1/orders").json()
    expected = "new" if funded else "rejected"
    if order["status"] != expected:
        raise SmokeFailed(f"POST /v1/orders: status {order['status']}, expected {expected}")
    _ok(client.get(f"/v1/orders/{order['id']}", headers=headers), "GET the placed order")
    if funded:
        _ok(client.post(f"/v1/orders/{order['id']}/cancel", headers=headers), "cancel the order")
    return f"placed order {order['id']} ({body['symbol']} {expected}) and read it back"


def run(base_url: str, probe: Probe, secret: str) -> list[str]:
    """Every smoke check; raises :class:`SmokeFailed` at the first failure."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        return [read_restored_orders(client, probe, secret), place_order(client, probe, secret)]
