"""Admin deposits and transfers, and the ledger they write."""

from __future__ import annotations

from decimal import Decimal as D

import httpx

from app.db.engine import Database
from app.domain.enums import CASH_ASSET
from app.services.accounts import ledger_balance
from app.services.invariants import check_invariants
from tests.api.conftest import Trading
from tests.support.app import Party


async def test_deposit_credits_cash_and_the_ledger(
    client: httpx.AsyncClient, trading: Trading, admin: Party, bob: Party, database: Database
) -> None:
    before = (await trading.account(bob))["cash"]
    response = await client.post(
        f"/v1/admin/accounts/{bob.account_id}/deposits",
        json={"amount": "250.75", "note": "wire 42"},
        headers=admin.headers,
    )
    assert response.status_code == 201
    assert D(response.json()["cash"]) == before + D("250.75")
    async with database.read_sessions() as session:
        assert await ledger_balance(session, bob.account_id, CASH_ASSET) == before + D("250.75")
        assert await check_invariants(session) == []


async def test_transfer_in_sets_cost_basis(
    client: httpx.AsyncClient, trading: Trading, admin: Party, carol: Party
) -> None:
    response = await client.post(
        f"/v1/admin/accounts/{carol.account_id}/transfers",
        json={"symbol": "AAPL", "qty": "1000", "cost_price": "210"},
        headers=admin.headers,
    )
    assert response.status_code == 201
    position = response.json()
    assert position["qty"] == "2000"
    assert position["avg_price"] == "200"


async def test_admin_errors(client: httpx.AsyncClient, admin: Party) -> None:
    missing = await client.post(
        "/v1/admin/accounts/999/deposits", json={"amount": "1"}, headers=admin.headers
    )
    assert missing.status_code == 404
    negative = await client.post(
        "/v1/admin/accounts/2/deposits", json={"amount": "-5"}, headers=admin.headers
    )
    assert negative.status_code == 422
    off_lot = await client.post(
        "/v1/admin/accounts/2/transfers",
        json={"symbol": "AAPL", "qty": "0.5", "cost_price": "1"},
        headers=admin.headers,
    )
    assert off_lot.status_code == 409
    assert off_lot.json()["error"]["code"] == "rule_violation"
    unknown = await client.post(
        "/v1/admin/accounts/2/transfers",
        json={"symbol": "ZZZ", "qty": "1", "cost_price": "1"},
        headers=admin.headers,
    )
    assert unknown.status_code == 404
