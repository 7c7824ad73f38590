"""The matching engine: a buy sweeping 0, 10, 100 and 1,000 resting asks."""

from __future__ import annotations

import pytest
from cases import RESTING_COUNTS, Benchmark, matching

from app.domain.enums import OrderStatus


@pytest.mark.parametrize("resting", RESTING_COUNTS)
def test_match(benchmark: Benchmark, resting: int) -> None:
    result = benchmark(matching(resting))
    assert len(result.executions) == resting
    assert result.status is (OrderStatus.FILLED if resting else OrderStatus.NEW)
