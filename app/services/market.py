"""Market data: L2 book and quote, read from open orders and cached briefly."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache import Cache
from app.db.models import OPEN_STATUS_VALUES, Instrument, Order
from app.domain.enums import Side
from app.services.errors import NotFound


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: total quantity and number of orders."""

    price: str
    qty: str
    orders: int


@dataclass(frozen=True, slots=True)
class Book:
    """Aggregated depth: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: list[Level]
    asks: list[Level]
    last_price: str | None


DEFAULT_DEPTH = 10
MAX_DEPTH = 100


def book_key(symbol: str) -> str:
    """Cache key of a symbol's book snapshot (always :data:`MAX_DEPTH` levels)."""
    return f"book:{symbol}"


async def _instrument(session: AsyncSession, symbol: str) -> Instrument:
    instrument = await session.scalar(select(Instrument).where(Instrument.symbol == symbol))
    if instrument is None:
        raise NotFound(f"unknown symbol {symbol!r}")
    return instrument


async def _levels(session: AsyncSession, instrument_id: int, side: Side, depth: int) -> list[Level]:
    price = Order.limit_price
    rows = await session.execute(
        select(price, func.sum(Order.qty - Order.filled_qty), func.count())
        .where(
            Order.instrument_id == instrument_id,
            Order.side == side,
            Order.status.in_(OPEN_STATUS_VALUES),
        )
        .group_by(price)
        .order_by(price.desc() if side is Side.BUY else price.asc())
        .limit(depth)
    )
    return [Level(_text(row[0]), _text(row[1]), int(row[2])) for row in rows]


def _text(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


async def load_book(session: AsyncSession, symbol: str, depth: int) -> Book:
    """Read the book from the database."""
    instrument = await _instrument(session, symbol)
    return Book(
        symbol=instrument.symbol,
        bids=await _levels(session, instrument.id, Side.BUY, depth),
        asks=await _levels(session, instrument.id, Side.SELL, depth),
        last_price=None if instrument.last_price is None else _text(instrument.last_price),
    )


async def cached_book(
    session: AsyncSession, cache: Cache, symbol: str, depth: int, ttl: float
) -> dict[str, Any]:
    """The top ``depth`` levels as a JSON-ready dict, from the cache when fresh."""
    key = book_key(symbol)
    hit = await cache.get(key) if ttl > 0 else None
    if hit is not None:
        snapshot: dict[str, Any] = json.loads(hit)
    else:
        snapshot = asdict(await load_book(session, symbol, MAX_DEPTH))
        if ttl > 0:
            await cache.set(key, json.dumps(snapshot).encode(), ttl)
    return {**snapshot, "bids": snapshot["bids"][:depth], "asks": snapshot["asks"][:depth]}


def quote_from_book(book: dict[str, Any]) -> dict[str, Any]:
    """Best bid and ask (with sizes) and last price, from a depth-1 book."""
    bid = book["bids"][0] if book["bids"] else None
    ask = book["asks"][0] if book["asks"] else None
    return {
        "symbol": book["symbol"],
        "bid": bid["price"] if bid else None,
        "bid_qty": bid["qty"] if bid else None,
        "ask": ask["price"] if ask else None,
        "ask_qty": ask["qty"] if ask else None,
        "last": book["last_price"],
    }
