"""Orders: place (idempotent by client_order_id), read, list, cancel, cancel all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app import metrics
from app.api.convert import order_out, orders_out, symbol_of
from app.api.deps import (
    DEFAULT_PAGE_SIZE,
    CallerDep,
    Cursor,
    PageLimit,
    ReadSessionDep,
    RowId,
    RuntimeDep,
    SessionsDep,
    UnreadCallerDep,
    decode_cursor,
    encode_cursor,
)
from app.api.routing import post_direct
from app.api.schemas import (
    SYMBOL_PATTERN,
    CancelAllOut,
    OrderIn,
    OrderOut,
    OrderPage,
    error_responses,
)
from app.domain.enums import OrderStatus
from app.runtime import Runtime
from app.services import cancels, market, queries
from app.services import orders as order_service
from app.services.orders import OrderRequest

router = APIRouter(prefix="/v1/orders", tags=["orders"])
REPLAY_HEADER = "Idempotent-Replayed"


async def _invalidate_book(runtime: Runtime, symbol: str) -> None:
    try:
        await runtime.cache.delete(market.book_key(symbol))
    except Exception:  # a cache miss later is harmless; the TTL bounds staleness
        return


# The two hot routes skip FastAPI's generic dependency solver (app/api/routing.py).
@post_direct(
    router,
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses={
        200: {"model": OrderOut, "description": "Replay of an earlier identical request"},
        **error_responses(400, 401, 404, 409, 422, 429),
    },
    summary="Place an order",
)
async def place_order(body: OrderIn, caller: UnreadCallerDep) -> Response:
    """Check, match and settle an order in one transaction.

    Replaying a ``client_order_id`` with the same payload returns the original
    order with status 200 and ``Idempotent-Replayed: true``; a different payload
    is a 409. Orders failing pre-trade risk are stored with status ``rejected``.
    """
    request = OrderRequest(
        symbol=body.symbol,
        side=body.side,
        order_type=body.type,
        qty=body.qty,
        limit_price=body.limit_price,
        time_in_force=body.time_in_force,
        client_order_id=body.client_order_id,
    )
    # Who the caller is gets checked in the order's own transaction (one round trip).
    runtime = caller.runtime
    result = await order_service.place_order_for_user(
        runtime.database.sessions,
        caller.user_id,
        request,
        collar=runtime.settings.market_order_collar,
    )
    order = result.order
    if result.replayed:
        status_code, headers = status.HTTP_200_OK, {REPLAY_HEADER: "true"}
    else:
        status_code, headers = status.HTTP_201_CREATED, {}
        metrics.ORDERS.labels(order.side.value, order.order_type.value, order.status.value).inc()
        if order.status is OrderStatus.REJECTED:
            reason = (order.reject_reason or "unknown").split(":", 1)[0]
            metrics.ORDERS_REJECTED.labels(reason).inc()
        if result.fill_count:
            metrics.FILLS.labels(body.symbol).inc(result.fill_count)
        if result.fill_count or order.status.is_open:  # else the book is as it was
            await _invalidate_book(runtime, body.symbol)
    # The order is of the symbol asked for (a replay's payload is the same, or it is a 409).
    return _json(order_out(order, body.symbol), status_code, headers)


def _json(
    order: OrderOut, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The order's body, serialized once: FastAPI would validate the model again."""
    return Response(order.model_dump_json(), status_code, headers, media_type="application/json")


@router.get(
    "",
    response_model=OrderPage,
    responses=error_responses(401, 422, 429),
    summary="List orders",
)
async def list_orders(
    caller: CallerDep,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    status_filter: Annotated[OrderStatus | None, Query(alias="status")] = None,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    limit: PageLimit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> OrderPage:
    """The caller's orders, newest first, with cursor pagination."""
    rows = await queries.list_orders(
        session,
        caller.account.id,
        status=status_filter,
        symbol=symbol,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    page, more = rows[:limit], len(rows) > limit
    return OrderPage(
        items=await orders_out(runtime, page),
        next_cursor=encode_cursor(page[-1].id) if more and page else None,
    )


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    responses=error_responses(401, 404, 422, 429),
    summary="Get an order",
)
async def get_order(
    order_id: RowId, caller: CallerDep, runtime: RuntimeDep, session: ReadSessionDep
) -> OrderOut:
    """One of the caller's orders (another account's order is a 404)."""
    order = await queries.get_order(session, caller.account.id, order_id)
    return order_out(order, await symbol_of(runtime, order.instrument_id))


@post_direct(
    router,
    "/{order_id}/cancel",
    response_model=OrderOut,
    responses=error_responses(401, 404, 409, 422, 429),
    summary="Cancel an order",
)
async def cancel_order(order_id: RowId, caller: UnreadCallerDep) -> Response:
    """Cancel an open order and release its reservation; a closed order is a 409."""
    # Who the caller is gets checked in the cancel's own transaction (one round trip).
    runtime = caller.runtime
    order = await cancels.cancel_order_for_user(runtime.database.sessions, caller.user_id, order_id)
    symbol = await symbol_of(runtime, order.instrument_id)
    await _invalidate_book(runtime, symbol)
    return _json(order_out(order, symbol))


@router.delete(
    "",
    response_model=CancelAllOut,
    responses=error_responses(401, 429),
    summary="Cancel all open orders",
)
async def cancel_all(caller: CallerDep, runtime: RuntimeDep, sessions: SessionsDep) -> CancelAllOut:
    """Cancel every open order of the caller."""
    canceled = await cancels.cancel_all(sessions, caller.account.id)
    bodies = await orders_out(runtime, canceled)
    for symbol in {body.symbol for body in bodies}:
        await _invalidate_book(runtime, symbol)
    return CancelAllOut(canceled=len(bodies), orders=bodies)
