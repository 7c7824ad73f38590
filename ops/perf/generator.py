"""The load generator's processes: locust headless, standalone or as its own master with
workers on this host, or workers joining a master on another host -- pinned to the
generator's CPUs, logging to ``reports/perf/locust*.log``, their exit status honoured.

Each locust process that generates load runs exactly one dispatcher user (the open
workload's schedule, :mod:`ops.perf.schedule`); the plan and the measurements file are
handed over in ``PERF_PLAN`` and ``PERF_MEASUREMENTS``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.core.commands import find_executable
from ops.core.environ import child_env
from ops.core.exits import CannotRun
from ops.core.processes import Process, pinned, wait_for
from ops.project import ROOT

LOCUSTFILE = ROOT / "ops" / "perf" / "locustfile.py"
PLAN_VARIABLE, MEASUREMENTS_VARIABLE = "PERF_PLAN", "PERF_MEASUREMENTS"  # read by the locustfile
HINT = "install the perf dependency group (uv sync --group perf)"
DRAIN_SECONDS = 10  # after the schedule ends: the last requests finish, the master collects
WORKERS_SECONDS = 60  # for the workers to connect to the master
# locust's own statuses: 0 no failures, 1 some requests failed -- both leave a run to judge.
JUDGED_STATUSES = (0, 1)


@dataclass(frozen=True)
class Generator:
    """How the load is generated: ``workers`` 0 is one standalone process."""

    workers: int = 0
    master_host: str = ""  # join a master elsewhere: only workers run here
    cpus: tuple[int, ...] = ()
    total_workers: int = 0  # across every host (a master expects them all); 0: ``workers``

    @property
    def processes(self) -> int:
        """How many processes generate load in the whole run (each runs one dispatcher)."""
        return max(self.total_workers or self.workers, 1)


def locust_command(
    generator: Generator, host: str, run_seconds: float, reports: Path, role: str
) -> list[str]:
    """The locust invocation of one process (``standalone``, ``master`` or ``worker``)."""
    locust = find_executable("locust", hint=HINT)
    command = [locust, "-f", str(LOCUSTFILE), "--headless", "--host", host]
    if role == "worker":
        master = generator.master_host or "127.0.0.1"
        return pinned([*command, "--worker", "--master-host", master], generator.cpus)
    users = str(generator.processes)
    command += ["--users", users, "--spawn-rate", users, "--run-time", f"{run_seconds:.0f}s",
                "--stop-timeout", str(DRAIN_SECONDS), "--csv", str(reports / "locust"),
                "--html", str(reports / "report.html"), "--only-summary"]  # fmt: skip
    if role == "master":
        # Workers from other hosts reach the master on every interface; else loopback only.
        bind = "0.0.0.0" if generator.processes > generator.workers else "127.0.0.1"  # noqa: S104
        command += ["--master", "--master-bind-host", bind,
                    "--expect-workers", str(generator.processes)]  # fmt: skip
    return pinned(command, generator.cpus)


def run(
    generator: Generator,
    host: str,
    run_seconds: float,
    reports: Path,
    variables: Mapping[str, str],
    env: Mapping[str, str],
) -> int:
    """Run the load to its end; locust's exit status (0 or 1: there is a run to judge).
    CannotRun with the log's tail on any other ending."""
    child = child_env(env, {"PYTHONPATH": str(ROOT), **variables}, keep=("HOME",))
    if generator.master_host:
        return _workers_only(generator, host, run_seconds, reports, child)
    role = "master" if generator.workers else "standalone"
    lead = Process(locust_command(generator, host, run_seconds, reports, role), env=child,
                   cwd=ROOT, log_path=reports / "locust.log")  # fmt: skip
    workers = _workers(generator, host, run_seconds, reports, child)
    with lead, contextlib.ExitStack() as stack:
        for worker in workers:
            stack.enter_context(worker)
        return _finished(lead, run_seconds + WORKERS_SECONDS + DRAIN_SECONDS * 3)


def _workers(
    generator: Generator, host: str, run_seconds: float, reports: Path, child: Mapping[str, str]
) -> list[Process]:
    command = locust_command(generator, host, run_seconds, reports, "worker")
    return [
        Process(
            command,
            env={**child, "PERF_WORKER_INDEX": str(index)},
            cwd=ROOT,
            log_path=reports / f"locust-worker-{index}.log",
        )
        for index in range(generator.workers)
    ]


def _workers_only(
    generator: Generator, host: str, run_seconds: float, reports: Path, child: Mapping[str, str]
) -> int:
    workers = _workers(generator, host, run_seconds, reports, child)
    with contextlib.ExitStack() as stack:
        for worker in workers:
            stack.enter_context(worker)
        codes = [_finished(worker, run_seconds + WORKERS_SECONDS * 10) for worker in workers]
    return max(codes)


def _finished(process: Process, timeout: float) -> int:
    """Wait for ``process`` to end; its status, or CannotRun with why."""
    started = time.monotonic()
    waited = wait_for(lambda: (not process.alive(), "running"), timeout=timeout, interval=0.5)
    if not waited.ready:
        process.stop(grace=DRAIN_SECONDS)
        raise CannotRun(f"locust did not finish within {time.monotonic() - started:.0f} s: "
                        f"{_tail(process)}")  # fmt: skip
    code = process.returncode
    assert code is not None
    if code not in JUDGED_STATUSES:
        raise CannotRun(f"locust exited {code}: {_tail(process)}")
    return code


def _tail(process: Process) -> str:
    lines = [line.strip() for line in process.log_tail(40).splitlines() if line.strip()]
    return " / ".join(lines[-3:]) or "no output"


def describe(generator: Generator, cpus: Sequence[int]) -> str:
    """One line: how many locust processes, where."""
    where = f" on CPUs {','.join(map(str, cpus))}" if cpus else ""
    if generator.master_host:
        return f"{generator.workers} locust worker(s) joining {generator.master_host}{where}"
    if generator.workers:
        return f"locust master and {generator.workers} worker(s){where}"
    return f"one locust process{where}"
