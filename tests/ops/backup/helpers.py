"""Data for the backup tests: bulk orders in a SQLite database, corrupted bytes."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path


def add_sqlite_orders(path: Path, count: int) -> None:
    """Insert ``count`` canceled limit orders (consistent with every invariant)."""
    unit = 10**8
    start = datetime.now(UTC) - timedelta(seconds=count)
    with closing(sqlite3.connect(path)) as db:
        accounts = [row[0] for row in db.execute("SELECT id FROM accounts ORDER BY id")]
        instrument = db.execute("SELECT min(id) FROM instruments").fetchone()[0]
        rows = [
            (
                accounts[i % len(accounts)],
                instrument,
                f"bulk-{i}",
                f"{i:064x}",
                "buy" if i % 2 else "sell",
                "limit",
                "GTC",
                unit,
                (100 + i % 50) * unit,
                0,
                0,
                0,
                "canceled",
                str(start + timedelta(seconds=i)),
                str(start + timedelta(seconds=i)),
            )
            for i in range(count)
        ]
        db.executemany(
            "INSERT INTO orders (account_id, instrument_id, client_order_id, request_hash, side, "
            "order_type, time_in_force, qty, limit_price, filled_qty, filled_notional, "
            "reserved_cash, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.commit()


def flip_byte(data: bytes, offset: int | None = None) -> bytes:
    """``data`` with one byte inverted (in the middle by default)."""
    where = len(data) // 2 if offset is None else offset
    return data[:where] + bytes([data[where] ^ 0xFF]) + data[where + 1 :]
