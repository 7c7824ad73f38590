"""Fixtures for the PostgreSQL backup tests: a 100k-order database, stand-in client tools."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support import backends

BULK_ORDERS = """
INSERT INTO orders (account_id, instrument_id, client_order_id, request_hash, side, order_type,
                    time_in_force, qty, limit_price, filled_qty, filled_notional, reserved_cash,
                    status, created_at, updated_at)
SELECT acc.ids[1 + g % array_length(acc.ids, 1)], ins.id, 'bulk-' || g,
       md5(g::text) || md5((-g)::text),
       CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 'GTC', 1, 100 + g % 50, 0, 0, 0,
       'canceled', now() - make_interval(secs => $1 - g), now() - make_interval(secs => $1 - g)
FROM generate_series(1, $1::int) AS g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM accounts) AS acc,
     (SELECT min(id) AS id FROM instruments) AS ins
"""
ORDERS_DIGEST = "SELECT count(*), md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o"


async def _execute(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(backends.asyncpg_dsn(url))
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def sql(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    """Run one statement on the database at ``url``; its rows."""
    return asyncio.run(_execute(url, statement, *args))


def add_orders(url: str, count: int) -> None:
    """Insert ``count`` canceled limit orders (consistent with every invariant) with SQL."""
    sql(url, BULK_ORDERS, count)


def orders_digest(url: str) -> tuple[int, str]:
    """Count and md5 of every order row: equal digests mean equal tables."""
    row = sql(url, ORDERS_DIGEST)[0]
    return int(row[0]), str(row[1])


@pytest.fixture(scope="module")
def big_pg(pg_template: str) -> Iterator[str]:
    """A migrated, seeded database with 100,000 more orders (read-only for the tests)."""
    with backends.throwaway_database("trading_big", pg_template) as url:
        add_orders(url, 100_000)
        yield url


def shim(directory: Path, name: str, body: str) -> Path:
    """An executable ``name`` in ``directory`` that stands in for a PostgreSQL tool."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def path_with(directory: Path) -> str:
    """PATH with ``directory`` first."""
    return f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"
