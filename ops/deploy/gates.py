"""The gates a release passes before it takes traffic: readiness, smoke tests, latency.

Every check talks HTTP to a :class:`Target` -- the candidate's own Unix socket
on the local platform, a port-forward or the public URL elsewhere -- and
returns a :class:`GateResult` saying what it saw.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ops.environments import SmokeCheck

SMOKE_SYMBOL = "AAPL"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a release answers: a base URL, optionally through a Unix socket."""

    base_url: str
    uds: Path | None = None

    def client(self, timeout: float = 10) -> httpx.Client:
        """An HTTP client bound to the target."""
        transport = httpx.HTTPTransport(uds=str(self.uds)) if self.uds else None
        return httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def describe(self) -> str:
        """Where, for messages."""
        return f"{self.base_url} via {self.uds}" if self.uds else self.base_url


@dataclass(frozen=True, slots=True)
class GateResult:
    """One check: passed or not, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class SmokeCredentials:
    """The smoke-test user."""

    email: str
    password: str


def wait_ready(
    target: Target, path: str, timeout: float, alive: Callable[[], bool] = lambda: True
) -> GateResult:
    """Poll ``path`` until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with target.client(timeout=2) as client:
        while time.monotonic() < deadline:
            if not alive():
                return GateResult("readiness", False, "the process exited while starting")
            try:
                response = client.get(path)
                if response.status_code == 200:
                    return GateResult("readiness", True, f"{path} answered 200")
                last = f"{path} answered {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}"
            time.sleep(0.1)
    return GateResult("readiness", False, f"not ready within {timeout:g}s ({last})")


class SmokeFailure(Exception):
    """A smoke check saw something wrong."""


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise SmokeFailure(
            f"{what}: expected {status}, got {response.status_code} {response.text[:200]}"
        )


def _health(client: httpx.Client, _: _SmokeContext) -> str:
    _expect(client.get("/health"), 200, "GET /health")
    return "healthy"


def _version(client: httpx.Client, context: _SmokeContext) -> str:
    response = client.get("/version")
    _expect(response, 200, "GET /version")
    served = response.json().get("version")
    if served != context.version or response.headers.get("X-App-Version") != context.version:
        raise SmokeFailure(f"serves version {served!r}, expected {context.version!r}")
    return f"serves {served}"


def _login(client: httpx.Client, context: _SmokeContext) -> str:
    response = client.post(
        "/v1/auth/token",
        data={"username": context.credentials.email, "password": context.credentials.password},
    )
    _expect(response, 200, f"log in as {context.credentials.email}")
    context.token = response.json()["access_token"]
    return f"logged in as {context.credentials.email}"


def _place_cancel(client: httpx.Client, context: _SmokeContext) -> str:
    if context.token is None:
        _login(client, context)
    headers = {"Authorization": f"Bearer {context.token}"}
    instrument = next(
        (i for i in client.get("/v1/instruments").json() if i["symbol"] == SMOKE_SYMBOL), None
    )
    if instrument is None:
        raise SmokeFailure(f"instrument {SMOKE_SYMBOL} is not listed")
    body = {
        "symbol": SMOKE_SYMBOL, "side": "buy", "type": "limit",
        "qty": instrument["lot_size"], "limit_price": instrument["tick_size"],
        "client_order_id": f"smoke-{secrets.token_hex(6)}",
    }  # fmt: skip
    placed = client.post("/v1/orders", json=body, headers=headers)
    _expect(placed, 201, "place a smoke order")
    order = placed.json()
    if order["status"] != "new":
        raise SmokeFailure(f"smoke order is {order['status']}: {order.get('reject_reason')}")
    canceled = client.post(f"/v1/orders/{order['id']}/cancel", headers=headers)
    _expect(canceled, 200, "cancel the smoke order")
    return f"placed and canceled order {order['id']}"


def _book(client: httpx.Client, _: _SmokeContext) -> str:
    response = client.get(f"/v1/market/{SMOKE_SYMBOL}/book")
    _expect(response, 200, f"read the {SMOKE_SYMBOL} book")
    book = response.json()
    if not isinstance(book.get("bids"), list) or not isinstance(book.get("asks"), list):
        raise SmokeFailure("book has no bids/asks")
    return f"book has {len(book['bids'])} bid and {len(book['asks'])} ask levels"


@dataclass
class _SmokeContext:
    version: str
    credentials: SmokeCredentials
    token: str | None = None


SMOKE_CHECKS: dict[str, Callable[[httpx.Client, _SmokeContext], str]] = {
    "health": _health,
    "version": _version,
    "login": _login,
    "place_cancel": _place_cancel,
    "book": _book,
}


def smoke(
    target: Target, checks: Sequence[SmokeCheck], version: str, credentials: SmokeCredentials
) -> list[GateResult]:
    """Run the smoke checks in order; stop at the first failure."""
    context = _SmokeContext(version, credentials)
    results: list[GateResult] = []
    with target.client() as client:
        for name in checks:
            try:
                detail = SMOKE_CHECKS[name](client, context)
            except (SmokeFailure, httpx.HTTPError, ValueError, KeyError) as error:
                detail = str(error) or type(error).__name__
                results.append(GateResult(f"smoke:{name}", False, detail))
                break
            results.append(GateResult(f"smoke:{name}", True, detail))
    return results


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples``."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency(target: Target, path: str, probes: int, budget_ms: float) -> GateResult:
    """p95 of ``probes`` sequential requests to ``path`` must be within ``budget_ms``."""
    samples: list[float] = []
    with target.client() as client:
        client.get(path)  # warm-up: connection set-up is not the release's latency
        for _ in range(probes):
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                return GateResult("latency", False, f"{path} answered {response.status_code}")
    p95 = percentile(samples, 0.95)
    detail = f"p95 {p95:.1f} ms over {probes} probes of {path} (budget {budget_ms:g} ms)"
    return GateResult("latency", p95 <= budget_ms, detail)
