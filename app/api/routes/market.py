"""Public market data: instruments, L2 book, quote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from app.api.deps import ReadSessionDep, RuntimeDep
from app.api.schemas import SYMBOL_PATTERN, BookOut, InstrumentOut, QuoteOut, error_responses
from app.db.models import Instrument
from app.services import market

router = APIRouter(prefix="/v1", tags=["market"])
SymbolPath = Annotated[str, Path(pattern=SYMBOL_PATTERN)]


@router.get(
    "/instruments",
    response_model=list[InstrumentOut],
    responses=error_responses(429),
    summary="Instruments",
)
async def instruments(session: ReadSessionDep) -> list[InstrumentOut]:
    """Every instrument with its tick and lot size."""
    rows = await session.scalars(select(Instrument).order_by(Instrument.symbol))
    return [InstrumentOut.model_validate(row, from_attributes=True) for row in rows]


@router.get(
    "/market/{symbol}/book",
    response_model=BookOut,
    responses=error_responses(404, 422, 429),
    summary="Order book (L2)",
)
async def book(
    symbol: SymbolPath,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    depth: Annotated[int, Query(ge=1, le=market.MAX_DEPTH)] = market.DEFAULT_DEPTH,
) -> BookOut:
    """Aggregated price levels, served from a cache that lives a fraction of a second."""
    snapshot = await market.cached_book(
        session, runtime.cache, symbol, depth, runtime.settings.market_cache_ttl_seconds
    )
    return BookOut.model_validate(snapshot)


@router.get(
    "/market/{symbol}/quote",
    response_model=QuoteOut,
    responses=error_responses(404, 422, 429),
    summary="Quote",
)
async def quote(symbol: SymbolPath, runtime: RuntimeDep, session: ReadSessionDep) -> QuoteOut:
    """Best bid, best ask and last trade price."""
    snapshot = await market.cached_book(
        session, runtime.cache, symbol, 1, runtime.settings.market_cache_ttl_seconds
    )
    return QuoteOut.model_validate(market.quote_from_book(snapshot))
