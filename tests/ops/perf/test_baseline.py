"""Baselines: the history, choosing one, and regressions against it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from ops.perf.baseline import Baseline, BaselineProblem, choose, latest, read_verdict, store
from ops.perf.slo import RegressionSettings, resolve
from ops.perf.verdict import EndpointFigures, Verdict, judge
from tests.ops.perf.test_verdict import CONTEXT, ORDERS, measure, request

RELAXED = resolve({"requests": {ORDERS: {"p50_ms": 1000, "p95_ms": 1000, "p99_ms": 1000}}})
TOLERANCE = RegressionSettings(percent=20, ms=5)


def run_at(
    ms: float, *, hours_ago: float = 0, version: str = "1.2.3", **changes: object
) -> Verdict:
    """The verdict of a run whose every order took ``ms``."""
    started = CONTEXT.started_at - timedelta(hours=hours_ago)
    context = replace(CONTEXT, started_at=started, app_version=version)
    return judge(measure(request(ORDERS, ms=ms), **changes), RELAXED, context)


def figures_at(ms: float) -> dict[str, EndpointFigures]:
    """The per-endpoint figures of a run whose every order took ``ms``."""
    return run_at(ms).requests


def test_a_regression_against_a_stored_baseline_fails(tmp_path: Path) -> None:
    stored = store(run_at(100, hours_ago=1, version="1.2.2"), tmp_path)
    baseline = choose(str(stored), "trader-mix", "abc123", tmp_path)
    assert baseline is not None
    verdict = judge(measure(request(ORDERS, ms=200)), RELAXED, CONTEXT, baseline=baseline)
    assert (verdict.status, verdict.exit_code) == ("failed", CHECK_FAILED)
    assert verdict.reason == (
        "POST /v1/orders p50 200.1 ms > baseline 100.0 ms + 20% and 5 ms (1.2.2) (and 2 more)"
    )
    assert {rule.name for rule in verdict.broken()} == {
        "p50 regression", "p95 regression", "p99 regression",
    }  # fmt: skip
    assert verdict.baseline == {
        "path": str(stored), "app_version": "1.2.2", "started_at": "2026-01-02T02:04:05+00:00",
        "scenario_hash": "abc123", "percent": 20, "ms": 5,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("base_ms", "now_ms", "ok"),
    [
        (100, 110, True),  # within both
        (100, 140, False),  # over both: +40% and +40 ms
        (10, 14, True),  # +40%, but only +4 ms
        (200, 230, True),  # +30 ms, but only +15%
        (10, 16, False),  # +60% and +6 ms
    ],
)
def test_a_regression_needs_both_the_percentage_and_the_milliseconds(
    base_ms: float, now_ms: float, ok: bool
) -> None:
    baseline = Baseline(Path("base.json"), run_at(base_ms).to_dict())
    comparison = baseline.compare(figures_at(now_ms), TOLERANCE)
    assert [rule.name for rule in comparison.rules] == [
        "p50 regression", "p95 regression", "p99 regression",
    ]  # fmt: skip
    assert {rule.ok for rule in comparison.rules} == {ok}
    assert {rule.kind for rule in comparison.rules} == {"regression"}
    p99 = comparison.rules[-1]
    assert p99.limit == pytest.approx(max(base_ms * 1.2, base_ms + 5), rel=0.01)
    assert ("within baseline" in p99.detail) is ok


def test_requests_the_baseline_lacks_are_noted_not_judged() -> None:
    baseline = Baseline(Path("base.json"), run_at(10).to_dict())
    now = {**figures_at(10), **judge(measure(request("GET /v1/fills")), RELAXED, CONTEXT).requests}
    comparison = baseline.compare(now, TOLERANCE)
    assert {rule.subject for rule in comparison.rules} == {ORDERS}
    assert comparison.notes == ["not in the baseline: GET /v1/fills"]


def test_latest_is_the_newest_passed_verdict_of_the_same_hash(tmp_path: Path) -> None:
    store(run_at(10, hours_ago=3, version="1.0.0"), tmp_path)
    expected = store(run_at(10, hours_ago=2, version="1.1.0"), tmp_path)
    store(run_at(10, hours_ago=1, version="1.2.0", scenario_hash="other"), tmp_path)
    store(run_at(10, hours_ago=0.5, version="1.3.0", aborted="dead host"), tmp_path)
    (tmp_path / "trader-mix" / "29990101T000000Z-torn.json").write_text("{")
    baseline = choose("latest", "trader-mix", "abc123", tmp_path)
    assert baseline is not None
    assert (baseline.path, baseline.version) == (expected, "1.1.0")


def test_latest_with_nothing_stored_is_a_note_not_an_error(tmp_path: Path) -> None:
    baseline = latest("trader-mix", "abc123", tmp_path)
    assert baseline.path is None
    verdict = judge(measure(request(ORDERS)), RELAXED, CONTEXT, baseline=baseline)
    assert verdict.status == "passed"
    assert verdict.notes == [
        f"no baseline: no passed verdict of trader-mix with scenario hash abc123 among 0 "
        f"stored under {tmp_path / 'trader-mix'} (first run?)"
    ]
    assert verdict.baseline == {"path": None, "note": verdict.notes[0]}


def test_a_baseline_of_another_scenario_cannot_run(tmp_path: Path) -> None:
    stored = store(run_at(10, scenario_hash="other"), tmp_path)
    with pytest.raises(BaselineProblem) as caught:
        choose(str(stored), "trader-mix", "abc123", tmp_path)
    assert caught.value.exit_code == CANNOT_RUN
    assert str(caught.value) == (
        f"baseline {stored}: scenario 'trader-mix' hash other, this run is 'trader-mix' "
        "hash abc123: a baseline must be of the same scenario and SLOs"
    )


def test_a_baseline_that_is_no_verdict_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(BaselineProblem, match=r"^baseline .*missing\.json: no such file$"):
        read_verdict(tmp_path / "missing.json")
    (tmp_path / "torn.json").write_text('{"status": ')
    with pytest.raises(BaselineProblem, match=r"torn\.json: not JSON: "):
        read_verdict(tmp_path / "torn.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(BaselineProblem, match=r"list\.json: not a verdict \(no requests\)$"):
        choose(str(tmp_path / "list.json"), "trader-mix", "abc123", tmp_path)
    assert choose("", "trader-mix", "abc123", tmp_path) is None


def test_every_verdict_is_kept_under_its_scenario_and_time(tmp_path: Path) -> None:
    verdict = run_at(10, version="1.2.3+local/dirty")
    first, second = store(verdict, tmp_path), store(verdict, tmp_path)
    directory = tmp_path / "trader-mix"
    assert first == directory / "20260102T030405Z-1.2.3_local_dirty.json"
    assert second == directory / "20260102T030405Z-1.2.3_local_dirty-2.json"
    assert json.loads(first.read_text()) == verdict.to_dict()
    two_hours_east = datetime(2026, 1, 2, 7, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    east = replace(verdict, context=replace(CONTEXT, started_at=two_hours_east))
    assert store(east, tmp_path).name.startswith("20260102T050405Z-"), "named in UTC"


def test_a_verdict_from_before_the_database_reference_is_still_a_baseline(tmp_path: Path) -> None:
    stored = store(run_at(100, hours_ago=1), tmp_path)
    older = json.loads(stored.read_text())
    del older["database_reference"]
    stored.write_text(json.dumps(older))
    baseline = latest("trader-mix", "abc123", tmp_path)
    assert baseline.path == stored
    verdict = judge(measure(request(ORDERS, ms=100)), RELAXED, CONTEXT, baseline=baseline)
    assert verdict.status == "passed"
