"""Allowed order status transitions; terminal states never change."""

from __future__ import annotations

from app.domain.enums import OrderStatus

_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.NEW,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


class IllegalTransition(Exception):
    """An attempt to move an order to a status its current status cannot reach."""

    def __init__(self, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(f"order cannot move from {current.value} to {target.value}")
        self.current = current
        self.target = target


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """Tell whether ``current`` may become ``target``."""
    return target in _ALLOWED[current]


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """Return ``target`` if the move is allowed, else raise :class:`IllegalTransition`."""
    if not can_transition(current, target):
        raise IllegalTransition(current, target)
    return target
