"""A small load generator for the zero-downtime tests.

Runs GET and POST traffic on both fresh connections and reused keep-alive
connections, and counts every failure (transport errors and unexpected
statuses) and every ``X-App-Version`` seen, in order.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ops.live.client import VERSION_HEADER, limit_order


@dataclass
class Tally:
    """What the generator saw; shared by its threads under a lock."""

    requests: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, response: httpx.Response | None, error: str | None) -> None:
        """Count one request, ``kind`` naming method and connection style."""
        with self.lock:
            self.requests[kind] += 1
            if error is not None or response is None or response.status_code >= 400:
                reason = error or f"HTTP {response.status_code if response else '?'}"
                self.failures[kind] += 1
                if len(self.samples) < 20:
                    self.samples.append(f"{kind}: {reason}")
                return
            version = response.headers.get(VERSION_HEADER, "")
            if not self.versions or self.versions[-1] != version:
                self.versions.append(version)

    def summary(self) -> dict[str, object]:
        """Totals, failures by kind, first failure samples, version transitions."""
        with self.lock:
            return {
                "requests": sum(self.requests.values()),
                "failed": sum(self.failures.values()),
                "by_kind": dict(self.requests),
                "failures_by_kind": dict(self.failures),
                "samples": list(self.samples),
                "versions": list(self.versions),
            }


Request = Callable[[httpx.Client], httpx.Response]


class LoadGenerator:
    """Threads that each send one kind of request until stopped."""

    def __init__(self, base_url: str, token: str | None = None, workers_per_kind: int = 2):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.workers_per_kind = workers_per_kind
        self.tally = Tally()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _requests(self) -> dict[str, Request]:
        kinds: dict[str, Request] = {"GET": lambda c: c.get("/v1/market/AAPL/quote")}
        if self.token:
            headers = {"Authorization": f"Bearer {self.token}"}
            body = limit_order("AAPL", "buy", "1", "1", time_in_force="IOC")
            kinds["POST"] = lambda c: c.post("/v1/orders", json=body, headers=headers)
        return kinds

    def _loop(self, kind: str, request: Request, keep_alive: bool) -> None:
        label = f"{kind} {'keep-alive' if keep_alive else 'fresh'}"
        client = httpx.Client(base_url=self.base_url, timeout=10) if keep_alive else None
        try:
            while not self._stop.is_set():
                try:
                    if client is not None:
                        response = request(client)
                    else:
                        with httpx.Client(base_url=self.base_url, timeout=10) as fresh:
                            response = request(fresh)
                    self.tally.record(label, response, None)
                except httpx.HTTPError as error:
                    self.tally.record(label, None, f"{type(error).__name__}: {error}")
        finally:
            if client is not None:
                client.close()

    def start(self) -> None:
        """Start every thread."""
        for kind, request in self._requests().items():
            for keep_alive in (True, False):
                for _ in range(self.workers_per_kind):
                    thread = threading.Thread(
                        target=self._loop, args=(kind, request, keep_alive), daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)

    def stop(self) -> dict[str, object]:
        """Stop the threads and return the summary."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        return self.tally.summary()
