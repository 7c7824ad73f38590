"""``place_order`` planned once per connection, and writing row by row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Measured (docs/order-path.md, section 12): PostgreSQL spent 1.25-1.39 ms of backend CPU
on an order, and most of it went to planning, not to executing:

- PL/pgSQL keeps each statement's plan, but by default (``plan_cache_mode = auto``) it
  plans a statement again at every call when its generic plan looks dearer than a
  custom one -- as the settlement joins over ``unnest(...)`` of the parties' arrays do.
  ``place_order`` now runs with ``plan_cache_mode = force_generic_plan``: a statement is
  planned once per connection (and again after an ``ANALYZE`` of its tables).
- A generic plan of the crossing read sorts every order within the bound before the
  first row comes out, which would undo 0005's early stop. ``trading_crossing_makers``
  now reads the book through bound cursors, which PL/pgSQL plans for their first rows:
  a walk of ``ix_orders_book`` in price-time order, whatever the plan cache decides.
- The settlement writes are one ``UPDATE`` by primary key for each changed account,
  position and maker order, instead of three joins over arrays; and the parties'
  positions are read first and inserted only when one is missing (after the first
  trade of an account in a symbol, never).

The same rows change to the same values (the differential test,
``tests/integration/test_order_paths_agree.py``, holds the function to the Python
path); the locks are taken in the same order. It changes no table. On SQLite this
revision does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.db.migrate import on_postgresql, revision_module

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CROSSING_MAKERS_TEXT = """
CREATE OR REPLACE FUNCTION trading_crossing_makers(
  p_instrument_id bigint, p_side varchar, p_bound numeric, p_qty numeric)
RETURNS orders[]
LANGUAGE plpgsql STABLE AS $$
-- order_statements.CROSSING: the other side's open orders at or better than p_bound, in
-- price-time priority, while less than p_qty is ahead of them. Bound cursors are planned
-- for their first rows: the book index's order, under a generic plan too.
DECLARE
  asks CURSOR FOR SELECT * FROM orders
    WHERE instrument_id = p_instrument_id AND side = 'sell'
      AND status IN ('new', 'partially_filled') AND limit_price <= p_bound
    ORDER BY limit_price, id;
  bids CURSOR FOR SELECT * FROM orders
    WHERE instrument_id = p_instrument_id AND side = 'buy'
      AND status IN ('new', 'partially_filled') AND limit_price >= p_bound
    ORDER BY limit_price DESC, id;
  s orders%ROWTYPE;
  makers orders[] := '{}';
  v_ahead numeric := 0;
BEGIN
  IF p_side = 'buy' THEN
-- asks
  ELSE
-- bids
  END IF;
  RETURN makers;
END $$
"""


def _walk(cursor: str) -> str:
    """The loop that takes makers from ``cursor`` while less than p_qty is ahead."""
    return f"""\
    OPEN {cursor};
    LOOP
      EXIT WHEN v_ahead >= p_qty;
      FETCH {cursor} INTO s;
      EXIT WHEN NOT FOUND;
      makers := makers || s;
      v_ahead := v_ahead + (s.qty - s.filled_qty);
    END LOOP;
    CLOSE {cursor};
"""


CROSSING_MAKERS = CROSSING_MAKERS_TEXT.replace("-- asks\n", _walk("asks")).replace(
    "-- bids\n", _walk("bids")
)

PLANNED_ONCE = (
    "LANGUAGE plpgsql AS $$",
    "LANGUAGE plpgsql AS $$",
    "LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$",
)
"""The function's header (first line, last line), and what replaces it."""

POSITIONS_READ = """\
    FROM accounts a JOIN positions p ON p.account_id = a.id AND p.instrument_id = b.id
    WHERE a.id = ANY(ids);
"""
POSITIONS_READ_FIRST = (
    "  INSERT INTO positions (account_id, instrument_id",
    "  SELECT array_agg(p.id ORDER BY a.id)",
)

MAKERS_UPDATE = (
    "    UPDATE orders AS u SET filled_qty",
    "      WHERE u.id = x.id;\n",
    """\
    FOR i IN 1 .. cardinality(maker_ids) LOOP
      UPDATE orders SET filled_qty = maker_filled[i], filled_notional = maker_notional[i],
          reserved_cash = maker_reserved[i], status = maker_status[i], updated_at = p_now
        WHERE id = maker_ids[i];
    END LOOP;
""",
)
"""The makers' rows: 0005's join over their arrays (first line, last line), and what
replaces it."""

PARTIES_UPDATE = (
    "  UPDATE accounts AS u SET cash",
    "OR x.a <> x.a0 OR x.p <> x.p0);\n",
    """\
  FOR i IN 1 .. cardinality(ids) LOOP
    IF a_cash[i] <> a_cash0[i] OR a_rcash[i] <> a_rcash0[i] THEN
      UPDATE accounts SET cash = a_cash[i], reserved_cash = a_rcash[i] WHERE id = ids[i];
    END IF;
    IF a_qty[i] <> a_qty0[i] OR a_rqty[i] <> a_rqty0[i] OR a_avg[i] <> a_avg0[i]
       OR a_pnl[i] <> a_pnl0[i] THEN
      UPDATE positions SET qty = a_qty[i], reserved_qty = a_rqty[i], avg_price = a_avg[i],
          realized_pnl = a_pnl[i], updated_at = p_now
        WHERE id = pos_ids[i];
    END IF;
  END LOOP;
""",
)
"""The accounts' and positions' rows, likewise."""


def _replace(text: str, first: str, last: str, new: str) -> str:
    """``text`` with the one span from ``first`` to ``last`` (inclusive) replaced."""
    if text.count(first) != 1:
        raise RuntimeError(f"place_order: expected once, found {text.count(first)}: {first!r}")
    start = text.index(first)
    end = text.index(last, start) + len(last)
    return text[:start] + new + text[end:]


def _positions_read_first(text: str) -> str:
    """The parties' positions read first; the insert (and a second read) only when one
    is missing."""
    insert_at = text.index(POSITIONS_READ_FIRST[0])
    read_at = text.index(POSITIONS_READ_FIRST[1], insert_at)
    read_end = text.index(POSITIONS_READ, read_at) + len(POSITIONS_READ)
    insert, read = text[insert_at:read_at], text[read_at:read_end]
    missing = "  IF coalesce(cardinality(pos_ids), 0) < cardinality(ids) THEN\n"
    return text[:insert_at] + read + missing + insert + read + "  END IF;\n" + text[read_end:]


def place_order_function() -> str:
    """This revision's ``place_order``: 0005's with the edits above."""
    text = str(revision_module("0005").place_order_function())
    for first, last, replacement in (PLANNED_ONCE, MAKERS_UPDATE, PARTIES_UPDATE):
        text = _replace(text, first, last, replacement)
    return _positions_read_first(text)


def upgrade() -> None:
    """Replace both functions (PostgreSQL only)."""
    on_postgresql(CROSSING_MAKERS, place_order_function())


def downgrade() -> None:
    """Both functions as 0005 wrote them."""
    earlier = revision_module("0005")
    crossing = earlier.CROSSING_MAKERS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    on_postgresql(crossing, earlier.place_order_function())
