"""The load generator's locust plumbing: one dispatcher user per process.

``python -m ops.perf`` runs locust with this file (standalone, or a master and
workers); ``PERF_PLAN`` names the run's plan (:class:`~ops.perf.scenarios.Plan`),
``PERF_MEASUREMENTS`` where ``measurements.json`` goes. Each load-generating process
runs one :class:`Dispatcher` user: its share of the open workload
(:class:`~ops.perf.scenarios.LoadProcess`), once, then it idles until locust stops.

A worker sends its figures so far with every report to the master (the whole
snapshot, so the master keeps the latest one per worker: each merged exactly once);
the master -- or the standalone process -- writes the measurements when the test
stops and again when locust quits, also after an early abort, which a worker asks the
master for. locust's own statistics and HTML report see every request too (latency
from the intended send time, the warm-up included).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import User, constant, events, task
from locust.env import Environment
from locust.exception import CatchResponseError
from locust.rpc import Message
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, Runner, WorkerRunner

from ops.core import environ
from ops.core.exits import CannotRun, OpsError, one_line
from ops.perf import measurements
from ops.perf.generator import MEASUREMENTS_VARIABLE, PLAN_VARIABLE
from ops.perf.scenarios import LoadProcess, Plan
from ops.perf.schedule import Answer, HttpSender, Outcome, Request, combine

SNAPSHOT = "perf"  # the key of a worker's figures in its reports
# messages: worker -> master (an abort, a finished schedule), master -> workers (stop)
ABORT, DONE, STOP = "perf-abort", "perf-done", "perf-stop"
IDLE_SECONDS = 3600  # after its schedule, a user waits to be stopped


def _configured() -> tuple[Plan, Path]:
    env = environ.current()
    for name in (PLAN_VARIABLE, MEASUREMENTS_VARIABLE):
        if not env.get(name):
            raise CannotRun(f"{name}: required (python -m ops.perf sets it)")
    return Plan.read(Path(env[PLAN_VARIABLE])), Path(env[MEASUREMENTS_VARIABLE])


try:
    PLAN, MEASUREMENTS = _configured()
except OpsError as problem:
    print(f"locustfile: {one_line(problem)}", file=sys.stderr)
    raise SystemExit(problem.exit_code) from None


@dataclass
class _Process:
    """This process's part: its load (standalone, worker) or the workers' (master)."""

    environment: Environment | None = None
    load: LoadProcess | None = None
    name: str = "standalone"
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest per worker
    aborted: str = ""
    quitting: bool = False
    finished: int = 0  # the master's count of workers whose schedules ended

    @property
    def runner(self) -> Runner:
        assert self.environment is not None
        assert self.environment.runner is not None
        return self.environment.runner

    def snapshot(self) -> dict[str, Any]:
        assert self.load is not None
        return self.load.recorder.snapshot(self.name, cpu_warning=self.runner.cpu_warning_emitted)


PROCESS = _Process()


class Dispatcher(User):
    """The one user of a load-generating process."""

    wait_time = constant(IDLE_SECONDS)

    @task
    def run_schedule(self) -> None:
        """Run this process's part of the schedule (once)."""
        if PROCESS.load is not None or PROCESS.aborted:
            return
        runner = self.environment.runner
        index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        PROCESS.name = f"worker-{index}" if isinstance(runner, WorkerRunner) else "standalone"
        sender = HttpSender(self.host or "", concurrency=PLAN.max_in_flight_per_process())
        try:
            PROCESS.load = LoadProcess(
                PLAN, index, sender, observer=partial(_tell_locust, self.environment)
            )
            reason = PROCESS.load.run()
        except OpsError as error:
            reason = f"{PROCESS.name}: {one_line(error)}"
        if reason:
            _abort(reason)
        else:
            _schedule_done()


def _tell_locust(
    environment: Environment, request: Request, answer: Answer, latency: float, outcome: Outcome
) -> None:
    hook: Any = environment.events.request  # locust's event hooks have no type information
    hook.fire(
        request_type=request.method, name=request.name, response_time=latency * 1000,
        response_length=len(answer.body), context={}, response=None, url=request.path,
        exception=CatchResponseError(outcome.detail) if outcome.kind == "failed" else None,
    )  # fmt: skip


def _abort(reason: str) -> None:
    PROCESS.aborted = PROCESS.aborted or reason
    runner = PROCESS.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(ABORT, {"reason": reason})
    else:
        gevent.spawn(runner.quit)


def _schedule_done() -> None:
    """This process's schedule ended: the run ends when every process's has (locust's
    --run-time is only a ceiling)."""
    runner = PROCESS.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(DONE, {})
    else:
        gevent.spawn(runner.quit)


def _on_done_message(environment: Environment, msg: Message, **_kw: Any) -> None:
    PROCESS.finished += 1
    if PROCESS.finished >= PLAN.processes and not PROCESS.quitting:
        PROCESS.quitting = True
        gevent.spawn(_collect_and_quit, PROCESS.runner)


def _on_abort_message(environment: Environment, msg: Message, **_kw: Any) -> None:
    PROCESS.aborted = PROCESS.aborted or str(msg.data["reason"])
    if not PROCESS.quitting:
        PROCESS.quitting = True
        gevent.spawn(_collect_and_quit, PROCESS.runner)


def _collect_and_quit(runner: Runner) -> None:
    """Stop every worker's schedule, wait for their next reports, then quit."""
    runner.send_message(STOP)
    gevent.sleep(WORKER_REPORT_INTERVAL + 1)
    runner.quit()


def _stop_load(**_kw: Any) -> None:
    """End this process's schedule early (the test is stopping, or another process aborted)."""
    if PROCESS.load is not None:
        PROCESS.load.stop()


def _on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    if PROCESS.load is not None:
        data[SNAPSHOT] = PROCESS.snapshot()


def _on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    if SNAPSHOT in data:
        PROCESS.snapshots[client_id] = data[SNAPSHOT]


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)  # locust's event hooks have no type information


def _on_init(environment: Environment, **_kw: Any) -> None:
    PROCESS.environment = environment
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(ABORT, _on_abort_message)
        runner.register_message(DONE, _on_done_message)
        _listen(environment.events.worker_report, _on_worker_report)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(STOP, _stop_load)
        _listen(environment.events.report_to_master, _on_report_to_master)


def _write_measurements(environment: Environment, **_kw: Any) -> None:
    """The master's (or the standalone process's) measurements, written whole."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or runner is None:
        return
    if isinstance(runner, MasterRunner):
        snapshots, header = list(PROCESS.snapshots.values()), PLAN.header(len(PROCESS.snapshots))
        header.cpu_warnings = ["master"] if runner.cpu_warning_emitted else []
    else:
        snapshots = [PROCESS.snapshot()] if PROCESS.load is not None else []
        header = PLAN.header(0)
    measured = combine(header, snapshots)
    measured.aborted = PROCESS.aborted or measured.aborted
    measurements.write(measured, MEASUREMENTS)


_listen(events.init, _on_init)
_listen(events.test_stopping, _stop_load)
_listen(events.test_stop, _write_measurements)
_listen(events.quitting, _write_measurements)
