"""Administration: funding accounts and transferring instruments in."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.convert import account_out, position_out
from app.api.deps import AdminDep, ReadSessionDep, RowId, SessionsDep
from app.api.schemas import AccountOut, DepositIn, PositionOut, TransferIn, error_responses
from app.services import accounts

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/accounts/{account_id}/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountOut,
    responses=error_responses(400, 401, 403, 404, 422, 429),
    summary="Deposit cash (admin)",
)
async def deposit(
    account_id: RowId,
    body: DepositIn,
    _admin: AdminDep,
    sessions: SessionsDep,
    session: ReadSessionDep,
) -> AccountOut:
    """Credit cash to any account; recorded in the ledger."""
    account = await accounts.deposit(sessions, account_id, body.amount, body.note)
    return account_out(await accounts.summary(session, account))


@router.post(
    "/accounts/{account_id}/transfers",
    status_code=status.HTTP_201_CREATED,
    response_model=PositionOut,
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
    summary="Transfer instruments in (admin)",
)
async def transfer(
    account_id: RowId,
    body: TransferIn,
    _admin: AdminDep,
    sessions: SessionsDep,
    session: ReadSessionDep,
) -> PositionOut:
    """Move instruments into an account at a cost basis; recorded in the ledger."""
    await accounts.transfer_in(sessions, account_id, body.symbol, body.qty, body.cost_price)
    views = await accounts.positions(session, account_id)
    return next(position_out(view) for view in views if view.symbol == body.symbol)
