"""Helpers for API tests: placing orders and reading balances through HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.app import Party


class Trading:
    """Thin wrappers over the HTTP API that assert the expected status."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def order(self, party: Party, expect: int = 201, **fields: Any) -> dict[str, Any]:
        body = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1"}
        body.update(
            {
                key: str(value) if isinstance(value, Decimal) else value
                for key, value in fields.items()
            }
        )
        response = await self.client.post("/v1/orders", json=body, headers=party.headers)
        assert response.status_code == expect, response.text
        data: dict[str, Any] = response.json()
        return data

    async def get(self, party: Party, path: str, expect: int = 200) -> Any:
        response = await self.client.get(path, headers=party.headers)
        assert response.status_code == expect, response.text
        return response.json()

    async def account(self, party: Party) -> dict[str, Decimal]:
        data = await self.get(party, "/v1/account")
        return {key: Decimal(value) for key, value in data.items() if key not in {"id", "currency"}}

    async def position(self, party: Party, symbol: str) -> dict[str, Any]:
        for position in await self.get(party, "/v1/positions"):
            if position["symbol"] == symbol:
                return dict(position)
        return {"qty": "0", "reserved_qty": "0"}


@pytest.fixture
def trading(client: httpx.AsyncClient) -> Trading:
    """HTTP helpers bound to the test client."""
    return Trading(client)
