"""Order status transitions."""

from __future__ import annotations

import itertools

import pytest

from app.domain.enums import OPEN_STATUSES, TERMINAL_STATUSES, OrderStatus
from app.domain.lifecycle import IllegalTransition, can_transition, transition


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(sorted(TERMINAL_STATUSES), list(OrderStatus)))
)
def test_terminal_states_never_change(current: OrderStatus, target: OrderStatus) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
        transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.NEW, OrderStatus.FILLED),
        (OrderStatus.NEW, OrderStatus.CANCELED),
        (OrderStatus.NEW, OrderStatus.EXPIRED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED),
    ],
)
def test_allowed_moves(current: OrderStatus, target: OrderStatus) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize("current", sorted(OPEN_STATUSES))
def test_open_orders_cannot_be_rejected_later(current: OrderStatus) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, OrderStatus.REJECTED)


def test_partially_filled_cannot_go_back_to_new() -> None:
    assert not can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.NEW)


def test_open_and_terminal_partition_the_statuses() -> None:
    assert set(OrderStatus) == OPEN_STATUSES | TERMINAL_STATUSES
    assert not OPEN_STATUSES & TERMINAL_STATUSES
    assert all(status.is_open for status in OPEN_STATUSES)
    assert all(status.is_terminal for status in TERMINAL_STATUSES)


def test_the_book_index_predicate_names_exactly_the_open_statuses() -> None:
    from app.db.models import OPEN_STATUS_SQL, OPEN_STATUS_VALUES

    quoted = ", ".join(f"'{value}'" for value in OPEN_STATUS_VALUES)
    assert f"status IN ({quoted})" == OPEN_STATUS_SQL
    assert set(OPEN_STATUS_VALUES) == {status.value for status in OPEN_STATUSES}
