"""Initial schema: users, accounts, instruments, orders, fills, positions, ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Besides tables and constraints this creates two triggers per backend: the
ledger refuses UPDATE and DELETE, and an order in a terminal state refuses any
change of status or fills.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.models import UTCDateTime
from app.db.types import ExactDecimal

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TERMINAL = "('filled', 'canceled', 'expired', 'rejected')"

SQLITE_TRIGGERS = (
    """CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END""",
    """CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END""",
    f"""CREATE TRIGGER orders_terminal_immutable BEFORE UPDATE ON orders
    WHEN OLD.status IN {TERMINAL} AND (NEW.status != OLD.status
        OR NEW.filled_qty != OLD.filled_qty OR NEW.reserved_cash != OLD.reserved_cash)
    BEGIN SELECT RAISE(ABORT, 'order is in a terminal state'); END""",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS orders_terminal_immutable",
    "DROP TRIGGER IF EXISTS ledger_entries_no_delete",
    "DROP TRIGGER IF EXISTS ledger_entries_no_update",
)

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'ledger_entries is append-only'; END $$""",
    """CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()""",
    f"""CREATE FUNCTION orders_terminal_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.status IN {TERMINAL} AND (NEW.status IS DISTINCT FROM OLD.status
            OR NEW.filled_qty IS DISTINCT FROM OLD.filled_qty
            OR NEW.reserved_cash IS DISTINCT FROM OLD.reserved_cash) THEN
            RAISE EXCEPTION 'order % is in a terminal state', OLD.id;
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER orders_terminal_immutable BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_terminal_immutable()""",
)
POSTGRES_DROP = (
    "DROP TRIGGER IF EXISTS orders_terminal_immutable ON orders",
    "DROP FUNCTION IF EXISTS orders_terminal_immutable()",
    "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_entries_append_only()",
)


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "instruments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("tick_size", ExactDecimal(), nullable=False),
        sa.Column("lot_size", ExactDecimal(), nullable=False),
        sa.Column("tradable", sa.Boolean(), nullable=False),
        sa.Column("last_price", ExactDecimal(), nullable=True),
        sa.Column("reference_price", ExactDecimal(), nullable=True),
        sa.CheckConstraint(
            "last_price IS NULL OR last_price > 0", name=op.f("ck_instruments_last_price_positive")
        ),
        sa.CheckConstraint("lot_size > 0", name=op.f("ck_instruments_lot_positive")),
        sa.CheckConstraint("tick_size > 0", name=op.f("ck_instruments_tick_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint("symbol", name=op.f("uq_instruments_symbol")),
    )
    op.create_table(
        "users",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "trader",
                "admin",
                name="user_role",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cash", ExactDecimal(), nullable=False),
        sa.Column("reserved_cash", ExactDecimal(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("cash >= 0", name=op.f("ck_accounts_cash_non_negative")),
        sa.CheckConstraint("reserved_cash <= cash", name=op.f("ck_accounts_reserved_within_cash")),
        sa.CheckConstraint("reserved_cash >= 0", name=op.f("ck_accounts_reserved_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_accounts_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_accounts_user_id")),
    )
    op.create_table(
        "orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("instrument_id", BIG_ID, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "side",
            sa.Enum(
                "buy",
                "sell",
                name="order_side",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "order_type",
            sa.Enum(
                "market",
                "limit",
                name="order_type",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "time_in_force",
            sa.Enum(
                "GTC",
                "IOC",
                "FOK",
                name="time_in_force",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("qty", ExactDecimal(), nullable=False),
        sa.Column("limit_price", ExactDecimal(), nullable=True),
        sa.Column("filled_qty", ExactDecimal(), nullable=False),
        sa.Column("filled_notional", ExactDecimal(), nullable=False),
        sa.Column("reserved_cash", ExactDecimal(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "partially_filled",
                "filled",
                "canceled",
                "expired",
                "rejected",
                name="order_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reject_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(order_type = 'limit' AND limit_price IS NOT NULL) OR order_type = 'market'",
            name=op.f("ck_orders_limit_has_price"),
        ),
        sa.CheckConstraint("filled_qty <= qty", name=op.f("ck_orders_filled_within_qty")),
        sa.CheckConstraint("filled_qty >= 0", name=op.f("ck_orders_filled_non_negative")),
        sa.CheckConstraint(
            "limit_price IS NULL OR limit_price > 0", name=op.f("ck_orders_limit_price_positive")
        ),
        sa.CheckConstraint("qty > 0", name=op.f("ck_orders_qty_positive")),
        sa.CheckConstraint("reserved_cash >= 0", name=op.f("ck_orders_reserved_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_orders_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_orders_instrument_id_instruments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_client_order"),
    )
    op.create_index("ix_orders_account_id_id", "orders", ["account_id", "id"], unique=False)
    op.create_index(
        "ix_orders_book",
        "orders",
        ["instrument_id", "side", "limit_price", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('new', 'partially_filled')"),
        sqlite_where=sa.text("status IN ('new', 'partially_filled')"),
    )
    op.create_table(
        "positions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("instrument_id", BIG_ID, nullable=False),
        sa.Column("qty", ExactDecimal(), nullable=False),
        sa.Column("reserved_qty", ExactDecimal(), nullable=False),
        sa.Column("avg_price", ExactDecimal(), nullable=False),
        sa.Column("realized_pnl", ExactDecimal(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("avg_price >= 0", name=op.f("ck_positions_avg_price_non_negative")),
        sa.CheckConstraint("qty >= 0", name=op.f("ck_positions_qty_non_negative")),
        sa.CheckConstraint("reserved_qty <= qty", name=op.f("ck_positions_reserved_within_qty")),
        sa.CheckConstraint("reserved_qty >= 0", name=op.f("ck_positions_reserved_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_positions_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_positions_instrument_id_instruments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("account_id", "instrument_id", name="uq_positions_account_instrument"),
    )
    op.create_table(
        "fills",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instrument_id", BIG_ID, nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("qty", ExactDecimal(), nullable=False),
        sa.Column("buy_order_id", BIG_ID, nullable=False),
        sa.Column("sell_order_id", BIG_ID, nullable=False),
        sa.Column("buyer_account_id", BIG_ID, nullable=False),
        sa.Column("seller_account_id", BIG_ID, nullable=False),
        sa.Column(
            "aggressor_side",
            sa.Enum(
                "buy",
                "sell",
                name="aggressor_side",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_fills_price_positive")),
        sa.CheckConstraint("qty > 0", name=op.f("ck_fills_qty_positive")),
        sa.ForeignKeyConstraint(
            ["buy_order_id"],
            ["orders.id"],
            name=op.f("fk_fills_buy_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["buyer_account_id"],
            ["accounts.id"],
            name=op.f("fk_fills_buyer_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_fills_instrument_id_instruments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sell_order_id"],
            ["orders.id"],
            name=op.f("fk_fills_sell_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["seller_account_id"],
            ["accounts.id"],
            name=op.f("fk_fills_seller_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    op.create_index(
        "ix_fills_buyer_account_id_id", "fills", ["buyer_account_id", "id"], unique=False
    )
    op.create_index(
        "ix_fills_seller_account_id_id", "fills", ["seller_account_id", "id"], unique=False
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "deposit",
                "withdrawal",
                "trade",
                "transfer_in",
                name="ledger_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.Column("fill_id", BIG_ID, nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ledger_entries_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["fill_id"],
            ["fills.id"],
            name=op.f("fk_ledger_entries_fill_id_fills"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_ledger_entries_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_account_id_asset",
        "ledger_entries",
        ["account_id", "asset"],
        unique=False,
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    _run(SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS)


def downgrade() -> None:
    """Revert this migration."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    _run(SQLITE_DROP if sqlite else POSTGRES_DROP)
    op.drop_index("ix_ledger_entries_account_id_asset", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index("ix_fills_seller_account_id_id", table_name="fills")
    op.drop_index("ix_fills_buyer_account_id_id", table_name="fills")
    op.drop_table("fills")
    op.drop_table("positions")
    op.drop_index(
        "ix_orders_book",
        table_name="orders",
        postgresql_where=sa.text("status IN ('new', 'partially_filled')"),
        sqlite_where=sa.text("status IN ('new', 'partially_filled')"),
    )
    op.drop_index("ix_orders_account_id_id", table_name="orders")
    op.drop_table("orders")
    op.drop_table("accounts")
    op.drop_table("users")
    op.drop_table("instruments")
