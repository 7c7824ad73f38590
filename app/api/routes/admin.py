"""Administration: funding accounts and transferring instruments in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.convert import position_out
from app.api.deps import AdminDep, ReadSessionDep, SessionsDep
from app.api.schemas import AccountOut, DepositIn, PositionOut, TransferIn, error_responses
from app.services import accounts

router = APIRouter(prefix="/v1/admin", tags=["admin"])
AccountId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post(
    "/accounts/{account_id}/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountOut,
    responses=error_responses(400, 401, 403, 404, 422, 429),
    summary="Deposit cash (admin)",
)
async def deposit(
    account_id: AccountId,
    body: DepositIn,
    _admin: AdminDep,
    sessions: SessionsDep,
    session: ReadSessionDep,
) -> AccountOut:
    """Credit cash to any account; recorded in the ledger."""
    account = await accounts.deposit(sessions, account_id, body.amount, body.note)
    summary = await accounts.summary(session, account)
    return AccountOut(
        id=account.id,
        currency=account.currency,
        cash=account.cash,
        reserved_cash=account.reserved_cash,
        buying_power=summary.buying_power,
        positions_value=summary.positions_value,
        equity=summary.equity,
    )


@router.post(
    "/accounts/{account_id}/transfers",
    status_code=status.HTTP_201_CREATED,
    response_model=PositionOut,
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
    summary="Transfer instruments in (admin)",
)
async def transfer(
    account_id: AccountId,
    body: TransferIn,
    _admin: AdminDep,
    sessions: SessionsDep,
    session: ReadSessionDep,
) -> PositionOut:
    """Move instruments into an account at a cost basis; recorded in the ledger."""
    await accounts.transfer_in(sessions, account_id, body.symbol, body.qty, body.cost_price)
    views = await accounts.positions(session, account_id)
    return next(position_out(view) for view in views if view.symbol == body.symbol)
