"""Reference data: the instruments every environment trades.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Downgrading removes them again; it fails (by foreign key) once orders exist for
them, which is the point: reference data in use is not silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from app.db.types import ExactDecimal

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTRUMENTS = (
    # symbol, name, tick, lot, reference price
    ("AAPL", "Apple Inc.", "0.01", "1", "190.00"),
    ("MSFT", "Microsoft Corp.", "0.01", "1", "410.00"),
    ("TSLA", "Tesla Inc.", "0.01", "1", "250.00"),
    ("BTC-USD", "Bitcoin / US Dollar", "0.50", "0.0001", "60000.00"),
    ("ETH-USD", "Ether / US Dollar", "0.05", "0.001", "3000.00"),
)

instruments = sa.table(
    "instruments",
    sa.column("symbol", sa.String),
    sa.column("name", sa.String),
    sa.column("tick_size", ExactDecimal()),
    sa.column("lot_size", ExactDecimal()),
    sa.column("tradable", sa.Boolean),
    sa.column("reference_price", ExactDecimal()),
)


def upgrade() -> None:
    """Insert the instruments."""
    op.bulk_insert(
        instruments,
        [
            {
                "symbol": symbol,
                "name": name,
                "tick_size": Decimal(tick),
                "lot_size": Decimal(lot),
                "tradable": True,
                "reference_price": Decimal(reference),
            }
            for symbol, name, tick, lot, reference in INSTRUMENTS
        ],
    )


def downgrade() -> None:
    """Remove the instruments (refused by foreign keys once they are traded)."""
    op.execute(
        instruments.delete().where(instruments.c.symbol.in_([row[0] for row in INSTRUMENTS]))
    )
