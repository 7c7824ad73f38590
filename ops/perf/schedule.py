"""The open workload: requests leave on a schedule, whatever the server's speed.

Each load-generating process offers ``rate / processes`` requests per second,
constant or Poisson (:func:`arrival_offsets`, seeded), for ``warmup + duration``
seconds. The :class:`Dispatcher` starts each arrival in its own greenlet at its
intended time -- or counts it *dropped* when ``max_in_flight`` requests are
outstanding -- and the :class:`Recorder` keeps, for the arrivals after the warm-up,
the latency from the *intended* send time (what a user waits: no coordinated
omission), the service time from the actual send, and how late the sends left
(schedule lag). It also decides an early abort (a rolling window's error ratio, or
a request's p99 far past its limit) and, for a stepped rate, the figures of each step.

Nothing here knows locust: the clock, sleeping and greenlets come from a :class:`Loop`
(gevent's by default, a virtual clock in the tests), requests from a :class:`Workload`
(:mod:`ops.perf.scenarios`), answers from a :class:`Sender`. Per-process figures travel
as :meth:`Recorder.snapshot` and become one :class:`~ops.perf.measurements.Measurements`
with :func:`combine`.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import gevent  # type: ignore[import-untyped]
import httpx
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL

from ops.core.exits import one_line
from ops.core.stats import percentile
from ops.live.client import TIMEOUT_SECONDS, error_text
from ops.perf.histograms import Histogram
from ops.perf.measurements import FAILURE_SAMPLES, Measurements, RequestFigures, Step
from ops.perf.slo import AbortSettings, Arrival

CHECK_SECONDS = 0.25  # how often the abort conditions are looked at, and a stop noticed
DRAIN_SECONDS = 5.0  # after the schedule: how long outstanding requests may still answer
ABORT_MIN_SAMPLES = 5  # a rolling window with fewer answers decides nothing
UNANSWERED = "no answer before the run ended"


@dataclass(frozen=True)
class Rate:
    """Requests per second offered by every process together, as a function of the
    seconds since the warm-up ended: constant, or stepped (``+step`` every
    ``step_seconds``, at most ``maximum``). The warm-up runs at ``start``."""

    start: float
    step: float = 0.0
    step_seconds: float = 0.0
    maximum: float = math.inf

    @property
    def stepped(self) -> bool:
        """True when the rate changes during the run."""
        return self.step > 0 and self.step_seconds > 0

    def step_of(self, judged_seconds: float) -> int:
        """The step an instant of the judged window is in (0 for a constant rate)."""
        if not self.stepped or judged_seconds < 0:
            return 0
        return int(judged_seconds // self.step_seconds)

    def at(self, judged_seconds: float) -> float:
        """The offered rate at an instant (negative: during the warm-up)."""
        return min(self.start + self.step * self.step_of(judged_seconds), self.maximum)

    def mean(self, duration: float) -> float:
        """The mean offered rate over a judged window of ``duration`` seconds."""
        if not self.stepped or duration <= 0:
            return self.at(0)
        edges = [*itertools.takewhile(lambda t: t < duration, _multiples(self.step_seconds))]
        spans = [(start, min(start + self.step_seconds, duration)) for start in edges]
        return sum(self.at(start) * (end - start) for start, end in spans) / duration


def _multiples(step: float) -> Iterator[float]:
    return (index * step for index in itertools.count())


def arrival_offsets(
    rate: Rate,
    arrival: Arrival,
    *,
    processes: int,
    warmup: float,
    duration: float,
    rng: random.Random,
) -> Iterator[float]:
    """One process's intended send times, in seconds from its start, until
    ``warmup + duration``: its share of ``rate``, evenly spaced (with a random phase,
    so that processes do not send in step) or with exponential gaps (Poisson)."""
    end = warmup + duration

    def gap(offset: float) -> float:
        per_process = rate.at(offset - warmup) / processes
        return 1 / per_process if arrival == "constant" else rng.expovariate(per_process)

    offset = gap(0.0) * rng.random() if arrival == "constant" else gap(0.0)
    while offset < end:
        yield offset
        offset += gap(offset)


# -- requests and answers ------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request a workload wants sent: ``name`` is the route template the app's
    /metrics uses; ``success`` and ``expected`` are the statuses that are a success and
    a rejection the workload meant; ``context`` is the workload's own note."""

    name: str
    method: str
    path: str
    token: str = ""
    json: Mapping[str, Any] | None = None
    form: Mapping[str, str] | None = field(default=None, repr=False)  # a log-in's password
    success: frozenset[int] = frozenset({200})
    expected: frozenset[int] = frozenset()
    context: object = None

    def outcome(self, answer: Answer) -> Outcome:
        """The outcome by status alone: no answer or an unexpected status is a failure."""
        if answer.error:
            return failed(answer.error)
        if answer.status in self.expected:
            return EXPECTED
        if answer.status in self.success:
            return OK
        return failed(answer.summary())


@dataclass(frozen=True)
class Answer:
    """What came back: a status and body, or (status 0) why nothing did."""

    status: int = 0
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        """The body as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def summary(self) -> str:
        """``status: code: message`` of the app's error body, or the transport error."""
        if self.error:
            return self.error
        return f"{self.status}: {error_text(httpx.Response(self.status, content=self.body))}"


@dataclass(frozen=True)
class Outcome:
    """How one request ended for the figures: ``ok``, ``expected`` (a rejection the
    workload meant) or ``failed`` (with a one-line ``detail``)."""

    kind: Literal["ok", "expected", "failed"]
    detail: str = ""


OK = Outcome("ok")
EXPECTED = Outcome("expected")


def failed(detail: str) -> Outcome:
    """A failure, described in one line."""
    return Outcome("failed", " ".join(detail.split())[:300])


class Workload(Protocol):
    """Per-process traffic: the next request, and what an answer means (and changes)."""

    def next_request(self) -> Request:
        """The request the next arrival sends."""
        ...

    def observe(self, request: Request, answer: Answer) -> Outcome:
        """Judge an answer and update the workload's state from it."""
        ...


class Sender(Protocol):
    """Sends one request and waits for its answer (never raises for a failure)."""

    def send(self, request: Request) -> Answer:
        """The answer to ``request``."""
        ...


class HttpSender:
    """Requests over HTTP(S) with keep-alive, at most ``concurrency`` connections
    (geventhttpclient: the client locust's FastHttpUser uses)."""

    def __init__(
        self, base_url: str, *, concurrency: int, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        url = URL(base_url)
        self._prefix = url.path.rstrip("/")
        self._client = HTTPClient.from_url(
            url, concurrency=concurrency, connection_timeout=timeout, network_timeout=timeout
        )

    def send(self, request: Request) -> Answer:
        """Send ``request``; a transport failure is an answer with status 0."""
        headers = {"Accept": "application/json"}
        if request.token:
            headers["Authorization"] = f"Bearer {request.token}"
        body = _encoded_body(request, headers)
        try:
            response = self._client.request(
                request.method, self._prefix + request.path, body=body, headers=headers
            )
            try:
                content = bytes(response.read())
            finally:
                response.release()
        except Exception as error:  # any transport failure is one failed request
            return Answer(error=f"{type(error).__name__}: {one_line(error)}")
        return Answer(int(response.status_code), content)

    def close(self) -> None:
        """Close the connections."""
        self._client.close()


def _encoded_body(request: Request, headers: dict[str, str]) -> bytes:
    if request.json is not None:
        headers["Content-Type"] = "application/json"
        return json.dumps(request.json).encode()
    if request.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urlencode(dict(request.form)).encode()
    return b""


# -- figures --------------------------------------------------------------------------


@dataclass
class _Tally:
    """One request name's running figures."""

    count: int = 0
    failures: int = 0
    expected_rejections: int = 0
    samples: list[str] = field(default_factory=list)
    latency: Histogram = field(default_factory=Histogram)
    service: Histogram = field(default_factory=Histogram)

    def add(self, outcome: Outcome, latency_ms: float, service_ms: float) -> None:
        self.count += 1
        self.latency.record_ms(latency_ms)
        self.service.record_ms(service_ms)
        if outcome.kind == "expected":
            self.expected_rejections += 1
        elif outcome.kind == "failed":
            self.failures += 1
            if outcome.detail not in self.samples and len(self.samples) < FAILURE_SAMPLES:
                self.samples.append(outcome.detail)

    def figures(self, name: str) -> RequestFigures:
        return RequestFigures(
            name, self.count, self.failures, self.expected_rejections, list(self.samples),
            self.latency.encode(), self.service.encode(),
        )  # fmt: skip


@dataclass
class _StepTally:
    """One step's running figures (a stepped rate only)."""

    sent: int = 0
    count: int = 0
    failures: int = 0
    latency: Histogram = field(default_factory=Histogram)


@dataclass(frozen=True)
class _Answered:
    """One answer in the rolling abort window."""

    done: float
    name: str
    latency_ms: float
    failure: str  # "" unless it failed


class Recorder:
    """One process's figures. Offsets are seconds since the process's schedule started;
    only arrivals intended after the warm-up are judged (set-up requests, such as
    log-ins, always are)."""

    def __init__(
        self,
        *,
        rate: Rate,
        warmup: float,
        duration: float,
        abort: AbortSettings,
        p99_limit_ms: Callable[[str], float],
    ) -> None:
        self._rate, self._warmup, self._duration = rate, warmup, duration
        self._abort, self._p99_limit_ms = abort, p99_limit_ms
        self.scheduled = self.sent = self.dropped = 0
        self.lag = Histogram()
        self.window_seconds = 0.0
        self.aborted = ""
        self._requests: dict[str, _Tally] = {}
        self._steps: dict[int, _StepTally] = {}
        self._recent: deque[_Answered] = deque()
        # The server's own /metrics at the judged window's opening and close (the process
        # that scrapes: see Dispatcher's window hook), or why there are none.
        self.server_metrics: dict[str, str] = {}
        self.server_metrics_problem = ""

    def judged(self, offset: float) -> bool:
        """True for an arrival intended after the warm-up."""
        return offset >= self._warmup

    def arrived(self, offset: float, *, dropped: bool) -> None:
        """Count an arrival: sent, or dropped because too many requests were outstanding."""
        if not self.judged(offset):
            return
        self.window_seconds = max(self.window_seconds, offset - self._warmup)
        self.scheduled += 1
        if dropped:
            self.dropped += 1
            return
        self.sent += 1
        if self._rate.stepped:
            self._step(offset).sent += 1

    def lagged(self, offset: float, seconds: float) -> None:
        """How late a judged arrival actually left."""
        if self.judged(offset):
            self.lag.record_ms(max(seconds, 0.0) * 1000)

    def record(
        self,
        name: str,
        outcome: Outcome,
        *,
        latency: float,
        service: float,
        offset: float | None,
        done: float | None,
    ) -> None:
        """One answered (or failed) request; ``offset`` None for a set-up request, ``done``
        the offset it ended at (None: outside the schedule, not in the abort window)."""
        failure = outcome.detail if outcome.kind == "failed" else ""
        if done is not None:
            self._recent.append(_Answered(done, name, latency * 1000, failure))
        if offset is not None and not self.judged(offset):
            return
        self._requests.setdefault(name, _Tally()).add(outcome, latency * 1000, service * 1000)
        if offset is not None and self._rate.stepped:
            step = self._step(offset)
            step.count += 1
            step.failures += outcome.kind == "failed"
            step.latency.record_ms(latency * 1000)

    def end(self, elapsed: float, *, completed: bool) -> None:
        """The schedule ended ``elapsed`` seconds after it started (all of it, or not)."""
        judged = self._duration if completed else min(elapsed - self._warmup, self._duration)
        self.window_seconds = max(judged, 0.0)

    def _step(self, offset: float) -> _StepTally:
        return self._steps.setdefault(self._rate.step_of(offset - self._warmup), _StepTally())

    # -- early abort -------------------------------------------------------------------

    def abort_reason(self, now: float, outstanding: Collection[tuple[str, float]]) -> str:
        """Why the run must stop at offset ``now``, or "": after the grace period, the
        rolling window's error ratio, or a request's p99 -- counting how long the
        ``outstanding`` (name, intended offset) requests have waited so far."""
        settings = self._abort
        if now < settings.grace_seconds:
            return ""
        while self._recent and self._recent[0].done < now - settings.window_seconds:
            self._recent.popleft()
        answered = list(self._recent)
        return self._error_reason(answered) or self._p99_reason(answered, now, outstanding)

    def _error_reason(self, answered: Sequence[_Answered]) -> str:
        failures = [seen for seen in answered if seen.failure]
        if len(answered) < ABORT_MIN_SAMPLES:
            return ""
        ratio, limit = len(failures) / len(answered), self._abort.error_ratio
        if ratio <= limit:
            return ""
        first = failures[0]
        return (f"error ratio {ratio:.0%} > {limit:.0%} over the last "
                f"{self._abort.window_seconds:g} s ({len(failures)} of {len(answered)} "
                f"requests failed; {first.name}: {first.failure})")  # fmt: skip

    def _p99_reason(
        self, answered: Sequence[_Answered], now: float, outstanding: Collection[tuple[str, float]]
    ) -> str:
        waits: dict[str, list[float]] = {}
        for seen in answered:
            waits.setdefault(seen.name, []).append(seen.latency_ms)
        for name, intended in outstanding:
            waits.setdefault(name, []).append((now - intended) * 1000)
        factor = self._abort.p99_factor
        for name, values in sorted(waits.items()):
            if len(values) < ABORT_MIN_SAMPLES:
                continue
            observed, limit = percentile(values, 0.99), self._p99_limit_ms(name)
            if observed > factor * limit:
                return (f"{name}: p99 {observed:.0f} ms over the last "
                        f"{self._abort.window_seconds:g} s > {factor:g} x its p99 limit "
                        f"({limit:g} ms)")  # fmt: skip
        return ""

    # -- reporting ---------------------------------------------------------------------

    def snapshot(self, process: str, *, cpu_warning: bool = False) -> dict[str, Any]:
        """Everything so far, JSON- and msgpack-ready (locust sends it to the master);
        :func:`combine` merges snapshots."""
        return {
            "process": process,
            "cpu_warning": cpu_warning,
            "scheduled": self.scheduled,
            "sent": self.sent,
            "dropped": self.dropped,
            "schedule_lag": self.lag.encode(),
            "window_seconds": self.window_seconds,
            "aborted": self.aborted,
            "requests": {name: asdict(t.figures(name)) for name, t in self._requests.items()},
            "steps": self._step_rows(),
            "server_metrics": dict(self.server_metrics),
            "server_metrics_problem": self.server_metrics_problem,
        }

    def _step_rows(self) -> list[dict[str, Any]]:
        if not self._rate.stepped:
            return []
        every = self._rate.step_seconds
        starts = itertools.takewhile(lambda t: t < self.window_seconds, _multiples(every))
        return [self._step_row(index, start, every) for index, start in enumerate(starts)]

    def _step_row(self, index: int, start: float, every: float) -> dict[str, Any]:
        tally = self._steps.get(index, _StepTally())
        return {
            "index": index,
            "offered_rate": self._rate.at(start),
            "seconds": min(every, self.window_seconds - start),
            "sent": tally.sent,
            "count": tally.count,
            "failures": tally.failures,
            "latency": tally.latency.encode(),
        }


def combine(header: Measurements, snapshots: Sequence[Mapping[str, Any]]) -> Measurements:
    """The measurements of a run: ``header`` (scenario, rate, warm-up, workers) with the
    figures of every process's latest snapshot added up -- each snapshot exactly once."""
    lag, steps = Histogram(), _MergedSteps()
    by_name: dict[str, RequestFigures] = {}
    result = replace(header, requests=by_name, steps=[], cpu_warnings=list(header.cpu_warnings))
    for snapshot in snapshots:
        result.scheduled += snapshot["scheduled"]
        result.sent += snapshot["sent"]
        result.dropped += snapshot["dropped"]
        result.window_seconds = max(result.window_seconds, snapshot["window_seconds"])
        result.aborted = result.aborted or snapshot["aborted"]
        if snapshot["cpu_warning"]:
            result.cpu_warnings.append(snapshot["process"])
        lag.merge(Histogram.decode(snapshot["schedule_lag"]))
        for name, figures in snapshot["requests"].items():
            by_name[name] = _merged(by_name.get(name), RequestFigures(**figures))
        steps.add(snapshot["steps"])
        result.server_metrics = result.server_metrics or dict(snapshot.get("server_metrics", {}))
        result.server_metrics_problem = result.server_metrics_problem or snapshot.get(
            "server_metrics_problem", ""
        )
    result.schedule_lag = lag.encode()
    result.steps = steps.result()
    return result


def _merged(first: RequestFigures | None, second: RequestFigures) -> RequestFigures:
    if first is None:
        return second
    samples = list(dict.fromkeys([*first.failure_samples, *second.failure_samples]))
    latency, service = first.latency_histogram(), first.service_histogram()
    latency.merge(second.latency_histogram())
    service.merge(second.service_histogram())
    return RequestFigures(
        first.name, first.count + second.count, first.failures + second.failures,
        first.expected_rejections + second.expected_rejections, samples[:FAILURE_SAMPLES],
        latency.encode(), service.encode(),
    )  # fmt: skip


class _MergedSteps:
    """The steps of several processes, step by step."""

    def __init__(self) -> None:
        self._rows: dict[int, dict[str, Any]] = {}
        self._latency: dict[int, Histogram] = {}

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            index = row["index"]
            merged = self._rows.setdefault(index, {"offered_rate": row["offered_rate"],
                                                   "seconds": 0.0, "sent": 0, "count": 0,
                                                   "failures": 0})  # fmt: skip
            merged["seconds"] = max(merged["seconds"], row["seconds"])
            for key in ("sent", "count", "failures"):
                merged[key] += row[key]
            self._latency.setdefault(index, Histogram()).merge(Histogram.decode(row["latency"]))

    def result(self) -> list[Step]:
        steps = []
        for index, row in sorted(self._rows.items()):
            seconds, count = row["seconds"], row["count"]
            steps.append(Step(
                offered_rate=row["offered_rate"],
                achieved_rate=row["sent"] / seconds if seconds else 0.0,
                p99_ms=self._latency[index].percentile_ms(99),
                error_ratio=row["failures"] / count if count else 0.0,
            ))  # fmt: skip
        return steps


# -- the dispatcher -------------------------------------------------------------------


class Loop(Protocol):
    """Time and concurrency: gevent's (:class:`GeventLoop`), or a virtual clock."""

    def clock(self) -> float:
        """Seconds, monotonic."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let others run for ``seconds``."""
        ...

    def spawn(self, action: Callable[[], object]) -> object:
        """Run ``action`` concurrently; a handle for :meth:`join`."""
        ...

    def join(self, tasks: Collection[object], timeout: float) -> None:
        """Wait until ``tasks`` ended, at most ``timeout`` seconds."""
        ...


class GeventLoop:
    """The real clock and greenlets (locust runs on gevent)."""

    def clock(self) -> float:
        """``time.monotonic``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``gevent.sleep``."""
        gevent.sleep(seconds)

    def spawn(self, action: Callable[[], object]) -> object:
        """``gevent.spawn``."""
        return gevent.spawn(action)

    def join(self, tasks: Collection[object], timeout: float) -> None:
        """``gevent.joinall``."""
        gevent.joinall(list(tasks), timeout=timeout)


Observer = Callable[[Request, Answer, float, Outcome], None]
"""Told of every answer: the request, the answer, its latency in seconds, its outcome."""
WindowHook = Callable[[str], object]
"""Called with ``"open"`` as the judged window opens (in its own greenlet) and with
``"close"`` once its requests have answered or timed out."""


class Dispatcher:
    """Sends a workload's requests at their intended times, each in its own greenlet,
    never more than ``max_in_flight`` at once; records everything in ``recorder``."""

    def __init__(
        self,
        workload: Workload,
        sender: Sender,
        recorder: Recorder,
        offsets: Iterator[float],
        *,
        max_in_flight: int,
        loop: Loop | None = None,
        drain_seconds: float = DRAIN_SECONDS,
        observer: Observer | None = None,
        on_window: WindowHook | None = None,
    ) -> None:
        self._workload, self._sender, self._recorder = workload, sender, recorder
        self._on_window = on_window
        self._opened = False
        self._offsets, self._max_in_flight = offsets, max_in_flight
        self._loop = loop or GeventLoop()
        self._drain_seconds, self._observer = drain_seconds, observer
        self._start = 0.0
        self._stopping = False
        self._closed = False
        self._keys = itertools.count()
        self._outstanding: dict[int, tuple[str, float]] = {}  # key: (name, intended offset)
        self._tasks: dict[int, object] = {}
        self._checked = -math.inf

    def stop(self) -> None:
        """End the schedule early (the outstanding requests still get their drain time)."""
        self._stopping = True

    def run(self) -> str:
        """Run the schedule to its end (or a stop, or an abort), then wait for the
        outstanding requests; the reason of an early abort, or ""."""
        self._start = self._loop.clock()
        completed = True
        for offset in self._offsets:
            self._wait_until(self._start + offset)
            if self._stopping or self._abort_check():
                completed = False
                break
            self._open_window(offset)
            self._arrive(offset)
        else:
            completed = not self._stopping
        self._recorder.end(self._elapsed(), completed=completed)
        self._drain()
        if self._opened and self._on_window is not None:
            self._on_window("close")
        return self._recorder.aborted

    def _open_window(self, offset: float) -> None:
        if self._opened or not self._recorder.judged(offset):
            return
        self._opened = True
        if self._on_window is not None:
            hook = self._on_window
            self._loop.spawn(lambda: hook("open"))

    def _elapsed(self) -> float:
        return self._loop.clock() - self._start

    def _wait_until(self, due: float) -> None:
        while not self._stopping and (remaining := due - self._loop.clock()) > 0:
            self._loop.sleep(min(remaining, CHECK_SECONDS))

    def _abort_check(self) -> bool:
        now = self._elapsed()
        if now - self._checked < CHECK_SECONDS:
            return False
        self._checked = now
        reason = self._recorder.abort_reason(now, list(self._outstanding.values()))
        if reason:
            self._recorder.aborted = reason
        return bool(reason)

    def _arrive(self, offset: float) -> None:
        if len(self._outstanding) >= self._max_in_flight:
            self._recorder.arrived(offset, dropped=True)
            return
        self._recorder.arrived(offset, dropped=False)
        request = self._workload.next_request()
        key = next(self._keys)
        self._outstanding[key] = (request.name, offset)
        self._tasks[key] = self._loop.spawn(lambda: self._send(key, request, offset))

    def _send(self, key: int, request: Request, offset: float) -> None:
        due = self._start + offset
        sent_at = self._loop.clock()
        self._recorder.lagged(offset, sent_at - due)
        try:
            answer = self._sender.send(request)
            done = self._loop.clock()
            outcome = self._observed(request, answer)
        finally:
            self._outstanding.pop(key, None)
            self._tasks.pop(key, None)
        if self._closed:
            return
        self._recorder.record(
            request.name, outcome, latency=done - due, service=done - sent_at,
            offset=offset, done=done - self._start,
        )  # fmt: skip
        if self._observer is not None:
            self._observer(request, answer, done - due, outcome)

    def _observed(self, request: Request, answer: Answer) -> Outcome:
        try:
            return self._workload.observe(request, answer)
        except Exception as error:  # a workload bug shows in the figures, not as lost counts
            return failed(f"workload error: {type(error).__name__}: {one_line(error)}")

    def _drain(self) -> None:
        self._loop.join(list(self._tasks.values()), self._drain_seconds)
        self._closed = True
        now = self._elapsed()
        for name, offset in list(self._outstanding.values()):
            waited = now - offset
            self._recorder.record(name, failed(UNANSWERED), latency=waited, service=waited,
                                  offset=offset, done=None)  # fmt: skip
