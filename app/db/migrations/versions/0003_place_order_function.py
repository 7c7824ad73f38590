"""The order path on PostgreSQL in one round trip: the ``place_order`` function.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``place_order(...)`` does inside the server what the Python path of
:mod:`app.services.orders` does over seven to thirteen round trips: find the caller's
account (given a user id: only if the user is active), lock the instrument, answer a
replayed ``client_order_id``, read the crossing makers, lock the
parties (ascending account id) and their positions, check pre-trade risk, match in
price-time priority, settle, and write only the rows that change. The Python path
stays the reference (and the only path on SQLite); a differential test
(``tests/integration/test_order_paths_agree.py``) drives both with the same orders and
compares every row. Each rule below names the Python function it mirrors.

It changes no table: the constraints and the triggers of 0001 guard its writes as
they guard the Python path's. On SQLite this revision does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.db.migrate import on_postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUND_HALF_EVEN = """
CREATE FUNCTION trading_round8(v numeric) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
-- Decimal.quantize(Decimal('1e-8'), ROUND_HALF_EVEN): round() rounds ties away from zero.
DECLARE
  t numeric := trunc(v, 8);
BEGIN
  IF abs(v - t) * 100000000 <> 0.5 THEN
    RETURN round(v, 8);
  END IF;
  IF mod(abs(t * 100000000), 2) = 0 THEN
    RETURN t;
  END IF;
  RETURN t + sign(v) * 0.00000001;
END $$
"""

NOTIONAL = """
CREATE FUNCTION trading_notional(price numeric, qty numeric) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
-- app.domain.risk.notional: exact at storage precision, or an error.
DECLARE
  v numeric := price * qty;
BEGIN
  IF v <> round(v, 8) THEN
    RAISE EXCEPTION 'notional % exceeds storage precision', v;
  END IF;
  RETURN round(v, 8);
END $$
"""

# The caller's account: given a user id, only if that user is active (SQLSTATE 28000
# otherwise). cancel_order (0004) starts the same way; the functions' texts hold it as
# the line CALLER_MARK.
CALLER_ACCOUNT = """\
  IF p_user_id IS NOT NULL THEN
    SELECT a.id INTO p_account_id FROM users u JOIN accounts a ON a.user_id = u.id
      WHERE u.id = p_user_id AND u.is_active;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'token is invalid' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
  END IF;
"""
CALLER_MARK = "  -- CALLER_ACCOUNT\n"

PLACE_ORDER_TEXT = """
CREATE FUNCTION place_order(
  p_user_id bigint, p_account_id bigint, p_symbol varchar, p_side varchar, p_type varchar,
  p_tif varchar,
  p_qty numeric, p_limit_price numeric, p_client_order_id varchar, p_request_hash varchar,
  p_collar numeric, p_now timestamptz)
RETURNS TABLE (
  o_id bigint, o_account_id bigint, o_instrument_id bigint, o_client_order_id varchar,
  o_request_hash varchar, o_side varchar, o_order_type varchar, o_time_in_force varchar,
  o_qty numeric, o_limit_price numeric, o_filled_qty numeric, o_filled_notional numeric,
  o_reserved_cash numeric, o_status varchar, o_reject_reason varchar,
  o_created_at timestamptz, o_updated_at timestamptz, o_replayed boolean, o_fills integer)
LANGUAGE plpgsql AS $$
DECLARE
  b instruments%ROWTYPE;
  o orders%ROWTYPE;
  m orders%ROWTYPE;
  makers orders[] := '{}';
  v_ref numeric;
  v_bound numeric;
  v_reject varchar;
  v_needed numeric;
  -- the parties, by position in ascending account id (app.domain.settlement._Parties)
  ids bigint[];
  pos_ids bigint[];
  a_cash0 numeric[]; a_rcash0 numeric[]; a_qty0 numeric[]; a_rqty0 numeric[];
  a_avg0 numeric[]; a_pnl0 numeric[];
  a_cash numeric[]; a_rcash numeric[]; a_qty numeric[]; a_rqty numeric[];
  a_avg numeric[]; a_pnl numeric[];
  i integer; t integer; buyer integer; seller integer; mk integer;
  v_remaining numeric; v_exec numeric; v_amount numeric; v_left numeric;
  v_fill_id bigint; v_last numeric; v_fills integer := 0;
  v_available numeric;
  m_filled numeric; m_left numeric; m_reserved numeric;
  maker_ids bigint[] := '{}'; maker_filled numeric[] := '{}';
  maker_notional numeric[] := '{}'; maker_reserved numeric[] := '{}';
  maker_status varchar[] := '{}';
  exec_maker integer[] := '{}'; exec_price numeric[] := '{}'; exec_qty numeric[] := '{}';
  exec_amount numeric[] := '{}';
BEGIN
  -- By user (a bearer token's subject): their account, if the user is active -- checked
  -- in the order's own transaction; SQLSTATE 28000 is the service's 401.
  -- CALLER_ACCOUNT
  -- order_statements.LOCK_BOOK: the symbol's book, then the idempotency lookup
  SELECT * INTO b FROM instruments WHERE symbol = p_symbol FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF p_client_order_id IS NOT NULL THEN
    SELECT * INTO o FROM orders
      WHERE account_id = p_account_id AND client_order_id = p_client_order_id;
    IF FOUND THEN
      RETURN QUERY SELECT (o).*, true, 0;
      RETURN;
    END IF;
  END IF;

  -- orders._price_bound, and order_statements.CROSSING: the makers it would trade with
  v_ref := coalesce(b.last_price, b.reference_price);
  IF p_type = 'limit' THEN
    v_bound := p_limit_price;
  ELSIF v_ref IS NOT NULL THEN
    IF p_side = 'buy' THEN
      v_bound := ceil(v_ref * (1 + p_collar) / b.tick_size) * b.tick_size;
    ELSE
      v_bound := greatest(floor(v_ref * (1 - p_collar) / b.tick_size) * b.tick_size,
                          b.tick_size);
    END IF;
  END IF;
  IF v_bound IS NOT NULL AND p_side = 'buy' THEN
    SELECT coalesce(array_agg(r.s ORDER BY (r.s).limit_price, (r.s).id), '{}') INTO makers
    FROM (
      SELECT s, sum(s.qty - s.filled_qty) OVER (ORDER BY s.limit_price, s.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS ahead
      FROM orders s
      WHERE s.instrument_id = b.id AND s.side = 'sell'
        AND s.status IN ('new', 'partially_filled') AND s.limit_price <= v_bound
    ) r WHERE coalesce(r.ahead, 0) < p_qty;
  ELSIF v_bound IS NOT NULL THEN
    SELECT coalesce(array_agg(r.s ORDER BY (r.s).limit_price DESC, (r.s).id), '{}')
      INTO makers
    FROM (
      SELECT s, sum(s.qty - s.filled_qty) OVER (ORDER BY s.limit_price DESC, s.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS ahead
      FROM orders s
      WHERE s.instrument_id = b.id AND s.side = 'buy'
        AND s.status IN ('new', 'partially_filled') AND s.limit_price >= v_bound
    ) r WHERE coalesce(r.ahead, 0) < p_qty;
  END IF;

  -- order_statements.lock_parties: accounts in ascending id, missing positions created
  SELECT array_agg(DISTINCT a ORDER BY a) INTO ids
    FROM unnest(array_append(ARRAY(SELECT (mm).account_id FROM unnest(makers) mm),
                             p_account_id)) a;
  PERFORM 1 FROM accounts WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
  INSERT INTO positions (account_id, instrument_id, qty, reserved_qty, avg_price,
                         realized_pnl, updated_at)
    SELECT a, b.id, 0, 0, 0, 0, p_now FROM unnest(ids) a
    WHERE NOT EXISTS (SELECT 1 FROM positions p WHERE p.account_id = a
                      AND p.instrument_id = b.id)
    ORDER BY a
    ON CONFLICT (account_id, instrument_id) DO NOTHING;
  SELECT array_agg(p.id ORDER BY a.id), array_agg(a.cash ORDER BY a.id),
         array_agg(a.reserved_cash ORDER BY a.id), array_agg(p.qty ORDER BY a.id),
         array_agg(p.reserved_qty ORDER BY a.id), array_agg(p.avg_price ORDER BY a.id),
         array_agg(p.realized_pnl ORDER BY a.id)
    INTO pos_ids, a_cash0, a_rcash0, a_qty0, a_rqty0, a_avg0, a_pnl0
    FROM accounts a JOIN positions p ON p.account_id = a.id AND p.instrument_id = b.id
    WHERE a.id = ANY(ids);
  a_cash := a_cash0; a_rcash := a_rcash0; a_qty := a_qty0; a_rqty := a_rqty0;
  a_avg := a_avg0; a_pnl := a_pnl0;
  t := array_position(ids, p_account_id);

  o.account_id := p_account_id; o.instrument_id := b.id;
  o.client_order_id := p_client_order_id; o.request_hash := p_request_hash;
  o.side := p_side; o.order_type := p_type; o.time_in_force := p_tif; o.qty := p_qty;
  o.limit_price := p_limit_price; o.filled_qty := 0; o.filled_notional := 0;
  o.reserved_cash := 0; o.status := 'new'; o.reject_reason := NULL;
  o.created_at := p_now; o.updated_at := p_now;

  -- app.domain.risk.approve
  IF NOT b.tradable THEN
    v_reject := format('instrument_not_tradable: %s is not tradable', b.symbol);
  ELSIF mod(p_qty, b.lot_size) <> 0 THEN
    v_reject := format('qty_not_on_lot: qty %s is not a multiple of %s',
                       trim_scale(p_qty), trim_scale(b.lot_size));
  ELSIF p_type = 'limit' AND mod(p_limit_price, b.tick_size) <> 0 THEN
    v_reject := format('price_not_on_tick: price %s is not a multiple of %s',
                       trim_scale(p_limit_price), trim_scale(b.tick_size));
  ELSIF p_type = 'market' AND v_ref IS NULL THEN
    v_reject := format('no_reference_price: no price to collar %s', b.symbol);
  ELSIF p_side = 'sell' THEN
    v_available := a_qty[t] - a_rqty[t];
    IF p_qty > v_available THEN
      v_reject := format('insufficient_position: selling %s %s but only %s available',
                         trim_scale(p_qty), b.symbol, trim_scale(v_available));
    END IF;
  ELSE
    v_needed := trading_notional(v_bound, p_qty);
    IF v_needed > a_cash[t] - a_rcash[t] THEN
      v_reject := format('insufficient_buying_power: needs %s but buying power is %s',
                         trim_scale(v_needed), trim_scale(a_cash[t] - a_rcash[t]));
    END IF;
  END IF;
  IF v_reject IS NOT NULL THEN
    o.status := 'rejected';
    o.reject_reason := left(v_reject, 200);
    o.id := nextval('orders_id_seq');
    INSERT INTO orders SELECT (o).*;
    RETURN QUERY SELECT (o).*, false, 0;
    RETURN;
  END IF;

  -- app.domain.matching.match
  v_remaining := p_qty;
  IF p_tif = 'FOK' AND (SELECT coalesce(sum((mm).qty - (mm).filled_qty), 0)
                        FROM unnest(makers) mm) < p_qty THEN
    makers := '{}';
  END IF;
  FOR i IN 1 .. cardinality(makers) LOOP
    EXIT WHEN v_remaining <= 0;
    m := makers[i];
    v_exec := least(v_remaining, m.qty - m.filled_qty);
    CONTINUE WHEN v_exec <= 0;
    v_amount := trading_notional(m.limit_price, v_exec);
    exec_maker := exec_maker || i; exec_price := exec_price || m.limit_price;
    exec_qty := exec_qty || v_exec; exec_amount := exec_amount || v_amount;
    o.filled_notional := o.filled_notional + v_amount;
    v_remaining := v_remaining - v_exec;
  END LOOP;
  o.filled_qty := p_qty - v_remaining;
  IF v_remaining = 0 THEN
    o.status := 'filled';
  ELSIF NOT (p_type = 'limit' AND p_tif = 'GTC') THEN
    o.status := 'expired';
  ELSIF o.filled_qty > 0 THEN
    o.status := 'partially_filled';
  ELSE
    o.status := 'new';
  END IF;

  -- app.domain.settlement.settle: the taker, then each execution in turn
  IF p_side = 'buy' THEN
    IF o.status IN ('new', 'partially_filled') THEN
      o.reserved_cash := trading_notional(v_bound, v_remaining);
    END IF;
    a_rcash[t] := a_rcash[t] + o.reserved_cash;
  ELSIF o.status IN ('new', 'partially_filled') THEN
    a_rqty[t] := a_rqty[t] + v_remaining;
  END IF;
  o.id := nextval('orders_id_seq');
  INSERT INTO orders SELECT (o).*;

  FOR i IN 1 .. cardinality(exec_qty) LOOP
    m := makers[exec_maker[i]];
    mk := array_position(ids, m.account_id);
    IF p_side = 'buy' THEN buyer := t; seller := mk; ELSE buyer := mk; seller := t; END IF;
    -- _Parties.trade
    v_amount := exec_amount[i];
    a_cash[buyer] := a_cash[buyer] - v_amount;
    a_cash[seller] := a_cash[seller] + v_amount;
    IF a_qty[buyer] + exec_qty[i] = 0 THEN
      a_avg[buyer] := 0;
    ELSE
      a_avg[buyer] := trading_round8(((a_qty[buyer] * a_avg[buyer] + exec_qty[i] * exec_price[i])
                                    ::numeric(60, 30)) / (a_qty[buyer] + exec_qty[i]));
    END IF;
    a_qty[buyer] := a_qty[buyer] + exec_qty[i];
    v_left := a_qty[seller] - exec_qty[i];
    a_pnl[seller] := a_pnl[seller] + trading_round8((exec_price[i] - a_avg[seller]) * exec_qty[i]);
    a_qty[seller] := v_left;
    IF v_left = 0 THEN a_avg[seller] := 0; END IF;
    -- settlement._fill_maker
    m_filled := m.filled_qty + exec_qty[i];
    m_left := m.qty - m_filled;
    m_reserved := m.reserved_cash;
    IF m.side = 'buy' THEN
      m_reserved := trading_notional(m.limit_price, m_left);
      a_rcash[mk] := a_rcash[mk] - (m.reserved_cash - m_reserved);
    ELSE
      a_rqty[mk] := a_rqty[mk] - exec_qty[i];
    END IF;
    maker_ids := maker_ids || m.id; maker_filled := maker_filled || m_filled;
    maker_notional := maker_notional
                      || (m.filled_notional + v_amount);
    maker_reserved := maker_reserved || m_reserved;
    maker_status := maker_status
                    || (CASE WHEN m_left = 0 THEN 'filled' ELSE 'partially_filled' END)::varchar;
    -- settlement_writes._write_trades: the fill and its four ledger entries
    INSERT INTO fills (instrument_id, price, qty, buy_order_id, sell_order_id,
      buyer_account_id, seller_account_id, aggressor_side, created_at)
    VALUES (b.id, exec_price[i], exec_qty[i],
      CASE WHEN p_side = 'buy' THEN o.id ELSE m.id END,
      CASE WHEN p_side = 'buy' THEN m.id ELSE o.id END,
      ids[buyer], ids[seller], p_side, p_now)
    RETURNING id INTO v_fill_id;
    INSERT INTO ledger_entries (account_id, kind, asset, amount, order_id, fill_id, note,
                                created_at)
    VALUES
      (ids[buyer], 'trade', 'USD', -v_amount,
       CASE WHEN p_side = 'buy' THEN o.id ELSE m.id END, v_fill_id, '', p_now),
      (ids[buyer], 'trade', b.symbol, exec_qty[i],
       CASE WHEN p_side = 'buy' THEN o.id ELSE m.id END, v_fill_id, '', p_now),
      (ids[seller], 'trade', 'USD', v_amount,
       CASE WHEN p_side = 'buy' THEN m.id ELSE o.id END, v_fill_id, '', p_now),
      (ids[seller], 'trade', b.symbol, -exec_qty[i],
       CASE WHEN p_side = 'buy' THEN m.id ELSE o.id END, v_fill_id, '', p_now);
    v_last := exec_price[i];
    v_fills := v_fills + 1;
  END LOOP;

  IF v_fills > 0 THEN
    UPDATE orders AS u SET filled_qty = x.f, filled_notional = x.n, reserved_cash = x.r,
        status = x.s, updated_at = p_now
      FROM unnest(maker_ids, maker_filled, maker_notional, maker_reserved, maker_status)
           AS x(id, f, n, r, s)
      WHERE u.id = x.id;
    UPDATE instruments SET last_price = v_last WHERE id = b.id;
  END IF;
  -- settlement_writes: only the accounts and positions whose values changed
  UPDATE accounts AS u SET cash = x.c, reserved_cash = x.r
    FROM unnest(ids, a_cash, a_rcash, a_cash0, a_rcash0) AS x(id, c, r, c0, r0)
    WHERE u.id = x.id AND (x.c <> x.c0 OR x.r <> x.r0);
  UPDATE positions AS u SET qty = x.q, reserved_qty = x.rq, avg_price = x.a,
      realized_pnl = x.p, updated_at = p_now
    FROM unnest(pos_ids, a_qty, a_rqty, a_avg, a_pnl, a_qty0, a_rqty0, a_avg0, a_pnl0)
         AS x(id, q, rq, a, p, q0, rq0, a0, p0)
    WHERE u.id = x.id AND (x.q <> x.q0 OR x.rq <> x.rq0 OR x.a <> x.a0 OR x.p <> x.p0);

  RETURN QUERY SELECT (o).*, false, v_fills;
END $$
"""

PLACE_ORDER = PLACE_ORDER_TEXT.replace(CALLER_MARK, CALLER_ACCOUNT)
FUNCTIONS = (ROUND_HALF_EVEN, NOTIONAL, PLACE_ORDER)
DROPS = (
    "DROP FUNCTION IF EXISTS place_order(bigint, bigint, varchar, varchar, varchar, varchar,"
    " numeric, numeric, varchar, varchar, numeric, timestamptz)",
    "DROP FUNCTION IF EXISTS trading_notional(numeric, numeric)",
    "DROP FUNCTION IF EXISTS trading_round8(numeric)",
)


def upgrade() -> None:
    """Create the functions (PostgreSQL only)."""
    on_postgresql(*FUNCTIONS)


def downgrade() -> None:
    """Drop them again."""
    on_postgresql(*DROPS)
