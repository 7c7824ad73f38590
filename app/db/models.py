"""The schema. Alembic migrations create it; these classes describe it.

Invariants the database enforces on its own (so no code path can break them):
non-negative cash, reservations and positions, reservations never above what
they reserve, ``0 <= filled_qty <= qty``, one ``client_order_id`` per account,
foreign keys, and (by triggers in the migrations) an append-only ledger and
orders whose terminal states never change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.db.types import ExactDecimal
from app.domain.enums import (
    OPEN_STATUSES,
    LedgerKind,
    OrderStatus,
    OrderType,
    Role,
    Side,
    TimeInForce,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OPEN_STATUS_VALUES = tuple(sorted(status.value for status in OPEN_STATUSES))
"""The stored ``status`` of orders that can still trade."""
OPEN_STATUS_SQL = "status IN ('new', 'partially_filled')"
"""The partial book index's predicate, as the migration wrote it (a test ties it to
:data:`OPEN_STATUS_VALUES`): a literal, so that no SQL is built by formatting."""

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite gives back naive."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def _enum(enum_class: type[Any], name: str) -> Enum:
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """Someone who can log in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"), default=Role.TRADER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Account(Base):
    """A user's cash account. ``cash`` is the ledger balance; part of it may be reserved."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("cash >= 0", name="cash_non_negative"),
        CheckConstraint("reserved_cash >= 0", name="reserved_non_negative"),
        CheckConstraint("reserved_cash <= cash", name="reserved_within_cash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    cash: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    reserved_cash: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Instrument(Base):
    """Something tradable, with its price and quantity grid."""

    __tablename__ = "instruments"
    __table_args__ = (
        CheckConstraint("tick_size > 0", name="tick_positive"),
        CheckConstraint("lot_size > 0", name="lot_positive"),
        CheckConstraint("last_price IS NULL OR last_price > 0", name="last_price_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    tick_size: Mapped[Decimal] = mapped_column(ExactDecimal())
    lot_size: Mapped[Decimal] = mapped_column(ExactDecimal())
    tradable: Mapped[bool] = mapped_column(Boolean, default=True)
    last_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)
    reference_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)


class Order(Base):
    """An order and its current state. ``id`` order is time priority within a symbol."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_client_order"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("filled_qty >= 0", name="filled_non_negative"),
        CheckConstraint("filled_qty <= qty", name="filled_within_qty"),
        CheckConstraint("reserved_cash >= 0", name="reserved_non_negative"),
        CheckConstraint("limit_price IS NULL OR limit_price > 0", name="limit_price_positive"),
        CheckConstraint(
            "(order_type = 'limit' AND limit_price IS NOT NULL) OR order_type = 'market'",
            name="limit_has_price",
        ),
        Index(
            "ix_orders_book",
            "instrument_id",
            "side",
            "limit_price",
            "id",
            postgresql_where=text(OPEN_STATUS_SQL),
            sqlite_where=text(OPEN_STATUS_SQL),
        ),
        Index("ix_orders_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"))
    client_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    side: Mapped[Side] = mapped_column(_enum(Side, "order_side"))
    order_type: Mapped[OrderType] = mapped_column(_enum(OrderType, "order_type"))
    time_in_force: Mapped[TimeInForce] = mapped_column(_enum(TimeInForce, "time_in_force"))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal())
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)
    filled_qty: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    filled_notional: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    reserved_cash: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    reject_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fill(Base):
    """One trade between a resting (maker) order and an incoming (taker) order."""

    __tablename__ = "fills"
    __table_args__ = (
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        Index("ix_fills_buyer_account_id_id", "buyer_account_id", "id"),
        Index("ix_fills_seller_account_id_id", "seller_account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"))
    price: Mapped[Decimal] = mapped_column(ExactDecimal())
    qty: Mapped[Decimal] = mapped_column(ExactDecimal())
    buy_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    sell_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    buyer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    seller_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    aggressor_side: Mapped[Side] = mapped_column(_enum(Side, "aggressor_side"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Position(Base):
    """Holdings of one instrument in one account; part may be reserved by open sells."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("account_id", "instrument_id", name="uq_positions_account_instrument"),
        CheckConstraint("qty >= 0", name="qty_non_negative"),
        CheckConstraint("reserved_qty >= 0", name="reserved_non_negative"),
        CheckConstraint("reserved_qty <= qty", name="reserved_within_qty"),
        CheckConstraint("avg_price >= 0", name="avg_price_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    reserved_qty: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    avg_price: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """An append-only movement of cash or of an instrument into or out of an account.

    Cash balance = sum of ``amount`` where ``asset`` is the cash asset; a position
    = sum where ``asset`` is the symbol. Triggers refuse UPDATE and DELETE.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_id_asset", "account_id", "asset"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    kind: Mapped[LedgerKind] = mapped_column(_enum(LedgerKind, "ledger_kind"))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), nullable=True
    )
    fill_id: Mapped[int | None] = mapped_column(
        ForeignKey("fills.id", ondelete="RESTRICT"), nullable=True
    )
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
