"""The open workload: arrivals on a schedule, drops at the in-flight cap, intended-time
latency, warm-up, steps, early abort, and the merge of several processes' figures.

The exact figures come from a virtual clock (tests/ops/perf/perf_support.py); a few
runs go against a real stub server with a known delay, asserting only what the delay
implies, never how fast the code under test is."""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Iterator

import pytest

from ops.core.processes import free_port
from ops.perf.histograms import Histogram
from ops.perf.measurements import Measurements
from ops.perf.schedule import (
    EXPECTED,
    OK,
    UNANSWERED,
    Answer,
    Dispatcher,
    GeventLoop,
    HttpSender,
    Outcome,
    Rate,
    Recorder,
    Request,
    arrival_offsets,
    combine,
    failed,
)
from ops.perf.slo import Slo
from tests.ops.monitor.http_support import StubServer, json_answer
from tests.ops.perf.perf_support import DelayedSender, VirtualLoop, recorder, slo

NAME = "GET /v1/market/{symbol}/quote"
REQUEST = Request(NAME, "GET", "/v1/market/AAPL/quote")


class Repeat:
    """A workload sending one request again and again, judged by status."""

    def __init__(self, request: Request = REQUEST) -> None:
        self.request = request

    def next_request(self) -> Request:
        return self.request

    def observe(self, request: Request, answer: Answer) -> Outcome:
        return request.outcome(answer)


def offsets(model: Slo, seed: int = 1, rate: Rate | None = None) -> Iterator[float]:
    run = model.run
    return arrival_offsets(
        rate or Rate(run.rate), run.arrival, processes=1, warmup=run.warmup_seconds,
        duration=run.duration_seconds, rng=random.Random(seed),
    )  # fmt: skip


def dispatch(
    model: Slo,
    sender: DelayedSender,
    *,
    rate: Rate | None = None,
    latencies: list[float] | None = None,
) -> Recorder:
    """Run ``model``'s schedule on the sender's virtual loop; the recorder."""
    kept = recorder(model, rate)
    seen = latencies if latencies is not None else []

    def observe(_request: Request, _answer: Answer, latency: float, _outcome: Outcome) -> None:
        seen.append(latency)

    dispatcher = Dispatcher(
        Repeat(), sender, kept, offsets(model, rate=rate), max_in_flight=model.run.max_in_flight,
        loop=sender.loop, observer=observe,
    )  # fmt: skip
    sender.loop.run(dispatcher.run)
    return kept


def figures(kept: Recorder, name: str = NAME) -> dict[str, float]:
    row = kept.snapshot("test")["requests"][name]
    latency, service = Histogram.decode(row["latency"]), Histogram.decode(row["service"])
    return {"count": row["count"], "failures": row["failures"],
            "latency_p50": latency.percentile_ms(50), "latency_p90": latency.percentile_ms(90),
            "latency_max": latency.max_ms(), "service_p50": service.percentile_ms(50),
            "service_p90": service.percentile_ms(90), "service_max": service.max_ms()}  # fmt: skip


# -- arrivals ---------------------------------------------------------------------------


def test_constant_arrivals_are_evenly_spaced_at_the_process_share_of_the_rate() -> None:
    times = list(arrival_offsets(Rate(40), "constant", processes=2, warmup=1, duration=9,
                                 rng=random.Random(3)))  # fmt: skip
    gaps = {round(later - earlier, 9) for earlier, later in itertools.pairwise(times)}
    assert gaps == {0.05}
    assert len(times) == 200
    assert 0 <= times[0] < 0.05  # a random phase: processes do not send in step


def test_poisson_arrivals_are_seeded_and_average_the_rate() -> None:
    def draw(seed: int) -> list[float]:
        return list(arrival_offsets(Rate(100), "poisson", processes=1, warmup=0, duration=60,
                                    rng=random.Random(seed)))  # fmt: skip

    first = draw(7)
    assert first == draw(7)
    assert first != draw(8)
    assert len(first) == pytest.approx(6000, rel=0.05)
    gaps = [later - earlier for earlier, later in itertools.pairwise(first)]
    assert statistics.mean(gaps) == pytest.approx(0.01, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(0.01, rel=0.1)  # exponential: sd = mean


def test_a_stepped_rate_climbs_every_step_up_to_its_maximum() -> None:
    rate = Rate(20, step=20, step_seconds=10, maximum=50)
    assert [rate.at(t) for t in (-5, 0, 9.9, 10, 25, 100)] == [20, 20, 20, 40, 50, 50]
    assert rate.mean(20) == 30
    assert Rate(40).mean(60) == 40
    assert not Rate(40).stepped
    times = list(arrival_offsets(rate, "constant", processes=1, warmup=0, duration=30,
                                 rng=random.Random(1)))  # fmt: skip
    per_step = [sum(1 for t in times if start <= t < start + 10) for start in (0, 10, 20)]
    assert [pytest.approx(count, abs=1) for count in (200, 400, 500)] == per_step


# -- the dispatcher on a virtual clock --------------------------------------------------


def test_arrivals_beyond_the_in_flight_cap_are_dropped_and_counted() -> None:
    model = slo(run={"rate": 40, "arrival": "constant", "warmup_seconds": 0,
                     "duration_seconds": 10, "max_in_flight": 1})  # fmt: skip
    loop = VirtualLoop()
    kept = dispatch(model, DelayedSender(loop, 0.06))
    # Every request outlives the next two arrivals (25 ms apart): one in three is sent.
    assert kept.scheduled == 400
    assert kept.sent == pytest.approx(400 / 3, abs=1)
    assert kept.dropped == kept.scheduled - kept.sent
    assert figures(kept)["count"] == kept.sent


def test_with_room_in_flight_latency_and_service_are_the_server_delay() -> None:
    model = slo(run={"rate": 40, "warmup_seconds": 0, "duration_seconds": 10})
    kept = dispatch(model, DelayedSender(VirtualLoop(), 0.05))
    assert kept.dropped == 0
    assert kept.sent == kept.scheduled > 300
    found = figures(kept)
    assert found["latency_p50"] == pytest.approx(50, rel=0.01)
    assert found["service_max"] == pytest.approx(50, rel=0.01)
    assert kept.lag.max_ms() < 1


def test_a_stalled_generator_shows_in_latency_not_in_service_time() -> None:
    # The process freezes for a second (a starved CPU): arrivals due meanwhile leave late.
    # Latency counts from the intended time, so users' wait shows; service time does not.
    model = slo(run={"rate": 40, "arrival": "constant", "warmup_seconds": 0,
                     "duration_seconds": 6})  # fmt: skip
    loop = VirtualLoop(stalls={3.0: 1.0})
    kept = dispatch(model, DelayedSender(loop, 0.05))
    found = figures(kept)
    # A sixth of the arrivals fell in the stall: they waited up to a second more.
    assert found["latency_max"] >= 1000
    assert found["latency_p90"] >= 300
    assert found["service_p90"] == pytest.approx(50, rel=0.01)
    assert kept.lag.max_ms() >= 950
    assert kept.dropped == 0


def test_a_stalled_server_makes_every_request_behind_it_slow_not_just_one() -> None:
    # A closed loop would wait on the one stalled request and record one slow sample;
    # on a schedule, each arrival during the stall is sent and waits.
    model = slo(run={"rate": 40, "arrival": "constant", "warmup_seconds": 0,
                     "duration_seconds": 6})  # fmt: skip
    loop = VirtualLoop()
    stall_end = 4.0

    def delay(_request: Request) -> float:
        return stall_end - loop.now + 0.05 if 3.0 <= loop.now < stall_end else 0.05

    latencies: list[float] = []
    dispatch(model, DelayedSender(loop, delay), latencies=latencies)
    assert sum(1 for latency in latencies if latency > 0.1) >= 35


def test_only_arrivals_after_the_warm_up_are_judged() -> None:
    model = slo(run={"rate": 40, "arrival": "constant", "warmup_seconds": 1,
                     "duration_seconds": 2})  # fmt: skip
    sender = DelayedSender(VirtualLoop(), 0.01)
    kept = dispatch(model, sender)
    assert len(sender.sent) == pytest.approx(120, abs=1)
    assert kept.scheduled == pytest.approx(80, abs=1)
    assert figures(kept)["count"] == kept.sent == kept.scheduled
    assert kept.window_seconds == 2


def test_requests_still_unanswered_after_the_drain_are_failures() -> None:
    model = slo(run={"rate": 10, "arrival": "constant", "warmup_seconds": 0,
                     "duration_seconds": 1},
                abort={"grace_seconds": 100})  # fmt: skip
    kept = dispatch(model, DelayedSender(VirtualLoop(), 60))
    found = kept.snapshot("test")["requests"][NAME]
    assert found["count"] == found["failures"] == kept.sent == 10
    assert found["failure_samples"] == [UNANSWERED]


def test_a_stepped_rate_reports_each_step() -> None:
    model = slo(run={"arrival": "constant", "warmup_seconds": 0, "duration_seconds": 4,
                     "max_in_flight": 2})  # fmt: skip
    rate = Rate(10, step=10, step_seconds=1, maximum=30)
    # 90 ms per request, two at a time: the server keeps up with 20/s, not 30.
    kept = dispatch(model, DelayedSender(VirtualLoop(), 0.09), rate=rate)
    header = Measurements("hot-symbol", "h", "constant", rate.mean(4), 0, 0)
    steps = combine(header, [kept.snapshot("standalone")]).steps
    assert [step.offered_rate for step in steps] == [10, 20, 30, 30]
    assert [pytest.approx(step.achieved_rate, abs=1.01) for step in steps] == [10, 20, 20, 20]
    assert all(step.p99_ms == pytest.approx(90, rel=0.01) for step in steps)


# -- early abort ------------------------------------------------------------------------


def test_errors_in_the_rolling_window_abort_after_the_grace_period() -> None:
    model = slo(run={"rate": 20, "warmup_seconds": 0, "duration_seconds": 30},
                abort={"grace_seconds": 2, "window_seconds": 1})  # fmt: skip
    refused = Answer(error="ConnectionRefusedError: [Errno 111] Connection refused")
    kept = dispatch(model, DelayedSender(VirtualLoop(), 0.001, refused))
    assert kept.aborted.startswith("error ratio 100% > 50% over the last 1 s (")
    assert kept.aborted.endswith(f"{NAME}: ConnectionRefusedError: [Errno 111] Connection refused)")
    assert 2 <= kept.window_seconds < 3


TIGHT_P99 = slo(run={"rate": 20, "warmup_seconds": 0, "duration_seconds": 30},
                abort={"grace_seconds": 1, "window_seconds": 1},
                requests={NAME: {"p50_ms": 5, "p95_ms": 10, "p99_ms": 20}})  # fmt: skip


def test_a_slow_request_in_the_rolling_window_aborts_on_its_p99() -> None:
    model = TIGHT_P99
    kept = dispatch(model, DelayedSender(VirtualLoop(), 0.3))
    assert kept.aborted.startswith(f"{NAME}: p99 300 ms over the last 1 s > 10 x its p99 limit")
    assert kept.aborted.endswith("(20 ms)")


def test_requests_that_never_answer_abort_on_how_long_they_have_waited() -> None:
    model = TIGHT_P99
    kept = dispatch(model, DelayedSender(VirtualLoop(), 1000))
    assert kept.aborted.startswith(f"{NAME}: p99 ")
    assert kept.window_seconds < 2


def test_a_healthy_run_is_not_aborted_and_expected_rejections_are_not_errors() -> None:
    model = slo(run={"rate": 20, "warmup_seconds": 0, "duration_seconds": 5},
                abort={"grace_seconds": 0, "window_seconds": 1})  # fmt: skip
    rejecting = Request(NAME, "POST", "/x", expected=frozenset({409}))
    kept = recorder(model)
    loop = VirtualLoop()
    sender = DelayedSender(loop, 0.01, Answer(409, b"{}"))
    dispatcher = Dispatcher(Repeat(rejecting), sender, kept, offsets(model), max_in_flight=8,
                            loop=loop)  # fmt: skip
    assert loop.run(dispatcher.run) == ""
    row = kept.snapshot("test")["requests"][NAME]
    assert row["expected_rejections"] == row["count"] == kept.sent
    assert row["failures"] == 0


def test_a_workload_that_breaks_on_an_answer_counts_a_failure_not_a_lost_request() -> None:
    class Broken(Repeat):
        def observe(self, request: Request, answer: Answer) -> Outcome:
            raise KeyError("status")

    model = slo(run={"rate": 10, "warmup_seconds": 0, "duration_seconds": 1})
    kept, loop = recorder(model), VirtualLoop()
    dispatcher = Dispatcher(Broken(), DelayedSender(loop, 0.01), kept, offsets(model),
                            max_in_flight=4, loop=loop)  # fmt: skip
    loop.run(dispatcher.run)
    row = kept.snapshot("test")["requests"][NAME]
    assert row["count"] == row["failures"] == kept.sent > 0
    assert row["failure_samples"] == ["workload error: KeyError: 'status'"]


def test_a_stop_ends_the_schedule_early() -> None:
    model = slo(run={"rate": 20, "warmup_seconds": 0, "duration_seconds": 30})
    kept = recorder(model)
    loop = VirtualLoop()
    dispatcher = Dispatcher(Repeat(), DelayedSender(loop, 0.01), kept, offsets(model),
                            max_in_flight=8, loop=loop)  # fmt: skip

    def stop_later() -> None:
        loop.sleep(2)
        dispatcher.stop()

    def stopping() -> str:
        loop.spawn(stop_later)
        return dispatcher.run()

    assert loop.run(stopping) == ""
    assert kept.window_seconds == pytest.approx(2, abs=0.3)


# -- outcomes and figures ---------------------------------------------------------------


def test_request_outcomes_by_status() -> None:
    request = Request(NAME, "POST", "/x", success=frozenset({201}), expected=frozenset({409}))
    body = b'{"error": {"code": "validation_error", "message": "bad qty"}}'
    assert request.outcome(Answer(201, b"{}")) == OK
    assert request.outcome(Answer(409, b"{}")) == EXPECTED
    assert request.outcome(Answer(422, body)) == failed("422: validation_error: bad qty")
    assert (
        request.outcome(Answer(error="TimeoutError: timed out")).detail == "TimeoutError: timed out"
    )
    assert Answer(200, b"not json").json() is None


def test_figures_of_several_processes_add_up_once_each() -> None:
    model = slo(run={"rate": 10, "warmup_seconds": 0, "duration_seconds": 2})
    snapshots = []
    for process, answer in (("worker-0", Answer(200, b"{}")), ("worker-1", Answer(500, b"oops"))):
        kept = dispatch(model, DelayedSender(VirtualLoop(), 0.01, answer))
        snapshots.append(kept.snapshot(process, cpu_warning=process == "worker-1"))
    snapshots[1]["aborted"] = "worker-1 gave up"
    header = Measurements("read-mix", "h", "poisson", 10, 0, 0, workers=2,
                          cpu_warnings=["master"])  # fmt: skip
    merged = combine(header, snapshots)
    counts = [snapshot["requests"][NAME]["count"] for snapshot in snapshots]
    row = merged.requests[NAME]
    assert row.count == sum(counts) == merged.sent == sum(s["sent"] for s in snapshots)
    assert row.failures == counts[1]
    assert row.failure_samples == ["500: oops"]
    assert row.latency_histogram().count == row.service_histogram().count == row.count
    assert Histogram.decode(merged.schedule_lag).count == merged.sent
    assert merged.cpu_warnings == ["master", "worker-1"]
    assert merged.aborted == "worker-1 gave up"
    assert merged.window_seconds == 2
    assert merged.workers == 2
    assert merged.steps == []


# -- against a real server --------------------------------------------------------------


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def run_real(model: Slo, url: str, request: Request = REQUEST) -> Recorder:
    kept = recorder(model)
    sender = HttpSender(url, concurrency=model.run.max_in_flight)
    try:
        Dispatcher(Repeat(request), sender, kept, offsets(model),
                   max_in_flight=model.run.max_in_flight, drain_seconds=2).run()  # fmt: skip
    finally:
        sender.close()
    return kept


def test_a_real_server_slower_than_the_arrivals_drops_most_of_them(stub: StubServer) -> None:
    stub.answer(REQUEST.path, json_answer({}, delay_seconds=0.05))
    model = slo(run={"rate": 40, "arrival": "constant", "warmup_seconds": 0,
                     "duration_seconds": 1.5, "max_in_flight": 1})  # fmt: skip
    kept = run_real(model, stub.url)
    # A 50 ms answer outlives the next arrival 25 ms later: at most every other one is sent.
    assert kept.scheduled == 60
    assert kept.dropped >= kept.scheduled // 2
    assert figures(kept)["count"] == kept.sent == len(stub.requests())


def test_against_a_real_server_latency_includes_its_delay(stub: StubServer) -> None:
    stub.answer(REQUEST.path, json_answer({}, delay_seconds=0.05))
    model = slo(run={"rate": 40, "warmup_seconds": 0, "duration_seconds": 1.5,
                     "max_in_flight": 32})  # fmt: skip
    kept = run_real(model, stub.url)
    found = figures(kept)
    assert kept.dropped == found["failures"] == 0
    assert found["count"] == kept.sent == kept.scheduled > 0
    assert found["service_p50"] >= 50
    assert found["latency_p50"] >= found["service_p50"]


def test_a_dead_host_is_aborted_after_the_grace_period() -> None:
    model = slo(run={"rate": 40, "warmup_seconds": 0, "duration_seconds": 60},
                abort={"grace_seconds": 0.5, "window_seconds": 0.5})  # fmt: skip
    kept = run_real(model, f"http://127.0.0.1:{free_port()}")
    assert kept.aborted.startswith("error ratio 100% > 50% over the last 0.5 s")
    assert "ConnectionRefusedError" in kept.aborted
    assert kept.window_seconds < 5


def test_a_slow_real_server_is_aborted_on_the_p99(stub: StubServer) -> None:
    stub.answer(REQUEST.path, json_answer({}, delay_seconds=0.2))
    model = slo(run={"rate": 40, "warmup_seconds": 0, "duration_seconds": 60},
                abort={"grace_seconds": 0.5, "window_seconds": 0.5},
                requests={NAME: {"p50_ms": 5, "p95_ms": 10, "p99_ms": 15}})  # fmt: skip
    kept = run_real(model, stub.url)
    assert kept.aborted.startswith(f"{NAME}: p99 ")
    assert kept.aborted.endswith("> 10 x its p99 limit (15 ms)")
    assert kept.window_seconds < 5


def test_the_http_sender_sends_bodies_tokens_and_reads_errors(stub: StubServer) -> None:
    stub.answer("/v1/orders", json_answer({"error": {"code": "conflict", "message": "no"}}, 409),
                method="POST")  # fmt: skip
    stub.answer("/v1/auth/token", json_answer({"access_token": "t"}), method="POST")
    sender = HttpSender(stub.url + "/", concurrency=2)
    gevent_loop = GeventLoop()
    try:
        order = Request("POST /v1/orders", "POST", "/v1/orders", token="abc", json={"qty": "1"})
        answer = sender.send(order)
        form = {"username": "a@b.co", "password": "p w"}  # pragma: allowlist secret
        login = sender.send(Request("POST /v1/auth/token", "POST", "/v1/auth/token", form=form))
    finally:
        sender.close()
    assert (answer.status, answer.summary()) == (409, "409: conflict: no")
    assert login.json() == {"access_token": "t"}
    first, second = stub.received
    assert first.headers["Authorization"] == "Bearer abc"
    assert first.body == b'{"qty": "1"}'
    assert second.body == b"username=a%40b.co&password=p+w"
    assert second.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert gevent_loop.clock() > 0


def test_the_window_hook_runs_as_the_judged_window_opens_and_after_its_drain() -> None:
    model = slo(run={"rate": 10, "arrival": "constant", "warmup_seconds": 1,
                     "duration_seconds": 2})  # fmt: skip
    sender = DelayedSender(VirtualLoop(), 0.5)
    calls: list[tuple[str, float]] = []
    dispatcher = Dispatcher(
        Repeat(), sender, recorder(model), offsets(model), max_in_flight=10, loop=sender.loop,
        on_window=lambda moment: calls.append((moment, sender.loop.now)),
    )  # fmt: skip
    sender.loop.run(dispatcher.run)
    (opened, at_open), (closed, at_close) = calls
    assert (opened, closed) == ("open", "close")
    assert at_open == pytest.approx(1.0, abs=0.1)  # the first arrival after the warm-up
    # The last arrival (just before 3 s) answers half a second later.
    assert at_close >= 3.0 + 0.5 - 0.1 - 1e-9


def test_a_run_stopped_in_its_warm_up_never_opens_the_window() -> None:
    model = slo(run={"rate": 10, "arrival": "constant", "warmup_seconds": 5,
                     "duration_seconds": 2})  # fmt: skip
    sender = DelayedSender(VirtualLoop(), 0.01)
    calls: list[str] = []
    dispatcher = Dispatcher(Repeat(), sender, recorder(model), offsets(model), max_in_flight=10,
                            loop=sender.loop, on_window=calls.append)  # fmt: skip

    def stop_soon() -> None:
        sender.loop.sleep(1)
        dispatcher.stop()

    sender.loop.spawn(stop_soon)
    sender.loop.run(dispatcher.run)
    assert calls == []


def test_the_scrapes_travel_with_the_snapshot_that_took_them() -> None:
    header = Measurements("read-mix", "h", "constant", 10, 0, 0)
    taking, other = recorder(slo()), recorder(slo())
    taking.server_metrics = {"open": "a 1\n", "close": "a 2\n"}
    other.server_metrics_problem = ""
    merged = combine(header, [other.snapshot("worker-1"), taking.snapshot("worker-0")])
    assert merged.server_metrics == {"open": "a 1\n", "close": "a 2\n"}
    assert merged.server_metrics_problem == ""
