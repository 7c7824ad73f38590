"""The makers an order crosses, read only as far as the order needs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``place_order`` (0003) read its makers with a window sum over every open order on the
other side within the limit price, and kept those with less than the order's quantity
ahead of them: the same makers as the Python path's ``order_statements.CROSSING``, but
at a cost that grows with the book -- a buy at the top of the range read the whole ask
side. ``trading_crossing_makers`` walks the book index (``ix_orders_book``) in
price-time order and stops at the first maker with the order's quantity already ahead
of it. Every quantity left on an open order is positive, so what is ahead only grows:
the makers kept are a prefix of that order, and the two queries keep the same ones
(the differential test, ``tests/integration/test_order_paths_agree.py``, holds the
function to the Python path).

``place_order`` is replaced by its 0003 text with the two window queries swapped for
one call; nothing else in it changes. It changes no table. On SQLite this revision does
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.db.migrate import on_postgresql, revision_module

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CROSSING_MAKERS = """
CREATE FUNCTION trading_crossing_makers(
  p_instrument_id bigint, p_side varchar, p_bound numeric, p_qty numeric)
RETURNS orders[]
LANGUAGE plpgsql STABLE AS $$
-- order_statements.CROSSING: the other side's open orders at or better than p_bound, in
-- price-time priority, while less than p_qty is ahead of them.
DECLARE
  s orders%ROWTYPE;
  makers orders[] := '{}';
  v_ahead numeric := 0;
BEGIN
  IF p_side = 'buy' THEN
    FOR s IN SELECT * FROM orders
        WHERE instrument_id = p_instrument_id AND side = 'sell'
          AND status IN ('new', 'partially_filled') AND limit_price <= p_bound
        ORDER BY limit_price, id LOOP
      EXIT WHEN v_ahead >= p_qty;
      makers := makers || s;
      v_ahead := v_ahead + (s.qty - s.filled_qty);
    END LOOP;
  ELSE
    FOR s IN SELECT * FROM orders
        WHERE instrument_id = p_instrument_id AND side = 'buy'
          AND status IN ('new', 'partially_filled') AND limit_price >= p_bound
        ORDER BY limit_price DESC, id LOOP
      EXIT WHEN v_ahead >= p_qty;
      makers := makers || s;
      v_ahead := v_ahead + (s.qty - s.filled_qty);
    END LOOP;
  END IF;
  RETURN makers;
END $$
"""

CALL = """  IF v_bound IS NOT NULL THEN
    makers := trading_crossing_makers(b.id, p_side, v_bound, p_qty);
  END IF;
"""


def _place_order_0003() -> str:
    """0003's ``CREATE FUNCTION place_order`` text."""
    return str(revision_module("0003").PLACE_ORDER)


def _with_the_call(place_order: str) -> str:
    """``place_order`` reading its makers with one call instead of the window queries."""
    start = place_order.index("  IF v_bound IS NOT NULL AND p_side = 'buy' THEN\n")
    end = place_order.index("  END IF;\n", place_order.index("  ELSIF v_bound IS NOT NULL THEN"))
    return place_order[:start] + CALL + place_order[end + len("  END IF;\n") :]


def _replacing(place_order: str) -> str:
    """``place_order``'s text as a replacement of the function in place."""
    return place_order.replace(
        "CREATE FUNCTION place_order(", "CREATE OR REPLACE FUNCTION place_order("
    )


def place_order_function() -> str:
    """This revision's ``place_order``, as a replacement of the function in place."""
    return _replacing(_with_the_call(_place_order_0003()))


def upgrade() -> None:
    """Create the function and call it from ``place_order`` (PostgreSQL only)."""
    on_postgresql(CROSSING_MAKERS, place_order_function())


def downgrade() -> None:
    """``place_order`` as 0003 wrote it; drop the function."""
    on_postgresql(
        _replacing(_place_order_0003()),
        "DROP FUNCTION trading_crossing_makers(bigint, varchar, numeric, numeric)",
    )
