"""The locustfile, run by locust itself for a few seconds against a stub of the API:
standalone and as a master with a worker, writing measurements.json whose counts add up
(the worker's figures merged once), and stopping early, with a reason, on a dead host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from ops.core.commands import find_executable
from ops.core.processes import free_port
from ops.perf import measurements
from ops.perf.measurements import Measurements
from ops.perf.scenarios import LOGIN, Account, Instrument, Plan, scenario_hash
from ops.project import ROOT
from tests.ops.monitor.http_support import StubServer, json_answer
from tests.ops.perf.perf_support import slo
from tests.support.invoke import subprocess_env

LOCUSTFILE = ROOT / "ops" / "perf" / "locustfile.py"
AAPL = Instrument(symbol="AAPL", tick=Decimal("0.01"), lot=Decimal(1), reference=Decimal(190))
READS = ("/v1/market/AAPL/quote", "/v1/market/AAPL/book", "/v1/orders", "/v1/fills")
ACCOUNTS = tuple(
    Account(email=f"{name}@x.io", password=f"pw-{name}", role=role)
    for name, role in (("maker", "maker"), ("reader1", "reader"), ("reader2", "reader"))
)
TIMEOUT = 90


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        server.answer("/v1/auth/token", json_answer({"access_token": "t"}), method="POST")
        for path in READS:
            server.answer(path, json_answer({}))
        yield server


def write_plan(directory: Path, processes: int, **abort: float) -> dict[str, str]:
    """A read-mix plan (20/s, 0.5 s warm-up, 2 s judged); the locust processes' variables."""
    model = slo(run={"rate": 20, "arrival": "constant", "warmup_seconds": 0.5,
                     "duration_seconds": 2},
                abort={"grace_seconds": 100, **abort},
                scenarios={"read-mix": {"accounts": 3, "symbols": ["AAPL"]}})  # fmt: skip
    plan = Plan("read-mix", model, ACCOUNTS, 11, processes, scenario_hash("read-mix", model),
                {"AAPL": AAPL})  # fmt: skip
    plan.write(directory / "plan.json")
    return {"PERF_PLAN": str(directory / "plan.json"),
            "PERF_MEASUREMENTS": str(directory / "measurements.json")}  # fmt: skip


def locust(*args: str) -> list[str]:
    return [find_executable("locust", hint="the perf group"), "-f", str(LOCUSTFILE), *args]


RUN_TIME_LIMIT = "--run-time limit reached"  # locust's line when its --run-time ends a run


def lead(host: str, run_time: str = "60s") -> list[str]:
    return locust("--headless", "--host", host, "--users", "1", "--spawn-rate", "1",
                  "--run-time", run_time, "--stop-timeout", "5", "--only-summary")  # fmt: skip


def run(command: Sequence[str], variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=subprocess_env(variables), cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)  # fmt: skip


def with_a_worker(
    command: Sequence[str], variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    port = str(free_port())
    master = [*command, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
              port, "--expect-workers", "1"]  # fmt: skip
    worker = locust("--worker", "--master-host", "127.0.0.1", "--master-port", port)
    with subprocess.Popen(worker, env=subprocess_env(variables), cwd=ROOT, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as joined:  # fmt: skip
        done = run(master, variables)
        _, worker_log = joined.communicate(timeout=TIMEOUT)
    assert joined.returncode == 0, worker_log[-2000:]
    return done


def measured(variables: dict[str, str], done: subprocess.CompletedProcess[str]) -> Measurements:
    assert done.returncode == 0, done.stderr[-3000:]
    return measurements.read(Path(variables["PERF_MEASUREMENTS"]))


def assert_counts_add_up(found: Measurements, stub: StubServer, logins: int) -> None:
    reads = {name: row.count for name, row in found.requests.items() if name != LOGIN}
    assert found.requests[LOGIN].count == logins
    assert sum(reads.values()) == found.sent == found.scheduled - found.dropped
    assert found.sent == pytest.approx(40, abs=4)  # 20/s for 2 s, after the warm-up
    # Each request the stub saw was counted exactly once (the warm-up's were not judged).
    assert len(stub.requests()) >= found.sent + logins
    assert all(row.failures == 0 for row in found.requests.values())
    assert all(row.latency_histogram().count == row.count for row in found.requests.values())
    assert found.window_seconds == 2
    assert found.aborted == ""


def test_a_standalone_run_writes_measurements_that_add_up(stub: StubServer, tmp_path: Path) -> None:
    variables = write_plan(tmp_path, processes=1)
    done = run(lead(stub.url), variables)
    found = measured(variables, done)
    assert_counts_add_up(found, stub, logins=2)
    assert (found.scenario, found.workers, found.offered_rate) == ("read-mix", 0, 20)
    # The run ended with its schedule, not at locust's --run-time ceiling.
    assert RUN_TIME_LIMIT not in done.stderr


@pytest.mark.slow
def test_a_worker_figures_reach_the_master_once(stub: StubServer, tmp_path: Path) -> None:
    variables = write_plan(tmp_path, processes=1)
    done = with_a_worker(lead(stub.url), variables)
    found = measured(variables, done)
    assert_counts_add_up(found, stub, logins=2)
    assert found.workers == 1
    assert RUN_TIME_LIMIT not in done.stderr


def test_a_dead_host_stops_the_run_early_with_a_reason(tmp_path: Path) -> None:
    variables = write_plan(tmp_path, processes=1, grace_seconds=0.5, window_seconds=0.5)
    done = run(lead(f"http://127.0.0.1:{free_port()}", run_time="60s"), variables)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    found = measurements.read(Path(variables["PERF_MEASUREMENTS"]))
    assert found.aborted.startswith("log in as reader")
    assert ": ConnectionRefusedError: " in found.aborted
    assert "pw-reader" not in done.stderr + found.aborted


@pytest.mark.slow
def test_a_worker_that_gives_up_stops_the_whole_run(tmp_path: Path) -> None:
    variables = write_plan(tmp_path, processes=1)
    done = with_a_worker(lead(f"http://127.0.0.1:{free_port()}", run_time="60s"), variables)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    found = measurements.read(Path(variables["PERF_MEASUREMENTS"]))
    assert found.aborted.startswith("log in as reader")
    assert found.workers == 1


def test_without_a_plan_locust_cannot_run(tmp_path: Path) -> None:
    done = run(lead("http://127.0.0.1:1"), {"PERF_MEASUREMENTS": str(tmp_path / "m.json")})
    assert done.returncode == 2
    assert "locustfile: PERF_PLAN: required (python -m ops.perf sets it)" in done.stderr
    assert not (tmp_path / "m.json").exists()
