"""The load test's traffic: a trader reading market data and placing orders that never rest.

Used by ``nox -s perf`` (see ops/perf/run.py); credentials come from PERF_USER and PERF_PASSWORD.
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

from ops.live.client import limit_order

SYMBOLS = ("AAPL", "MSFT", "TSLA")


def _symbol() -> str:
    return random.choice(SYMBOLS)  # noqa: S311 - traffic shape, not security


class Trader(HttpUser):
    """One logged-in trader."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        """Log in once."""
        response = self.client.post(
            "/v1/auth/token",
            data={
                "username": os.environ["PERF_USER"],
                "password": os.environ["PERF_PASSWORD"],
            },
            name="/v1/auth/token",
        )
        token = response.json().get("access_token", "")
        self.client.headers["Authorization"] = f"Bearer {token}"

    @task(5)
    def quote(self) -> None:
        """Read a quote."""
        self.client.get(f"/v1/market/{_symbol()}/quote", name="/v1/market/[symbol]/quote")

    @task(3)
    def book(self) -> None:
        """Read a book."""
        self.client.get(f"/v1/market/{_symbol()}/book", name="/v1/market/[symbol]/book")

    @task(2)
    def place(self) -> None:
        """An IOC buy far below the market: exercises risk and matching, never rests."""
        body = limit_order(_symbol(), "buy", "1", "1", time_in_force="IOC")
        self.client.post("/v1/orders", json=body, name="/v1/orders")

    @task(1)
    def orders(self) -> None:
        """List own orders."""
        self.client.get("/v1/orders?limit=20", name="/v1/orders")
