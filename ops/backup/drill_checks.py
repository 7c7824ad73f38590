"""The drill's checks against the app running on restored data: read the restored
orders of an existing trader, register a user, place an order, read it back.

Every request goes through :class:`~ops.live.client.TradingClient`; the existing
users of the restored data act through tokens signed with the secret the drill
started the app with (their passwords are not known).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ops.backup.errors import BackupCheckFailed
from ops.live.client import TradingClient, limit_order

TIMEOUT = 15


@dataclass(frozen=True, slots=True)
class Probe:
    """Facts read from the restored database before the app starts."""

    admin_id: int | None  # an administrator, to fund the drill user
    order_owner_id: int | None  # the user of the newest order
    newest_order_id: int | None


def token(user_id: int, role: str, secret: str) -> str:
    """A short-lived access token for a user of the restored data."""
    from app.security import create_access_token  # hashing set-up is slow: only when needed

    return create_access_token(
        user_id=user_id,
        role=role,
        secret=secret,
        algorithm="HS256",
        expires_in=timedelta(minutes=10),
    )


def read_restored_orders(client: TradingClient, probe: Probe, secret: str) -> str:
    """The newest order in the backup is served to its owner."""
    if probe.order_owner_id is None or probe.newest_order_id is None:
        return "read orders: the backup holds no orders (skipped)"
    owner = client.as_user(token(probe.order_owner_id, "trader", secret))
    ids = [item["id"] for item in owner.orders(limit=5)["items"]]
    if probe.newest_order_id not in ids:
        raise BackupCheckFailed(
            f"GET /v1/orders: newest restored order {probe.newest_order_id} missing"
        )
    owner.order(probe.newest_order_id)
    return f"read orders: newest restored order {probe.newest_order_id} served to its owner"


def price_below_market(instrument: dict[str, Any]) -> Decimal:
    """A valid limit price (a multiple of the tick) about half the last price: it rests."""
    tick = Decimal(instrument["tick_size"])
    reference = Decimal(instrument.get("last_price") or 0) or tick * 100
    steps = (reference / 2 / tick).to_integral_value(rounding=ROUND_DOWN)
    return tick * max(steps, Decimal(1))


def amount(value: Decimal) -> str:
    """The API's amount text: plain digits, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def place_order(client: TradingClient, probe: Probe, secret: str) -> str:
    """Register a drill user, fund it (when an admin exists), place a resting limit buy,
    read it back and cancel it."""
    email = f"drill-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(18)
    client.register(email, password)
    trader = client.as_user(client.login(email, password))
    account = trader.me()["account_id"]
    funded = probe.admin_id is not None
    if probe.admin_id is not None:
        client.as_user(token(probe.admin_id, "admin", secret)).deposit(account, "100000")
    tradable = [instrument for instrument in trader.instruments() if instrument["tradable"]]
    if not tradable:
        raise BackupCheckFailed("GET /v1/instruments: no tradable instrument")
    chosen = tradable[0]
    body = limit_order(
        chosen["symbol"], "buy", chosen["lot_size"], amount(price_below_market(chosen)),
        client_order_id=f"drill-{secrets.token_hex(4)}",
    )  # fmt: skip
    order = trader.place(body)
    expected = "new" if funded else "rejected"
    if order["status"] != expected:
        raise BackupCheckFailed(f"POST /v1/orders: status {order['status']}, expected {expected}")
    trader.order(order["id"])
    if funded:
        trader.cancel(order["id"])
    return f"placed order {order['id']} ({body['symbol']} {expected}) and read it back"


def run(base_url: str, probe: Probe, secret: str) -> list[str]:
    """Every check; raises at the first failure (:class:`~ops.live.client.ApiError` for an
    unexpected answer, :class:`BackupCheckFailed` for unexpected content)."""
    with TradingClient(base_url, timeout=TIMEOUT) as client:
        return [read_restored_orders(client, probe, secret), place_order(client, probe, secret)]
