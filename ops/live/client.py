"""The trading API, from the outside: every ops tool that talks to the service uses this.

Deploy smoke gates, the DR drill's checks, the API fuzzer's set-up, the API
security gate's accounts, the monitors and the load tests all log in, read
market data and place or cancel orders through :class:`TradingClient` (or, for
locust, the request bodies :func:`limit_order` builds). An answer other than the
one a caller expects raises :class:`ApiError` naming the request, the status and
the app's own error code; a service that cannot be reached raises
:class:`ApiUnreachable`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ops.core.exits import CannotRun, CheckFailed, one_line
from ops.core.processes import Probe

TIMEOUT_SECONDS = 10.0
VERSION_HEADER = "X-App-Version"


class ApiError(CheckFailed):
    """The service answered, but not what was expected; one line."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiUnreachable(CannotRun):
    """The service could not be reached (connection, time-out, protocol); one line."""


def error_text(response: httpx.Response) -> str:
    """The app's error body in a few words (code, message, first detail), else the text."""
    try:
        error = response.json()["error"]
        details = error.get("details") or []
        first = details[0].get("msg", "") if details and isinstance(details[0], dict) else ""
        return (f"{error['code']}: {error['message']}" + (f" ({first})" if first else ""))[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        return " ".join(response.text.split())[:200] or "(empty body)"


def expect(response: httpx.Response, status: int | Collection[int], what: str) -> httpx.Response:
    """``response`` when its status is ``status`` (or one of them); else :class:`ApiError`."""
    wanted = (status,) if isinstance(status, int) else tuple(status)
    if response.status_code not in wanted:
        expected = " or ".join(str(code) for code in wanted)
        raise ApiError(
            f"{what}: expected {expected}, got {response.status_code}: {error_text(response)}",
            response.status_code,
        )
    return response


def limit_order(
    symbol: str,
    side: str,
    qty: str,
    price: str,
    *,
    time_in_force: str = "GTC",
    client_order_id: str | None = None,
) -> dict[str, str]:
    """The body of ``POST /v1/orders`` for a limit order (amounts as decimal strings)."""
    body = {"symbol": symbol, "side": side, "type": "limit", "qty": qty, "limit_price": price,
            "time_in_force": time_in_force}  # fmt: skip
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    return body


class TradingClient:
    """The trading API at a base URL (optionally through a Unix socket), as one user;
    ``verify`` is how HTTPS certificates are checked (an SSL context with a private CA)."""

    def __init__(
        self,
        base_url: str,
        *,
        uds: Path | None = None,
        token: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        http: httpx.Client | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        transport = httpx.HTTPTransport(uds=str(uds), verify=verify) if uds else None
        self.http = http or httpx.Client(
            base_url=self.base_url, transport=transport, timeout=timeout, verify=verify
        )
        self._owns_http = http is None
        self.token = token

    def as_user(self, token: str) -> TradingClient:
        """The same connection pool, acting as another user."""
        return TradingClient(self.base_url, token=token, http=self.http)

    def close(self) -> None:
        """Close the connections (when this client opened them)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> TradingClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        expected: int | Collection[int] | None = None,
        what: str | None = None,
        **options: Any,
    ) -> httpx.Response:
        """One request as this user; checked against ``expected`` when given."""
        headers = dict(options.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        label = what or f"{method} {path}"
        try:
            response = self.http.request(method, path, headers=headers, **options)
        except httpx.HTTPError as error:
            raise ApiUnreachable(f"{label}: {type(error).__name__}: {one_line(error)}") from None
        return response if expected is None else expect(response, expected, label)

    def json(self, method: str, path: str, expected: int = 200, **options: Any) -> Any:
        """The JSON body of a request that must answer ``expected``."""
        return self.request(method, path, expected=expected, **options).json()

    def probe(self, path: str, status: int = 200) -> Probe:
        """A :data:`~ops.core.processes.Probe`: ready when ``GET path`` answers ``status``."""

        def look() -> tuple[bool, str]:
            try:
                response = self.http.get(path)
            except httpx.HTTPError as error:
                return False, type(error).__name__
            seen = f"{path} answered {response.status_code}"
            if response.status_code != status:
                seen += f": {error_text(response)}"
            return response.status_code == status, seen

        return look

    # -- the API -------------------------------------------------------------------------

    def login(self, email: str, password: str) -> str:
        """Log in with the password flow; the token is kept for later requests and returned."""
        body = self.json(
            "POST", "/v1/auth/token", data={"username": email, "password": password},
            what=f"log in as {email}",
        )  # fmt: skip
        self.token = str(body["access_token"])
        return self.token

    def register(self, email: str, password: str) -> dict[str, Any]:
        """Create a trader account."""
        body: dict[str, Any] = self.json(
            "POST", "/v1/auth/register", 201, json={"email": email, "password": password}
        )
        return body

    def me(self) -> dict[str, Any]:
        """Who this user is (id, role, account id)."""
        body: dict[str, Any] = self.json("GET", "/v1/me")
        return body

    def deposit(self, account_id: int, amount: str) -> dict[str, Any]:
        """Credit cash to an account (admin)."""
        path = f"/v1/admin/accounts/{account_id}/deposits"
        body: dict[str, Any] = self.json("POST", path, 201, json={"amount": amount})
        return body

    def transfer_in(
        self, account_id: int, symbol: str, qty: str, cost_price: str
    ) -> dict[str, Any]:
        """Credit a holding to an account (admin)."""
        path = f"/v1/admin/accounts/{account_id}/transfers"
        payload = {"symbol": symbol, "qty": qty, "cost_price": cost_price}
        body: dict[str, Any] = self.json("POST", path, 201, json=payload)
        return body

    def instruments(self) -> list[dict[str, Any]]:
        """Every listed instrument."""
        body: list[dict[str, Any]] = self.json("GET", "/v1/instruments")
        return body

    def instrument(self, symbol: str) -> dict[str, Any]:
        """One listed instrument; :class:`ApiError` when it is not listed."""
        for instrument in self.instruments():
            if instrument["symbol"] == symbol:
                return instrument
        raise ApiError(f"instrument {symbol} is not listed")

    def quote(self, symbol: str) -> dict[str, Any]:
        """The best bid and ask of a symbol."""
        body: dict[str, Any] = self.json("GET", f"/v1/market/{symbol}/quote")
        return body

    def book(self, symbol: str) -> dict[str, Any]:
        """The order book of a symbol (bids and asks by price level)."""
        body: dict[str, Any] = self.json("GET", f"/v1/market/{symbol}/book")
        if not isinstance(body.get("bids"), list) or not isinstance(body.get("asks"), list):
            raise ApiError(f"GET /v1/market/{symbol}/book: no bids/asks in the answer")
        return body

    def place(self, order: Mapping[str, str]) -> dict[str, Any]:
        """Place an order (201: accepted, resting, filled or risk-rejected -- see its status)."""
        body: dict[str, Any] = self.json("POST", "/v1/orders", 201, json=dict(order))
        return body

    def order(self, order_id: int) -> dict[str, Any]:
        """One of this user's orders."""
        body: dict[str, Any] = self.json("GET", f"/v1/orders/{order_id}")
        return body

    def orders(self, limit: int = 20) -> dict[str, Any]:
        """This user's newest orders (one page)."""
        body: dict[str, Any] = self.json("GET", "/v1/orders", params={"limit": limit})
        return body

    def cancel(self, order_id: int) -> dict[str, Any]:
        """Cancel one of this user's open orders."""
        body: dict[str, Any] = self.json("POST", f"/v1/orders/{order_id}/cancel")
        return body


def response_times(client: TradingClient, path: str, probes: int) -> list[float]:
    """Milliseconds of ``probes`` sequential ``GET path`` after one warm-up request (setting
    up the connection is not the service's latency); :class:`ApiError` on an answer other
    than 200."""
    client.request("GET", path, expected=200)
    samples: list[float] = []
    for _ in range(probes):
        started = time.perf_counter()
        client.request("GET", path, expected=200)
        samples.append((time.perf_counter() - started) * 1000)
    return samples
