"""The SLO model: the committed defaults, overrides merged key by key, one-line problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.perf.slo import DEFAULTS, SloProblem, merged, read_defaults, resolve

BOOK = "GET /v1/market/{symbol}/book"
ORDERS = "POST /v1/orders"


def test_the_committed_defaults_load() -> None:
    slo = resolve()
    assert slo.run.rate == 50
    assert slo.run.arrival == "poisson"
    assert slo.request(BOOK).p95_ms == 250
    assert slo.request(ORDERS).p99_ms == 250
    assert slo.scenarios["hot-symbol"]["symbol"] == "AAPL"


def test_a_request_merges_its_own_limits_over_the_defaults() -> None:
    slo = resolve()
    orders = slo.request(ORDERS)
    assert (orders.p50_ms, orders.p95_ms, orders.p99_ms) == (30, 100, 250)
    assert orders.error_ratio == slo.defaults.error_ratio
    assert orders.min_samples == slo.defaults.min_samples
    assert slo.request("GET /v1/fills") == slo.defaults


def test_overrides_merge_key_by_key() -> None:
    slo = resolve({"run": {"rate": 5}, "requests": {BOOK: {"p95_ms": 300}}})
    assert slo.run.rate == 5
    assert slo.run.duration_seconds == 60, "keys the override does not name keep the default"
    assert slo.request(BOOK).p95_ms == 300
    assert slo.request(ORDERS).p99_ms == 250, "other requests keep theirs"
    assert merged({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}) == {
        "a": {"b": 1, "c": 3},
        "d": 4,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"run": {"rate": 0}}, "here: run.rate: Input should be greater than 0"),
        ({"run": {"speed": 1}}, "here: run.speed: Extra inputs are not permitted"),
        ({"run": {"arrival": "burst"}}, "here: run.arrival: Input should be 'constant' or"),
        (
            {"requests": {ORDERS: {"p95_ms": 400}}},
            f"here: requests.{ORDERS!r}: p50_ms <= p95_ms <= p99_ms must hold",
        ),
        (
            {"requests": {"/v1/orders": {"p99_ms": 1}}},
            "here: requests.'/v1/orders': expected 'METHOD /route/{template}'",
        ),
        (
            {"requests": {ORDERS: {"p99": 1}}},
            f"here: requests.{ORDERS!r}: p99: Extra inputs are not permitted",
        ),
        (
            {"run": {"db_reference_clients": 2, "db_reference_threads": 4}},
            "here: run: db_reference_threads must not exceed db_reference_clients",
        ),
        ({"run": {"db_reference_seconds": -1}}, "here: run.db_reference_seconds: Input should be"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_key(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SloProblem) as caught:
        resolve(overrides, where="here")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_missing_or_broken_defaults_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SloProblem, match=r"perf\.toml: no such SLO file$"):
        read_defaults(tmp_path / "perf.toml")
    broken = tmp_path / "perf.toml"
    broken.write_text("[run\n")
    with pytest.raises(SloProblem, match=r"^perf\.toml: invalid TOML: "):
        resolve(path=broken)


def test_the_digest_changes_with_any_limit() -> None:
    digest = resolve().digest()
    assert resolve().digest() == digest
    assert resolve({"requests": {BOOK: {"p99_ms": 301}}}).digest() != digest
    assert resolve({"regression": {"percent": 21}}).digest() != digest
    assert len(digest) == 12
    assert DEFAULTS.name == "perf.toml"


def test_the_database_reference_settings_are_no_part_of_the_digest() -> None:
    # They do not change the app's load: a baseline stays comparable when they change.
    digest = resolve().digest()
    changed = {"db_reference_seconds": 0, "db_reference_clients": 4, "db_reference_threads": 1,
               "db_reference_scale": 10}  # fmt: skip
    assert resolve({"run": changed}).digest() == digest
    assert resolve({"run": {"rate": 51}}).digest() != digest
