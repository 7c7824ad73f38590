"""Registration, login (OAuth2 password flow) and the caller's identity."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, status

from app.api.convert import user_out
from app.api.deps import CallerDep, ReadSessionDep, RuntimeDep, SessionsDep
from app.api.schemas import RegisterIn, TokenOut, UserOut, error_responses
from app.security import create_access_token
from app.services import accounts

router = APIRouter(prefix="/v1", tags=["auth"])

# OAuth2 password-flow fields (RFC 6749 4.3.2), with the bounds the schema should state:
# an empty form value is "missing" to the form parser, so the minimum length is 1.
Username = Annotated[str, Form(min_length=1, max_length=320)]
Password = Annotated[str, Form(min_length=1, max_length=128)]
GrantType = Annotated[Literal["password"], Form()]


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=error_responses(400, 409, 422),
    summary="Register a trader",
)
async def register(body: RegisterIn, sessions: SessionsDep) -> UserOut:
    """Create a trader with an empty cash account."""
    user, account = await accounts.register(sessions, body.email, body.password)
    return user_out(user, account)


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses=error_responses(400, 401, 422),
    summary="Log in (OAuth2 password flow)",
)
async def login(
    username: Username,
    password: Password,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    grant_type: GrantType = "password",
) -> TokenOut:
    """Exchange e-mail (as ``username``) and password for a bearer token."""
    user = await accounts.authenticate(session, username, password)
    settings = runtime.settings
    expires = timedelta(minutes=settings.jwt_expire_minutes)
    token = create_access_token(
        user_id=user.id,
        role=user.role.value,
        secret=settings.effective_jwt_secret,
        algorithm=settings.jwt_algorithm,
        expires_in=expires,
    )
    return TokenOut(access_token=token, expires_in=int(expires.total_seconds()))


@router.get("/me", response_model=UserOut, responses=error_responses(401), summary="Who am I")
async def me(caller: CallerDep) -> UserOut:
    """The authenticated user."""
    return user_out(caller.user, caller.account)
