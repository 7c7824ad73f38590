"""Password hashing and token verification."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.security import (
    InvalidToken,
    TokenClaims,
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)

SECRET = "unit-test-signing-key-0123456789-abcdefgh"  # pragma: allowlist secret


def token(**overrides: object) -> str:
    values: dict[str, object] = {
        "user_id": 7,
        "role": "trader",
        "secret": SECRET,
        "algorithm": "HS256",
        "expires_in": timedelta(minutes=5),
    }
    values.update(overrides)
    return create_access_token(**values)  # type: ignore[arg-type]


def decode(value: str) -> TokenClaims:
    return decode_access_token(value, secret=SECRET, algorithm="HS256")


def test_passwords_are_argon2_hashed_and_verified() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("wrong", hashed)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "not-a-hash")


def test_token_round_trip() -> None:
    claims = decode(token())
    assert claims.user_id == 7
    assert claims.role == "trader"
    assert claims.expires_at > datetime.now(UTC)


def test_expired_token_is_refused() -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(InvalidToken, match="expired"):
        decode(token(now=old))


def test_a_remembered_token_still_expires() -> None:
    value = token(expires_in=timedelta(minutes=1))
    assert decode(value).user_id == 7  # verified once: remembered
    later = datetime.now(UTC) + timedelta(minutes=2)
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(value, secret=SECRET, algorithm="HS256", now=later)


def test_a_remembered_token_is_refused_under_another_key() -> None:
    value = token()
    assert decode(value).user_id == 7
    with pytest.raises(InvalidToken, match="invalid"):
        decode_access_token(value, secret="another-key-that-is-long-enough-000000",
                            algorithm="HS256")  # fmt: skip


def test_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        decode(token(secret="another-key-that-is-long-enough-000000"))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_alg_none_token_is_refused() -> None:
    header = _b64({"alg": "none", "typ": "JWT"})
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    payload = _b64({"sub": "7", "role": "admin", "typ": "access", "iat": 0, "exp": exp})
    with pytest.raises(InvalidToken):
        decode(f"{header}.{payload}.")


def test_tampered_payload_is_refused() -> None:
    header, _payload, signature = token().split(".")
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    forged = _b64({"sub": "1", "role": "admin", "typ": "access", "iat": 0, "exp": exp})
    with pytest.raises(InvalidToken):
        decode(f"{header}.{forged}.{signature}")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_algorithm_is_refused() -> None:
    other = jwt.encode(
        {"sub": "7", "typ": "access", "iat": 0, "exp": 2**31}, SECRET, algorithm="HS512"
    )
    with pytest.raises(InvalidToken):
        decode(other)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "7", "typ": "refresh", "iat": 0, "exp": 2**31},
        {"sub": "seven", "typ": "access", "iat": 0, "exp": 2**31},
        {"typ": "access", "iat": 0, "exp": 2**31},
        {"sub": "7", "typ": "access", "iat": 0},
    ],
)
def test_tokens_missing_or_wrong_claims_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        decode(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_any_client_string_can_be_a_password() -> None:
    odd = "pass\x00word\ud83d-lone-surrogate"
    hashed = hash_password(odd)
    assert verify_password(odd, hashed)
    assert not verify_password("pass", hashed)
