"""An order's fingerprint is the hash it always was: stored orders' replays still match."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.enums import OrderType, Side, TimeInForce
from app.services.orders import OrderRequest

decimals = st.decimals(
    allow_nan=False,
    allow_infinity=False,
    places=8,
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
)


def json_dumps_fingerprint(request: OrderRequest) -> str:
    """The formula every stored order's ``request_hash`` was made with."""
    payload = {
        "symbol": request.symbol,
        "side": request.side.value,
        "type": request.order_type.value,
        "qty": str(request.qty.normalize()),
        "limit_price": None
        if request.limit_price is None
        else str(request.limit_price.normalize()),
        "tif": request.time_in_force.value,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@given(
    symbol=st.text(max_size=12),  # quotes, backslashes, control and non-ASCII characters
    side=st.sampled_from(Side),
    order_type=st.sampled_from(OrderType),
    qty=decimals,
    limit_price=st.none() | decimals,
    time_in_force=st.sampled_from(TimeInForce),
)
def test_the_fingerprint_is_the_json_dumps_hash(
    symbol: str,
    side: Side,
    order_type: OrderType,
    qty: Decimal,
    limit_price: Decimal | None,
    time_in_force: TimeInForce,
) -> None:
    request = OrderRequest(
        symbol=symbol, side=side, order_type=order_type, qty=qty,
        limit_price=limit_price, time_in_force=time_in_force, client_order_id="any",
    )  # fmt: skip
    assert request.fingerprint() == json_dumps_fingerprint(request)


def test_a_known_order_keeps_its_hash() -> None:
    request = OrderRequest(symbol="AAPL", side=Side.BUY, order_type=OrderType.LIMIT,
                           qty=Decimal("10"), limit_price=Decimal("190.50"))  # fmt: skip
    text = '{"limit_price": "190.5", "qty": "1E+1", "side": "buy", "symbol": "AAPL", "tif": "GTC", "type": "limit"}'  # noqa: E501
    assert request.fingerprint() == hashlib.sha256(text.encode()).hexdigest()
