"""Request fingerprinting: the idempotency hash a replayed client_order_id is checked with."""

from __future__ import annotations

from cases import Benchmark, fingerprint


def test_fingerprint(benchmark: Benchmark) -> None:
    digest = benchmark(fingerprint())
    assert len(digest) == 64
