"""The verdict: each rule shown failing on hand-made measurements, with its message."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops.core.exits import CHECK_FAILED, DONE, INCONCLUSIVE
from ops.perf.histograms import Histogram
from ops.perf.measurements import Measurements, RequestFigures, Step
from ops.perf.pgbench import Reference, ReferenceSettings
from ops.perf.slo import resolve
from ops.perf.verdict import RunContext, Verdict, judge, markdown, write_reports

ORDERS = "POST /v1/orders"
BOOK = "GET /v1/market/{symbol}/book"
QUOTE = "GET /v1/market/{symbol}/quote"
CANCEL = "POST /v1/orders/{order_id}/cancel"
LOGIN = "POST /v1/auth/token"
REFERENCE = Reference(
    tool="pgbench 15.20", settings=ReferenceSettings(seconds=10, clients=16, threads=2, scale=1),
    server="postgresql://postgres@127.0.0.1:5432/postgres", cpus=(0,), tps=1000.0,
)  # fmt: skip
STEPS = [
    Step(offered_rate=20, achieved_rate=20, p99_ms=15, error_ratio=0),
    Step(offered_rate=40, achieved_rate=39.5, p99_ms=60, error_ratio=0),
    Step(offered_rate=60, achieved_rate=59, p99_ms=320, error_ratio=0),  # too slow
    Step(offered_rate=80, achieved_rate=50, p99_ms=200, error_ratio=0),  # fell behind
]
SLO = resolve()
CONTEXT = RunContext(
    app_version="1.2.3",
    scenario="trader-mix",
    host="http://127.0.0.1:8000",
    smoke=False,
    smoke_reason="",
    started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    machine="4 CPUs: server on 0-2, load generator on 3",
    expected_requests=(),
)


def histogram(*groups: tuple[int, float]) -> str:
    """An encoded histogram of ``count`` values at ``ms`` for each group."""
    recorded = Histogram()
    for count, milliseconds in groups:
        for _ in range(count):
            recorded.record_ms(milliseconds)
    return recorded.encode()


def request(
    name: str, count: int = 1000, ms: float = 5.0, *, slow: int = 0, slow_ms: float = 0.0,
    failures: int = 0,
) -> RequestFigures:  # fmt: skip
    """``count`` requests of ``name`` at ``ms``, ``slow`` of them at ``slow_ms`` instead."""
    latency = histogram((count - slow, ms), (slow, slow_ms))
    return RequestFigures(
        name, count, failures, latency=latency, service=histogram((count, ms * 0.8)),
        failure_samples=["500 internal_error"] if failures else [],
    )  # fmt: skip


def measure(*requests: RequestFigures, **changes: object) -> Measurements:
    """A run that offered its load perfectly, with ``requests``."""
    sent = sum(figures.count for figures in requests)
    run = Measurements(
        scenario="trader-mix", scenario_hash="abc123", arrival="poisson", offered_rate=50,
        warmup_seconds=10, window_seconds=sent / 50, scheduled=sent, sent=sent,
        schedule_lag=histogram((sent, 1.0)), requests={f.name: f for f in requests},
    )  # fmt: skip
    return replace(run, **changes)  # type: ignore[arg-type]


def verdict_of(*requests: RequestFigures, **changes: object) -> Verdict:
    """The verdict of :func:`measure` under the default SLOs."""
    return judge(measure(*requests, **changes), SLO, CONTEXT)


def test_a_run_within_every_limit_passes() -> None:
    verdict = verdict_of(request(ORDERS), request(BOOK))
    assert (verdict.status, verdict.exit_code) == ("passed", DONE)
    assert verdict.reason == f"every rule held ({len(verdict.rules)} rules)"
    assert verdict.broken() == []


def test_an_endpoint_slower_than_its_p99_fails_naming_it_alone() -> None:
    verdict = verdict_of(request(ORDERS, slow=20, slow_ms=400), request(BOOK))
    assert (verdict.status, verdict.exit_code) == ("failed", CHECK_FAILED)
    assert verdict.reason == "POST /v1/orders p99 400.1 ms > 250 ms"
    [broken] = verdict.broken()
    assert (broken.subject, broken.name, broken.kind, broken.limit) == (ORDERS, "p99", "slo", 250)
    assert broken.observed == pytest.approx(400.127)


def test_an_endpoint_failing_two_percent_of_its_requests_fails() -> None:
    verdict = verdict_of(request(ORDERS), request(BOOK, failures=20))
    assert verdict.status == "failed"
    assert verdict.reason == f"{BOOK} error ratio 2.00% (20 of 1000) > 0.10%"
    assert [(rule.subject, rule.name) for rule in verdict.broken()] == [(BOOK, "error ratio")]


def test_several_failures_are_counted_in_the_reason() -> None:
    verdict = verdict_of(request(ORDERS, ms=60), request(BOOK, failures=20))
    assert verdict.reason == f"{BOOK} error ratio 2.00% (20 of 1000) > 0.10% (and 1 more)"
    assert [rule.detail for rule in verdict.broken()][1] == "POST /v1/orders p50 60.0 ms > 30 ms"


def test_too_few_samples_is_inconclusive_never_a_pass() -> None:
    verdict = verdict_of(request(ORDERS, count=50), request(BOOK))
    assert (verdict.status, verdict.exit_code) == ("inconclusive", INCONCLUSIVE)
    assert verdict.reason == "POST /v1/orders samples 50 < 200 (too few to judge)"


def test_a_request_the_slo_file_names_but_the_run_never_made_is_inconclusive() -> None:
    every_named = replace(CONTEXT, expected_requests=None)
    made = [request(name) for name in SLO.requests if name != QUOTE]
    verdict = judge(measure(*made), SLO, every_named)
    assert verdict.status == "inconclusive"
    assert verdict.reason == f"{QUOTE}: no samples (the run never made it)"
    assert judge(measure(*made, request(QUOTE)), SLO, every_named).status == "passed"


def test_a_run_that_judged_nothing_is_inconclusive() -> None:
    assert verdict_of().reason == "no request was judged"
    assert (
        verdict_of(request(ORDERS, count=0)).reason
        == "POST /v1/orders samples 0 < 200 (too few to judge)"
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"dropped": 12}, "dropped 12 of 2000 scheduled arrivals (0.60% > 0.00%)"),
        ({"sent": 1800}, "sent 1800 of 2000 scheduled arrivals (90.0% < 95%)"),
        ({"schedule_lag": histogram((2000, 120.0))}, "schedule lag p99 120.1 ms > 50 ms"),
        (
            {"cpu_warnings": ["worker 2: CPU usage above 90%"]},
            "1 CPU warning(s): worker 2: CPU usage above 90%",
        ),
    ],
)
def test_a_saturated_load_generator_makes_the_run_inconclusive(
    changes: dict[str, object], reason: str
) -> None:
    verdict = verdict_of(request(ORDERS), request(BOOK), **changes)
    assert (verdict.status, verdict.exit_code) == ("inconclusive", INCONCLUSIVE)
    assert verdict.reason == f"load generator saturated: {reason}"
    assert [rule.kind for rule in verdict.broken()] == ["saturation"]


def test_a_failed_rule_outweighs_a_saturated_generator() -> None:
    verdict = verdict_of(request(ORDERS, slow=20, slow_ms=400), dropped=5)
    assert verdict.status == "failed"
    assert [rule.kind for rule in verdict.broken()] == ["slo", "saturation"]


def test_a_generator_late_on_its_own_schedule_makes_even_a_broken_objective_inconclusive() -> None:
    verdict = verdict_of(
        request(ORDERS, slow=20, slow_ms=400), schedule_lag=histogram((2000, 120.0))
    )
    assert (verdict.status, verdict.exit_code) == ("inconclusive", INCONCLUSIVE)
    assert verdict.reason.startswith("load generator saturated: schedule lag p99 120.1 ms > 50 ms: "
                                     "the broken objectives may be the generator's own delay "
                                     f"(first: {ORDERS} p99 ")  # fmt: skip


def test_an_aborted_run_fails_naming_why() -> None:
    why = "error ratio 100% over 5 s after the grace period"
    verdict = verdict_of(request(ORDERS), aborted=why)
    assert (verdict.status, verdict.exit_code) == ("failed", CHECK_FAILED)
    assert verdict.reason == f"run aborted: {why}"


def test_a_smoke_run_is_never_an_slo_verdict() -> None:
    smoke = replace(CONTEXT, smoke=True, smoke_reason="one CPU: the generator shares it")
    passed = judge(measure(request(ORDERS)), SLO, smoke)
    assert (passed.status, passed.exit_code) == ("smoke", INCONCLUSIVE)
    assert passed.reason == "smoke run, not an SLO verdict: one CPU: the generator shares it"
    failed = judge(measure(request(ORDERS, slow=20, slow_ms=400)), SLO, smoke)
    assert failed.status == "smoke"
    assert failed.reason.endswith("; first broken rule: POST /v1/orders p99 400.1 ms > 250 ms")


def test_the_knee_is_the_highest_rate_the_server_kept_up_with() -> None:
    steps = STEPS
    knee = verdict_of(request(ORDERS), steps=steps).knee
    assert knee is not None
    assert (knee.rate, knee.p99_limit_ms) == (40, 250)
    assert [step["kept_up"] for step in knee.steps] == [True, True, False, False]
    assert knee.line() == "knee at 40 requests/s (p99 <= 250 ms)"
    assert not knee.at_top
    topped = verdict_of(request(ORDERS), steps=steps[:2]).knee
    assert topped is not None
    assert (topped.rate, topped.at_top) == (40, True)
    assert topped.line().startswith("knee at least 40 requests/s (p99 <= 250 ms): the run's last")
    none_kept_up = verdict_of(request(ORDERS), steps=steps[2:]).knee
    assert none_kept_up is not None
    assert none_kept_up.rate is None
    assert none_kept_up.line().startswith("no step kept up")
    assert verdict_of(request(ORDERS)).knee is None


def test_the_reports_hold_every_figure_and_rule(tmp_path: Path) -> None:
    verdict = verdict_of(request(ORDERS, slow=20, slow_ms=400), request(BOOK), dropped=3)
    json_path, markdown_path = write_reports(verdict, tmp_path)
    stored = json.loads(json_path.read_text())
    assert stored["status"] == "failed"
    assert stored["exit_code"] == CHECK_FAILED
    assert stored["reason"] == "POST /v1/orders p99 400.1 ms > 250 ms"
    assert (stored["app_version"], stored["scenario"], stored["scenario_hash"]) == (
        "1.2.3", "trader-mix", "abc123",
    )  # fmt: skip
    assert stored["slo_digest"] == SLO.digest()
    orders = stored["requests"][ORDERS]
    assert orders["count"] == 1000
    assert (
        set(orders["latency"]) == set(orders["service"]) == {"p50_ms", "p95_ms", "p99_ms", "max_ms"}
    )
    assert orders["service"]["p99_ms"] == pytest.approx(4.0, abs=0.01)
    p99 = next(r for r in stored["rules"] if r["subject"] == ORDERS and r["name"] == "p99")
    assert (p99["limit"], p99["ok"], p99["kind"]) == (250, False, "slo")
    assert stored["saturation"]["dropped"] == 3
    assert stored["saturation"]["schedule_lag_p99_ms"] == pytest.approx(1.0, abs=0.01)
    assert stored["context"]["started_at"] == "2026-01-02T03:04:05+00:00"
    assert (stored["baseline"], stored["cross_check"]) == (None, None)
    page = markdown_path.read_text()
    assert page == markdown(verdict)
    assert page.startswith("## Performance: trader-mix -- FAILED\n\nPOST /v1/orders p99 400.1 ms")
    assert "| `POST /v1/orders` | 1000 | 0.00% | 5.0 | 5.0 | 400.1 | 400.1 | 4.0 |" in page
    assert "- slo: POST /v1/orders p99 400.1 ms > 250 ms" in page
    assert "- saturation: load generator saturated: dropped 3 of 2000" in page
    assert "| 2000 | 2000 | 3 | 50/s | 50/s | 1.0 ms | 0 |" in page


def test_a_stepped_runs_order_rate_is_the_knee_times_the_share_of_orders() -> None:
    # 800 orders of 1000 workload requests (the 16 log-ins are no part of the offered rate).
    made = measure(request(ORDERS, 800), request(CANCEL, 200), request(LOGIN, 16), steps=STEPS)
    verdict = judge(made, SLO, CONTEXT, reference=REFERENCE)
    block = verdict.database_reference
    assert block is not None
    assert (block["tool"], block["builtin"], block["tps"]) == ("pgbench 15.20", "tpcb-like", 1000)
    assert block["settings"] == {"seconds": 10, "clients": 16, "threads": 2, "scale": 1}
    assert (block["order_rate"], block["ratio"]) == (32.0, 0.032)
    assert block["order_rate_basis"] == "knee 40 req/s x 80.0% POST /v1/orders"
    page = markdown(verdict)
    assert (
        "### Database reference\n\npgbench 15.20 `-b tpcb-like` on postgresql://postgres@" in page
    )
    assert "(scale 1, 16 clients, 2 threads, 10 s, on CPUs 0): **1000.0 TPS**" in page
    assert ("Order rate 32.0 orders/s (knee 40 req/s x 80.0% POST /v1/orders): **0.032** of "
            "pgbench TPC-B.") in page  # fmt: skip


def test_a_stepped_run_without_a_knee_has_no_ratio_and_says_why() -> None:
    made = measure(request(ORDERS, 800), request(CANCEL, 200), steps=STEPS[2:])
    block = judge(made, SLO, CONTEXT, reference=REFERENCE).database_reference
    assert block is not None
    assert (block["tps"], block["order_rate"], block["ratio"]) == (1000, None, None)
    assert block["order_rate_basis"] == "no knee: no step kept up"
    page = markdown(judge(made, SLO, CONTEXT, reference=REFERENCE))
    assert "Order rate: none (no knee: no step kept up), so no ratio." in page


def test_a_constant_runs_order_rate_is_its_orders_per_second_judged(tmp_path: Path) -> None:
    # 1000 orders and 1000 books at 50/s: a 40 s window, 25 orders/s.
    verdict = verdict_of(request(ORDERS), request(BOOK))
    with_reference = judge(measure(request(ORDERS), request(BOOK)), SLO, CONTEXT,
                           reference=REFERENCE, notes=["a note of the run"])  # fmt: skip
    assert (with_reference.status, len(with_reference.rules)) == ("passed", len(verdict.rules))
    assert with_reference.notes == ["a note of the run"]
    json_path, markdown_path = write_reports(with_reference, tmp_path)
    block = json.loads(json_path.read_text())["database_reference"]
    assert (block["order_rate"], block["ratio"]) == (25.0, 0.025)
    assert block["order_rate_basis"] == "1000 POST /v1/orders in the 40 s judged window"
    assert (block["server"], block["cpus"]) == (
        "postgresql://postgres@127.0.0.1:5432/postgres",
        [0],
    )
    assert "**0.025** of pgbench TPC-B" in markdown_path.read_text()
    assert "- a note of the run" in markdown_path.read_text()


def test_without_a_reference_the_block_is_empty_and_the_page_has_no_section() -> None:
    verdict = verdict_of(request(ORDERS), request(BOOK))
    assert verdict.database_reference is None
    assert verdict.to_dict()["database_reference"] is None
    assert "### Database reference" not in markdown(verdict)
    no_orders = judge(measure(request(BOOK)), SLO, CONTEXT, reference=REFERENCE)
    assert no_orders.database_reference is not None
    assert no_orders.database_reference["ratio"] is None
    assert no_orders.database_reference["order_rate_basis"] == "no POST /v1/orders judged"
