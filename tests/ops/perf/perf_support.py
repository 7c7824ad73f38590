"""What the load generator's tests share: a virtual clock with greenlets (a schedule
runs in no time, exactly), senders with a known delay, SLO models and recorders."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import greenlet  # type: ignore[import-untyped]

from ops.perf.schedule import Answer, Rate, Recorder, Request
from ops.perf.slo import Slo, resolve

T = TypeVar("T")
POLL_SECONDS = 0.001
EMPTY_JSON = Answer(200, b"{}")


class VirtualLoop:
    """A :class:`~ops.perf.schedule.Loop` on a virtual clock: sleeping advances time,
    greenlets run in the order of their wake-up times; nothing waits for real.
    ``stalls`` maps an instant to seconds the process freezes there (a CPU-starved
    generator): whatever was due meanwhile happens when it thaws."""

    def __init__(self, stalls: dict[float, float] | None = None) -> None:
        self.now = 0.0
        self._stalls = dict(stalls or {})
        self._queue: list[tuple[float, int, Any]] = []
        self._order = itertools.count()
        self._main: Any = None

    def clock(self) -> float:
        """The virtual time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Wake up ``seconds`` later."""
        wake = self.now + max(seconds, 0.0)
        heapq.heappush(self._queue, (wake, next(self._order), greenlet.getcurrent()))
        self._main.switch()

    def spawn(self, action: Callable[[], object]) -> object:
        """A greenlet that starts now."""
        task = greenlet.greenlet(action, parent=self._main)
        heapq.heappush(self._queue, (self.now, next(self._order), task))
        return task

    def join(self, tasks: Collection[object], timeout: float) -> None:
        """Wait (virtually) until the tasks ended or ``timeout`` passed."""
        deadline = self.now + timeout
        while any(not task.dead for task in tasks) and self.now < deadline:  # type: ignore[attr-defined]
            self.sleep(min(POLL_SECONDS, deadline - self.now))

    def _thawed(self, wake: float) -> float:
        for start, frozen in self._stalls.items():
            if start <= wake < start + frozen:
                return start + frozen
        return wake

    def run(self, action: Callable[[], T]) -> T:
        """Run ``action`` and every greenlet it starts to the end; its result."""
        self._main = greenlet.getcurrent()
        results: list[T] = []
        self.spawn(lambda: results.append(action()))
        while self._queue:
            wake, _, task = heapq.heappop(self._queue)
            self.now = max(self.now, self._thawed(wake))
            task.switch()
        return results[0]


class DelayedSender:
    """Answers every request after ``delay`` virtual seconds (a function of the request,
    or a number) with ``answer``; remembers what it was sent."""

    def __init__(
        self,
        loop: VirtualLoop,
        delay: float | Callable[[Request], float],
        answer: Answer | Callable[[Request], Answer] = EMPTY_JSON,
    ) -> None:
        self.loop, self.delay, self.answer = loop, delay, answer
        self.sent: list[Request] = []

    def send(self, request: Request) -> Answer:
        """Wait, then answer."""
        self.sent.append(request)
        self.loop.sleep(self.delay(request) if callable(self.delay) else self.delay)
        return self.answer(request) if callable(self.answer) else self.answer


def slo(**sections: dict[str, Any]) -> Slo:
    """The default SLO model with ``sections`` merged in (``run={"rate": 40}``)."""
    return resolve(sections)


def recorder(model: Slo, rate: Rate | None = None) -> Recorder:
    """A recorder for ``model``'s run settings."""
    run = model.run
    return Recorder(
        rate=rate or Rate(run.rate),
        warmup=run.warmup_seconds,
        duration=run.duration_seconds,
        abort=model.abort,
        p99_limit_ms=lambda name: model.request(name).p99_ms,
    )
