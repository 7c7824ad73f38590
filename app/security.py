"""Password hashing (Argon2) and access tokens (JWT, algorithm pinned)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("timing-equalizer")
TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret


class InvalidToken(Exception):
    """The token is missing, expired, tampered with, or not one of ours."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified access token says."""

    user_id: int
    role: str
    expires_at: datetime


def _secret_bytes(password: str) -> bytes:
    # Any string a client can send is hashable, lone surrogates included.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(_secret_bytes(password))


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check ``password``; with no hash, burn the same time and return False."""
    if password_hash is None:
        _hasher.verify(_secret_bytes(password), _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(_secret_bytes(password), password_hash)
    except Exception:  # a malformed stored hash is a failed login, not a 500
        return False


def create_access_token(
    *,
    user_id: int,
    role: str,
    secret: str,
    algorithm: str,
    expires_in: timedelta,
    now: datetime | None = None,
) -> str:
    """A signed JWT with ``sub``, ``role``, ``iat``, ``exp`` and ``typ``."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "typ": TOKEN_TYPE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + expires_in).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=algorithm)


VERIFIED_TOKENS_CACHED = 4096
"""Verified tokens a process remembers (each a few hundred bytes)."""


def decode_access_token(
    token: str, *, secret: str, algorithm: str, now: datetime | None = None
) -> TokenClaims:
    """Verify signature, algorithm and expiry; raise :class:`InvalidToken` otherwise.

    A token once verified is remembered (by its whole text, signature included, and the
    key): a client sends the same token with every request, and checking its HMAC again
    is a twentieth of an order's CPU. Only its expiry is checked again, against ``now``.
    """
    claims = _verified_claims(token, secret, algorithm)
    if claims.expires_at <= (now or datetime.now(UTC)):
        raise InvalidToken("token has expired")
    return claims


@lru_cache(maxsize=VERIFIED_TOKENS_CACHED)
def _verified_claims(token: str, secret: str, algorithm: str) -> TokenClaims:
    """The claims of a token whose signature verifies (a failure is not remembered)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require": ["exp", "iat", "sub"], "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token has expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("token is invalid") from None
    if claims.get("typ") != TOKEN_TYPE:
        raise InvalidToken("token is invalid")
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidToken("token is invalid") from None
    return TokenClaims(
        user_id=user_id,
        role=str(claims.get("role", "")),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )
