"""The gates a release passes: readiness, smoke tests and latency before it takes traffic,
and the verification of the public URL after.

Every gate talks to the trading API through :class:`~ops.live.client.TradingClient`
at a :class:`Target` -- the candidate's own Unix socket on the local platform, a
port-forward or the public URL elsewhere. A gate returns what it saw, or raises
:class:`GateFailed` saying what failed and what it saw instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.core.exits import CheckFailed, OpsError
from ops.core.processes import Probe, wait_for
from ops.core.stats import percentile
from ops.environments import SmokeCheck
from ops.live.client import VERSION_HEADER, ApiError, TradingClient, limit_order, response_times

SMOKE_SYMBOL = "AAPL"
READINESS_REQUEST_SECONDS = 2.0
VERIFY_REQUEST_SECONDS = 5.0
VERIFY_INTERVAL_SECONDS = 0.2


class GateFailed(CheckFailed):
    """A gate saw something wrong; the message says what."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a release answers: a base URL, optionally through a Unix socket."""

    base_url: str
    uds: Path | None = None

    def client(self, timeout: float = 10) -> TradingClient:
        """A trading API client bound to the target."""
        return TradingClient(self.base_url, uds=self.uds, timeout=timeout)

    def describe(self) -> str:
        """Where, for messages."""
        return f"{self.base_url} via {self.uds}" if self.uds else self.base_url


@dataclass(frozen=True, slots=True)
class SmokeCredentials:
    """The smoke-test user."""

    email: str
    password: str


def readiness(target: Target, path: str, timeout: float, alive: Callable[[], bool]) -> str:
    """Wait until ``path`` answers 200; fail when the process dies or ``timeout`` passes."""
    with target.client(timeout=READINESS_REQUEST_SECONDS) as client:
        waited = wait_for(client.probe(path), timeout=timeout, alive=alive)
    if waited.exited:
        raise GateFailed("the process exited while starting")
    if not waited.ready:
        raise GateFailed(f"not ready within {timeout:g}s ({waited.seen})")
    return waited.seen


@dataclass
class _Smoke:
    client: TradingClient
    version: str
    credentials: SmokeCredentials
    logged_in: bool = False


def _health(smoke: _Smoke) -> str:
    smoke.client.request("GET", "/health", expected=200)
    return "healthy"


def _version(smoke: _Smoke) -> str:
    response = smoke.client.request("GET", "/version", expected=200)
    served = response.json().get("version")
    if served != smoke.version or response.headers.get(VERSION_HEADER) != smoke.version:
        raise GateFailed(f"serves version {served!r}, expected {smoke.version!r}")
    return f"serves {served}"


def _login(smoke: _Smoke) -> str:
    smoke.client.login(smoke.credentials.email, smoke.credentials.password)
    smoke.logged_in = True
    return f"logged in as {smoke.credentials.email}"


def _place_cancel(smoke: _Smoke) -> str:
    if not smoke.logged_in:
        _login(smoke)
    instrument = smoke.client.instrument(SMOKE_SYMBOL)
    order = smoke.client.place(
        limit_order(
            SMOKE_SYMBOL, "buy", instrument["lot_size"], instrument["tick_size"],
            client_order_id=f"smoke-{secrets.token_hex(6)}",
        )
    )  # fmt: skip
    if order["status"] != "new":
        raise GateFailed(f"smoke order is {order['status']}: {order.get('reject_reason')}")
    smoke.client.cancel(order["id"])
    return f"placed and canceled order {order['id']}"


def _book(smoke: _Smoke) -> str:
    book = smoke.client.book(SMOKE_SYMBOL)
    return f"book has {len(book['bids'])} bid and {len(book['asks'])} ask levels"


SMOKE_CHECKS: dict[SmokeCheck, Callable[[_Smoke], str]] = {
    "health": _health,
    "version": _version,
    "login": _login,
    "place_cancel": _place_cancel,
    "book": _book,
}


def smoke(
    target: Target, checks: Sequence[SmokeCheck], version: str, credentials: SmokeCredentials
) -> list[str]:
    """Run the smoke checks in order; the first failure raises :class:`GateFailed` naming
    the check (``smoke:<check>: <what failed>``)."""
    passed: list[str] = []
    with target.client() as client:
        state = _Smoke(client, version, credentials)
        for name in checks:
            try:
                passed.append(SMOKE_CHECKS[name](state))
            except (OpsError, ValueError, KeyError, TypeError) as error:
                raise GateFailed(f"smoke:{name}: {error}") from error
    return passed


def latency(target: Target, path: str, probes: int, budget_ms: float) -> str:
    """p95 of ``probes`` sequential requests to ``path`` must be within ``budget_ms``."""
    with target.client() as client:
        try:
            samples = response_times(client, path, probes)
        except ApiError as error:
            raise GateFailed(str(error)) from None
    p95 = percentile(samples, 0.95)
    detail = f"p95 {p95:.1f} ms over {probes} probes of {path} (budget {budget_ms:g} ms)"
    if p95 > budget_ms:
        raise GateFailed(detail)
    return detail


def serves_version(client: TradingClient, path: str, version: str) -> Probe:
    """A :data:`~ops.core.processes.Probe`: ready when ``GET path`` answers 200 with
    ``version`` in its version header."""

    def look() -> tuple[bool, str]:
        try:
            response = client.request("GET", path)
        except OpsError as error:
            return False, str(error)
        served = response.headers.get(VERSION_HEADER)
        return response.status_code == 200 and served == version, (
            f"{response.status_code}, {served!r}"
        )

    return look


def verify(public_url: str, path: str, version: str, timeout: float) -> str:
    """The public URL serves ``version`` within ``timeout`` seconds."""
    with TradingClient(public_url, timeout=VERIFY_REQUEST_SECONDS) as client:
        waited = wait_for(
            serves_version(client, path, version), timeout=timeout,
            interval=VERIFY_INTERVAL_SECONDS,
        )  # fmt: skip
    url = public_url.rstrip("/") + path
    if not waited.ready:
        raise GateFailed(f"{url} does not serve {version} (last: {waited.seen})")
    return f"{url} serves {version}"
