"""Cancelling an order on PostgreSQL in one round trip: the ``cancel_order`` function.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

``cancel_order(...)`` does inside the server what :func:`app.services.cancels.cancel_order`
does over six round trips (BEGIN, four statements, COMMIT): find the caller's account
(given a user id: only if the user is active, else SQLSTATE 28000, as ``place_order``),
lock the instrument of the caller's order, read the order as committed, and if it is
still open cancel it and give back the cash or the quantity it reserved -- writing only
the rows that change. It answers with the order as stored and whether it was
cancelled now (``o_canceled``; false: the order was not open, and is returned as it
is), or no row when the caller has no such order. The Python path stays the reference
and the only path on SQLite; the differential test
(``tests/integration/test_order_paths_agree.py``) drives both.

It changes no table. On SQLite this revision does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.db.migrate import on_postgresql, revision_module

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The function's text; it starts as place_order does, with 0003's CALLER_ACCOUNT.
CANCEL_ORDER = """
CREATE FUNCTION cancel_order(
  p_user_id bigint, p_account_id bigint, p_order_id bigint, p_now timestamptz)
RETURNS TABLE (
  o_id bigint, o_account_id bigint, o_instrument_id bigint, o_client_order_id varchar,
  o_request_hash varchar, o_side varchar, o_order_type varchar, o_time_in_force varchar,
  o_qty numeric, o_limit_price numeric, o_filled_qty numeric, o_filled_notional numeric,
  o_reserved_cash numeric, o_status varchar, o_reject_reason varchar,
  o_created_at timestamptz, o_updated_at timestamptz, o_canceled boolean)
LANGUAGE plpgsql AS $$
DECLARE
  o orders%ROWTYPE;
  v_released numeric;
BEGIN
  -- CALLER_ACCOUNT
  -- order_statements.LOCK_ORDER_BOOK: the instrument of one of the caller's orders
  PERFORM 1 FROM instruments
    WHERE id = (SELECT instrument_id FROM orders
                WHERE id = p_order_id AND account_id = p_account_id)
    FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- order_statements.READ_ORDER: as committed, now that its book is locked
  SELECT * INTO o FROM orders WHERE id = p_order_id;
  IF o.status NOT IN ('new', 'partially_filled') THEN
    RETURN QUERY SELECT (o).*, false;
    RETURN;
  END IF;
  -- cancels._release: cancel it; give back the buyer's cash or the seller's quantity
  IF o.side = 'buy' THEN
    v_released := o.reserved_cash;
  ELSE
    v_released := o.qty - o.filled_qty;
  END IF;
  UPDATE orders SET status = 'canceled', reserved_cash = 0, updated_at = p_now
    WHERE id = o.id RETURNING * INTO o;
  IF v_released <> 0 THEN
    IF o.side = 'buy' THEN
      UPDATE accounts SET reserved_cash = reserved_cash - v_released WHERE id = p_account_id;
    ELSE
      UPDATE positions SET reserved_qty = reserved_qty - v_released, updated_at = p_now
        WHERE account_id = p_account_id AND instrument_id = o.instrument_id;
    END IF;
  END IF;
  RETURN QUERY SELECT (o).*, true;
END $$
"""
DROP = "DROP FUNCTION IF EXISTS cancel_order(bigint, bigint, bigint, timestamptz)"


def cancel_order_function() -> str:
    """The SQL that creates ``cancel_order``."""
    first = revision_module("0003")
    return str(CANCEL_ORDER.replace(first.CALLER_MARK, first.CALLER_ACCOUNT))


def upgrade() -> None:
    """Create the function (PostgreSQL only)."""
    on_postgresql(cancel_order_function())


def downgrade() -> None:
    """Drop it again."""
    on_postgresql(DROP)
