"""Service accounts (app/services/provisioning.py): made once, topped up, never demoted,
with the ledger and the invariants intact."""

from __future__ import annotations

from decimal import Decimal as D

import httpx
import pytest
from sqlalchemy import select, update

from app.db.engine import Database
from app.db.models import User
from app.services.errors import Conflict, NotFound
from app.services.invariants import check_invariants
from app.services.provisioning import Wanted, ensure, inspect
from app.services.seed import DEMO_ADMIN

PASSWORD = "service-account-pass"  # pragma: allowlist secret
SMOKE = Wanted("Smoke@Example.com", PASSWORD, D(5000), {"AAPL": 2, "BTC-USD": 3})


async def login(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    return response.status_code


async def test_an_account_is_created_funded_and_then_left_alone(
    client: httpx.AsyncClient, database: Database
) -> None:
    (before,) = await inspect(database.sessions, [SMOKE])
    assert not before.exists
    assert before.pending == ("create", "deposit 5000 USD", "transfer in 2 AAPL",
                              "transfer in 0.0003 BTC-USD")  # fmt: skip
    assert await ensure(database.sessions, SMOKE) == list(before.pending)
    (after,) = await inspect(database.sessions, [SMOKE])
    assert (after.exists, after.pending, after.cash) == (True, (), D(5000))
    assert after.holdings == {"AAPL": D(2), "BTC-USD": D("0.0003")}
    assert await ensure(database.sessions, SMOKE) == [], "idempotent"
    assert await login(client, "smoke@example.com", PASSWORD) == 200
    async with database.read_sessions() as session:
        assert await check_invariants(session) == []


async def test_a_changed_secret_and_a_spent_balance_are_restored(
    client: httpx.AsyncClient, database: Database
) -> None:
    await ensure(database.sessions, SMOKE)
    rotated = Wanted(SMOKE.email, "rotated-password-1", D(8000), {"AAPL": 2, "BTC-USD": 3})
    async with database.sessions() as session, session.begin():
        await session.execute(update(User).where(User.email == "smoke@example.com")
                              .values(is_active=False))  # fmt: skip
    (found,) = await inspect(database.sessions, [rotated])
    assert found.pending == ("set password", "re-activate", "deposit 3000 USD")
    assert await ensure(database.sessions, rotated) == list(found.pending)
    assert await login(client, "smoke@example.com", PASSWORD) == 401
    assert await login(client, "smoke@example.com", "rotated-password-1") == 200


async def test_another_role_and_an_unknown_symbol_are_refused_with_nothing_changed(
    database: Database,
) -> None:
    with pytest.raises(Conflict, match=f"{DEMO_ADMIN} exists as admin; a service account is"):
        await ensure(database.sessions, Wanted(DEMO_ADMIN, PASSWORD, D(1)))
    with pytest.raises(Conflict, match="exists as admin"):
        await inspect(database.sessions, [Wanted(DEMO_ADMIN, PASSWORD)])
    unknown = Wanted("new@example.com", PASSWORD, D(1), {"NOPE": 1})
    with pytest.raises(NotFound, match="unknown symbol 'NOPE'"):
        await ensure(database.sessions, unknown)
    async with database.read_sessions() as session:
        assert await session.scalar(select(User).where(User.email == "new@example.com")) is None
