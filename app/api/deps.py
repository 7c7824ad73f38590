"""FastAPI dependencies: runtime, sessions, the authenticated caller, pagination cursors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import metrics
from app.api.errors import RateLimited
from app.db.models import Account, User
from app.domain.enums import Role
from app.runtime import Runtime
from app.security import InvalidToken, TokenClaims, decode_access_token
from app.services import accounts
from app.services.errors import AuthenticationFailed, Forbidden

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


# Dependencies are ``async def`` even when they never await: FastAPI runs a plain
# ``def`` dependency in a worker thread, a thread hop per dependency per request.


async def get_runtime(request: Request) -> Runtime:
    """The process-wide runtime created at startup."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_sessions(runtime: RuntimeDep) -> async_sessionmaker[AsyncSession]:
    """The factory of write sessions (services open their own transactions)."""
    return runtime.database.sessions


async def read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session for read-only work."""
    async with runtime.database.read_sessions() as session:
        yield session


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session)]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user and their account."""

    user: User
    account: Account

    @property
    def is_admin(self) -> bool:
        """True for administrators."""
        return self.user.role is Role.ADMIN


async def current_caller(
    runtime: RuntimeDep,
    session: ReadSessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Caller:
    """Verify the bearer token, load the user, and apply the per-user rate limit."""
    claims = _verified(runtime, token)
    found = await accounts.user_with_account(session, claims.user_id)
    # Hand the connection back before the endpoint runs: a request that waits for
    # a write lock must not also pin a pooled read connection.
    await session.commit()
    if found is None or not found[0].is_active:
        raise AuthenticationFailed("token is invalid")
    await _limit_user(runtime, claims.user_id)
    return Caller(*found)


@dataclass(frozen=True, slots=True)
class UnreadCaller:
    """A verified token's user id, not read yet, and the runtime to act with."""

    user_id: int
    runtime: Runtime


async def unread_caller(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> UnreadCaller:
    """The bearer token's user, verified and rate limited but not read: for a service
    that checks the user is active in its own transaction
    (:func:`app.services.orders.place_order_for_user`), saving a round trip. It hands
    over the runtime too: the order routes are the hot path, and each dependency
    FastAPI solves costs every request."""
    runtime: Runtime = request.app.state.runtime
    claims = _verified(runtime, token)
    await _limit_user(runtime, claims.user_id)
    return UnreadCaller(claims.user_id, runtime)


def _verified(runtime: Runtime, token: str | None) -> TokenClaims:
    if not token:
        raise AuthenticationFailed("not authenticated")
    settings = runtime.settings
    try:
        return decode_access_token(
            token, secret=settings.effective_jwt_secret, algorithm=settings.jwt_algorithm
        )
    except InvalidToken as error:
        raise AuthenticationFailed(str(error)) from None


async def _limit_user(runtime: Runtime, user_id: int) -> None:
    settings = runtime.settings
    if not settings.rate_limit_enabled:
        return
    try:
        decision = await runtime.limiter.hit(
            f"user:{user_id}", settings.rate_limit_per_user, settings.rate_limit_window_seconds
        )
    except Exception:  # fail open, as for the address limit
        return
    if not decision.allowed:
        metrics.RATE_LIMITED.labels("user").inc()
        raise RateLimited(
            f"too many requests for this user; retry in {decision.retry_after}s",
            decision.retry_after,
        )


CallerDep = Annotated[Caller, Depends(current_caller)]
UnreadCallerDep = Annotated[UnreadCaller, Depends(unread_caller)]


async def admin_caller(caller: CallerDep) -> Caller:
    """The caller, who must be an administrator."""
    if not caller.is_admin:
        raise Forbidden("administrator role required")
    return caller


AdminDep = Annotated[Caller, Depends(admin_caller)]


MAX_ROW_ID = 2**63 - 1
"""The largest id a BIGINT column holds: larger ids in a path are a 422, not a 500."""
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
"""Cursors are opaque to clients; any value of this shape is a valid position."""
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(pattern=CURSOR_PATTERN)]


def encode_cursor(last_id: int) -> str:
    """A cursor pointing after ``last_id`` (pages are newest first)."""
    return str(last_id)


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor points after (the query parameter's pattern guarantees the form)."""
    return None if cursor is None else int(cursor)
