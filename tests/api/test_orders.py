"""Orders through HTTP: placement, matching, settlement, idempotency, cancels, listing."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db.engine import Database
from app.db.models import Order, User
from app.domain.enums import OrderType, Side
from app.services.cancels import cancel_order_for_user
from app.services.errors import AuthenticationFailed
from app.services.invariants import check_invariants
from app.services.orders import OrderRequest, place_order_for_user
from tests.api.conftest import Trading
from tests.support.app import Party


async def assert_books_balance(database: Database) -> None:
    async with database.read_sessions() as session:
        assert await check_invariants(session) == []


async def test_limit_buy_rests_and_reserves_cash(
    trading: Trading, alice: Party, database: Database
) -> None:
    before = await trading.account(alice)
    order = await trading.order(alice, qty="10", limit_price="150.25")
    assert order["status"] == "new"
    assert order["time_in_force"] == "GTC"
    assert order["remaining_qty"] == "10"
    after = await trading.account(alice)
    assert after["reserved_cash"] == before["reserved_cash"] + D("1502.5")
    assert after["buying_power"] == before["buying_power"] - D("1502.5")
    assert after["cash"] == before["cash"]
    await assert_books_balance(database)


async def test_crossing_orders_trade_at_the_resting_price(
    trading: Trading, alice: Party, bob: Party, database: Database
) -> None:
    alice_cash = (await trading.account(alice))["cash"]
    bob_cash = (await trading.account(bob))["cash"]
    resting = await trading.order(alice, side="sell", qty="10", limit_price="190.50")
    taker = await trading.order(bob, side="buy", qty="4", limit_price="191.00")

    assert taker["status"] == "filled"
    assert taker["avg_fill_price"] == "190.5"
    assert (await trading.get(alice, f"/v1/orders/{resting['id']}"))["status"] == (
        "partially_filled"
    )
    assert (await trading.account(alice))["cash"] == alice_cash + D("762")
    bob_account = await trading.account(bob)
    assert bob_account["cash"] == bob_cash - D("762")
    assert bob_account["reserved_cash"] == 0, "the taker's reservation is fully released"

    bob_position = await trading.position(bob, "AAPL")
    assert D(bob_position["qty"]) == D("1004")
    alice_position = await trading.position(alice, "AAPL")
    assert D(alice_position["qty"]) == D("996")
    assert D(alice_position["reserved_qty"]) == D("6")
    assert D(alice_position["realized_pnl"]) == D("0.5") * 4  # cost basis 190.00 (seed)

    maker_fill = (await trading.get(alice, "/v1/fills"))["items"][0]
    taker_fill = (await trading.get(bob, "/v1/fills"))["items"][0]
    assert maker_fill["liquidity"] == "maker"
    assert maker_fill["side"] == "sell"
    assert taker_fill["liquidity"] == "taker"
    assert taker_fill["side"] == "buy"
    assert maker_fill["id"] == taker_fill["id"]
    await assert_books_balance(database)


async def test_price_time_priority_across_levels(
    trading: Trading, alice: Party, bob: Party, carol: Party
) -> None:
    first = await trading.order(alice, side="sell", qty="5", limit_price="101")
    second = await trading.order(bob, side="sell", qty="5", limit_price="101")
    better = await trading.order(bob, side="sell", qty="5", limit_price="100.5")
    await trading.order(carol, side="buy", qty="12", limit_price="101")
    states = [
        (await trading.get(party, f"/v1/orders/{order['id']}"))
        for party, order in ((bob, better), (alice, first), (bob, second))
    ]
    assert [(s["status"], s["filled_qty"]) for s in states] == [
        ("filled", "5"),
        ("filled", "5"),
        ("partially_filled", "2"),
    ]


async def test_market_order_within_collar(trading: Trading, alice: Party, bob: Party) -> None:
    await trading.order(alice, side="sell", qty="3", limit_price="190.00")
    await trading.order(alice, side="sell", qty="3", limit_price="250.00")  # beyond the collar
    order = await trading.order(bob, side="buy", type="market", qty="5")
    assert order["time_in_force"] == "IOC"
    assert order["status"] == "expired"
    assert order["filled_qty"] == "3"
    assert (await trading.account(bob))["reserved_cash"] == 0


async def test_fok_fills_all_or_nothing(
    trading: Trading, alice: Party, bob: Party, database: Database
) -> None:
    await trading.order(alice, side="sell", qty="3", limit_price="190")
    killed = await trading.order(bob, qty="4", limit_price="190", time_in_force="FOK")
    assert killed["status"] == "expired"
    assert killed["filled_qty"] == "0"
    filled = await trading.order(bob, qty="3", limit_price="190", time_in_force="FOK")
    assert filled["status"] == "filled"
    await assert_books_balance(database)


async def test_ioc_remainder_expires_and_releases_cash(
    trading: Trading, alice: Party, bob: Party
) -> None:
    await trading.order(alice, side="sell", qty="2", limit_price="190")
    order = await trading.order(bob, qty="5", limit_price="191", time_in_force="IOC")
    assert (order["status"], order["filled_qty"]) == ("expired", "2")
    assert (await trading.account(bob))["reserved_cash"] == 0
    book = await trading.get(bob, "/v1/market/AAPL/book")
    assert book["bids"] == []


async def test_book_is_never_crossed_after_matching(
    trading: Trading, alice: Party, bob: Party
) -> None:
    await trading.order(alice, side="sell", qty="5", limit_price="190")
    await trading.order(bob, qty="8", limit_price="192")
    book = await trading.get(bob, "/v1/market/AAPL/book")
    assert book["asks"] == []
    assert book["bids"] == [{"price": "192", "qty": "3", "orders": 1}]
    quote = await trading.get(bob, "/v1/market/AAPL/quote")
    assert quote == {
        "symbol": "AAPL",
        "bid": "192",
        "bid_qty": "3",
        "ask": None,
        "ask_qty": None,
        "last": "190",
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"qty": "100000", "limit_price": "190"}, "insufficient_buying_power"),
        ({"side": "sell", "qty": "1001", "limit_price": "190"}, "insufficient_position"),
        ({"limit_price": "190.001"}, "price_not_on_tick"),
        ({"qty": "1.5", "limit_price": "190"}, "qty_not_on_lot"),
    ],
)
async def test_risk_rejections_are_recorded_with_a_reason(
    trading: Trading, alice: Party, database: Database, fields: dict[str, Any], reason: str
) -> None:
    before = await trading.account(alice)
    order = await trading.order(alice, **fields)
    assert order["status"] == "rejected"
    assert order["reject_reason"].startswith(reason)
    stored = await trading.get(alice, f"/v1/orders/{order['id']}")
    assert stored["status"] == "rejected"
    assert await trading.account(alice) == before, "a rejected order reserves nothing"
    await assert_books_balance(database)


async def test_no_short_selling_across_open_orders(trading: Trading, alice: Party) -> None:
    await trading.order(alice, side="sell", qty="600", limit_price="300")
    second = await trading.order(alice, side="sell", qty="600", limit_price="300")
    assert second["status"] == "rejected"
    assert "only 400 available" in second["reject_reason"]


async def test_idempotent_replay_returns_the_original(
    client: httpx.AsyncClient, alice: Party, database: Database
) -> None:
    body = {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "qty": "2",
        "limit_price": "150",
        "client_order_id": "replay-1",
    }
    first = await client.post("/v1/orders", json=body, headers=alice.headers)
    again = await client.post(
        "/v1/orders", json={**body, "qty": "2.0", "limit_price": "150.00"}, headers=alice.headers
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = (await client.get("/v1/orders", headers=alice.headers)).json()["items"]
    assert [o["id"] for o in listed].count(first.json()["id"]) == 1
    assert len(listed) == 1

    conflict = await client.post("/v1/orders", json={**body, "qty": "3"}, headers=alice.headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    await assert_books_balance(database)


async def test_client_order_ids_are_per_account(trading: Trading, alice: Party, bob: Party) -> None:
    a = await trading.order(alice, limit_price="150", client_order_id="same")
    b = await trading.order(bob, limit_price="150", client_order_id="same")
    assert a["id"] != b["id"]


async def test_cancel_releases_the_reservation(
    trading: Trading, client: httpx.AsyncClient, alice: Party, database: Database
) -> None:
    before = await trading.account(alice)
    buy = await trading.order(alice, qty="10", limit_price="150")
    sell = await trading.order(alice, side="sell", qty="10", limit_price="300")
    for order in (buy, sell):
        response = await client.post(f"/v1/orders/{order['id']}/cancel", headers=alice.headers)
        assert response.status_code == 200
        assert response.json()["status"] == "canceled"
    assert await trading.account(alice) == before
    assert D((await trading.position(alice, "AAPL"))["reserved_qty"]) == 0
    again = await client.post(f"/v1/orders/{buy['id']}/cancel", headers=alice.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "order_not_open"
    await assert_books_balance(database)


async def test_cancel_all(
    trading: Trading, client: httpx.AsyncClient, alice: Party, database: Database
) -> None:
    for price in ("150", "151"):
        await trading.order(alice, qty="1", limit_price=price)
    await trading.order(alice, symbol="MSFT", side="sell", qty="5", limit_price="500")
    response = await client.delete("/v1/orders", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["canceled"] == 3
    assert {o["status"] for o in response.json()["orders"]} == {"canceled"}
    empty = await client.delete("/v1/orders", headers=alice.headers)
    assert empty.json() == {"canceled": 0, "orders": []}
    account = await trading.account(alice)
    assert account["reserved_cash"] == 0
    await assert_books_balance(database)


async def test_other_accounts_orders_are_not_found(
    trading: Trading, client: httpx.AsyncClient, alice: Party, bob: Party
) -> None:
    order = await trading.order(alice, limit_price="150")
    response = await client.get(f"/v1/orders/{order['id']}", headers=bob.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    cancel = await client.post(f"/v1/orders/{order['id']}/cancel", headers=bob.headers)
    assert cancel.status_code == 404
    assert (await trading.get(alice, f"/v1/orders/{order['id']}"))["status"] == "new"
    assert (await trading.get(bob, "/v1/orders"))["items"] == []


async def test_listing_paginates_with_a_cursor_and_filters(
    trading: Trading, client: httpx.AsyncClient, alice: Party
) -> None:
    ids = [(await trading.order(alice, limit_price=str(140 + i)))["id"] for i in range(5)]
    await client.post(f"/v1/orders/{ids[0]}/cancel", headers=alice.headers)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/orders", params=params, headers=alice.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    canceled = await client.get("/v1/orders", params={"status": "canceled"}, headers=alice.headers)
    assert [o["id"] for o in canceled.json()["items"]] == [ids[0]]
    by_symbol = await client.get("/v1/orders", params={"symbol": "MSFT"}, headers=alice.headers)
    assert by_symbol.json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"limit": 201}, {"limit": 0}, {"cursor": "garbage"}, {"cursor": "0"}, {"status": "open"}],
)
async def test_listing_rejects_bad_parameters(
    client: httpx.AsyncClient, alice: Party, params: dict[str, str | int]
) -> None:
    response = await client.get("/v1/orders", params=params, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


VALID = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"}


@pytest.mark.parametrize(
    "changes",
    [
        {"limit_price": None},
        {"type": "market"},
        {"type": "market", "limit_price": None, "time_in_force": "GTC"},
        {"qty": "-1"},
        {"qty": "NaN"},
        {"qty": "0"},
        {"qty": "1e3"},
        {"qty": 1},
        {"limit_price": 1.1},
        {"qty": "0.000000001"},
        {"qty": "1000000000"},
        {"side": "hold"},
        {"symbol": "aapl; drop"},
        {"surprise": True},
    ],
)
async def test_invalid_orders_are_422(
    client: httpx.AsyncClient, alice: Party, changes: dict[str, object]
) -> None:
    body = {key: value for key, value in (VALID | changes).items() if value is not None}
    response = await client.post("/v1/orders", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]


async def test_unknown_symbol_is_404(trading: Trading, alice: Party) -> None:
    body = await trading.order(alice, expect=404, symbol="NOPE", limit_price="1")
    assert "unknown symbol" in body["error"]["message"]


@pytest.mark.parametrize("in_database", [False, None], ids=["python", "default"])
async def test_a_deactivated_users_token_places_nothing(
    client: httpx.AsyncClient, alice: Party, database: Database, in_database: bool | None
) -> None:
    """The order route reads no user before placing: the service checks, in the order's
    own transaction, that the token's user is still active (the database function on
    PostgreSQL, the Python path otherwise)."""
    async with database.sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == alice.user_id).values(is_active=False))
    order = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "150"}
    refused = await client.post("/v1/orders", json=order, headers=alice.headers)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"] == "token is invalid"
    request = OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, D(1), D(150))
    with pytest.raises(AuthenticationFailed, match=r"^token is invalid$"):
        await place_order_for_user(
            database.sessions, alice.user_id, request, collar=D("0.05"), in_database=in_database
        )
    with pytest.raises(AuthenticationFailed):
        await place_order_for_user(database.sessions, 10**9, request, collar=D("0.05"))
    async with database.read_sessions() as session:
        placed = select(func.count()).where(Order.account_id == alice.account_id)
        assert await session.scalar(placed) == 0


@pytest.mark.parametrize("in_database", [False, None], ids=["python", "default"])
async def test_a_deactivated_users_token_cancels_nothing(
    client: httpx.AsyncClient, alice: Party, database: Database, in_database: bool | None
) -> None:
    """The cancel route, too, reads no user first: the cancel's own transaction checks it."""
    order = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "150"}
    placed = await client.post("/v1/orders", json=order, headers=alice.headers)
    order_id = placed.json()["id"]
    async with database.sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == alice.user_id).values(is_active=False))
    refused = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
    assert refused.status_code == 401, refused.text
    with pytest.raises(AuthenticationFailed, match=r"^token is invalid$"):
        await cancel_order_for_user(
            database.sessions, alice.user_id, order_id, in_database=in_database
        )
    async with database.read_sessions() as session:
        stored = await session.get(Order, order_id)
        assert stored is not None
        assert stored.status.is_open
