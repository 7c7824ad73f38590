"""The pre-trade risk check of a limit and of a market (collared) buy."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cases import Benchmark, risk_check

from app.domain.enums import OrderType


@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.MARKET], ids=str)
def test_risk(benchmark: Benchmark, order_type: OrderType) -> None:
    approval = benchmark(risk_check(order_type))
    assert approval.reserved_cash > Decimal(0)
