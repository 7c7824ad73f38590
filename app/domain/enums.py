"""Vocabulary of the trading domain."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do: traders trade, admins also fund accounts."""

    TRADER = "trader"
    ADMIN = "admin"


class Side(StrEnum):
    """Direction of an order."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        """The side an order of this side trades against."""
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """Market orders take liquidity at any price within the collar; limit orders cap it."""

    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """How long an order may live: until canceled, immediate-or-cancel, fill-or-kill."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    """Lifecycle of an order; see :mod:`app.domain.lifecycle` for the allowed moves."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        """True while the order can still trade."""
        return self in OPEN_STATUSES

    @property
    def is_terminal(self) -> bool:
        """True once the order can never change again."""
        return self not in OPEN_STATUSES


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
TERMINAL_STATUSES = frozenset(set(OrderStatus) - OPEN_STATUSES)


class LedgerKind(StrEnum):
    """Why a ledger entry was written."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRADE = "trade"
    TRANSFER_IN = "transfer_in"


CASH_ASSET = "USD"
