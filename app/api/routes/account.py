"""The caller's account: balances, positions, fills."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.convert import account_out, fill_out, position_out
from app.api.deps import (
    DEFAULT_PAGE_SIZE,
    CallerDep,
    Cursor,
    PageLimit,
    ReadSessionDep,
    decode_cursor,
    encode_cursor,
)
from app.api.schemas import AccountOut, FillPage, PositionOut, error_responses
from app.services import accounts

router = APIRouter(prefix="/v1", tags=["account"])


@router.get(
    "/account",
    response_model=AccountOut,
    responses=error_responses(401, 429),
    summary="Account summary",
)
async def account(caller: CallerDep, session: ReadSessionDep) -> AccountOut:
    """Cash, reserved cash, buying power, and positions valued at the last price."""
    return account_out(await accounts.summary(session, caller.account))


@router.get(
    "/positions",
    response_model=list[PositionOut],
    responses=error_responses(401, 429),
    summary="Positions",
)
async def positions(caller: CallerDep, session: ReadSessionDep) -> list[PositionOut]:
    """Non-empty positions with average entry price and P&L."""
    return [position_out(view) for view in await accounts.positions(session, caller.account.id)]


@router.get(
    "/fills",
    response_model=FillPage,
    responses=error_responses(401, 422, 429),
    summary="Fills",
)
async def fills(
    caller: CallerDep,
    session: ReadSessionDep,
    limit: PageLimit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> FillPage:
    """The caller's trades, newest first."""
    rows = await accounts.fills(
        session, caller.account.id, before_id=decode_cursor(cursor), limit=limit
    )
    page, more = rows[:limit], len(rows) > limit
    return FillPage(
        items=[fill_out(fill, symbol, caller.account.id) for fill, symbol in page],
        next_cursor=encode_cursor(page[-1][0].id) if more and page else None,
    )
