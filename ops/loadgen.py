"""A small load generator for zero-downtime checks: ``python -m ops.loadgen URL``.

Runs GET and POST traffic on both fresh connections and reused keep-alive
connections, and counts every failure (transport errors and unexpected
statuses) and every ``X-App-Version`` seen, in order. Used by the deploy tests
and by hand against any release.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

VERSION_HEADER = "X-App-Version"


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
            body = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1",
                    "limit_price": "1", "time_in_force": "IOC"}  # fmt: skip
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


def login(base_url: str, email: str, password: str) -> str:
    """A bearer token from the OAuth2 password flow."""
    response = httpx.post(
        f"{base_url.rstrip('/')}/v1/auth/token",
        data={"username": email, "password": password},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def main() -> int:
    """Run for ``--seconds`` and print the summary as JSON; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--user", default="alice@example.com")
    parser.add_argument("--password", default=None, help="log in to send POST traffic too")
    args = parser.parse_args()
    token = login(args.url, args.user, args.password) if args.password else None
    generator = LoadGenerator(args.url, token)
    generator.start()
    time.sleep(args.seconds)
    summary = generator.stop()
    print(json.dumps(summary, indent=2))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
