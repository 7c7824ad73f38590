"""Market data: instruments, depth aggregation, the short-lived cache."""

from __future__ import annotations

import httpx

from app.settings import Settings
from tests.api.conftest import Trading
from tests.support.app import Party, app_client


async def test_instruments_are_seeded_by_migration(client: httpx.AsyncClient) -> None:
    instruments = (await client.get("/v1/instruments")).json()
    assert [i["symbol"] for i in instruments] == ["AAPL", "BTC-USD", "ETH-USD", "MSFT", "TSLA"]
    btc = next(i for i in instruments if i["symbol"] == "BTC-USD")
    assert (btc["tick_size"], btc["lot_size"]) == ("0.5", "0.0001")


async def test_book_aggregates_levels_best_first_and_honours_depth(
    trading: Trading, alice: Party, bob: Party, client: httpx.AsyncClient
) -> None:
    for price, qty in (("189", "1"), ("190", "2"), ("190", "3"), ("188", "4")):
        await trading.order(bob, qty=qty, limit_price=price)
    for price in ("191", "192"):
        await trading.order(alice, side="sell", qty="1", limit_price=price)
    book = (await client.get("/v1/market/AAPL/book", params={"depth": 2})).json()
    assert book["bids"] == [
        {"price": "190", "qty": "5", "orders": 2},
        {"price": "189", "qty": "1", "orders": 1},
    ]
    assert [level["price"] for level in book["asks"]] == ["191", "192"]


async def test_unknown_symbol_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/market/ZZZZ/quote")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_book_cache_is_short_lived_and_invalidated_by_own_orders(
    settings: Settings, alice: Party, bob: Party
) -> None:
    cached = settings.model_copy(update={"market_cache_ttl_seconds": 3600})
    async with app_client(cached) as client:
        empty = (await client.get("/v1/market/MSFT/quote")).json()
        assert empty["bid"] is None
        order = {"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "1", "limit_price": "400"}
        await client.post("/v1/orders", json=order, headers=bob.headers)
        quote = (await client.get("/v1/market/MSFT/quote")).json()
        assert quote["bid"] == "400", "placing an order invalidates the symbol's snapshot"
        runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        assert await runtime.cache.get("book:MSFT") is not None
