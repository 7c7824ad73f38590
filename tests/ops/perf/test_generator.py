"""The load generator's processes and where they run: locust's command per role, the
CPUs each side gets, the image's worker count -- and locust's own failures, which end a
run with their log's last lines rather than a verdict on nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ops.core.exits import CannotRun
from ops.perf import generator as generating
from ops.perf.generator import Generator, describe, locust_command
from ops.perf.placement import place, production_workers


@pytest.fixture
def fake_locust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A ``locust`` that prints a line and exits as ``$FAKE_EXIT`` says."""
    script = tmp_path / "locust"
    script.write_text('#!/bin/sh\necho "starting"\necho "no locustfile found" >&2\n'
                      'exit "${FAKE_EXIT:-0}"\n')  # fmt: skip
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(generating, "find_executable", lambda *_a, **_k: str(script))
    return script


def test_a_standalone_process_runs_one_user_with_the_reports(tmp_path: Path) -> None:
    command = locust_command(Generator(), "http://h", 70, tmp_path, "standalone")
    assert command[command.index("--users") + 1] == "1"
    assert command[command.index("--run-time") + 1] == "70s"
    assert "--master" not in command
    assert command[command.index("--csv") + 1] == str(tmp_path / "locust")


def test_a_master_expects_every_worker_and_listens_beyond_loopback_only_for_other_hosts(
    tmp_path: Path,
) -> None:
    alone = locust_command(Generator(workers=2), "http://h", 70, tmp_path, "master")
    assert alone[alone.index("--expect-workers") + 1] == "2"
    assert alone[alone.index("--master-bind-host") + 1] == "127.0.0.1"
    shared = locust_command(Generator(workers=2, total_workers=6), "http://h", 70, tmp_path,
                            "master")  # fmt: skip
    assert shared[shared.index("--expect-workers") + 1] == "6"
    assert shared[shared.index("--users") + 1] == "6"  # one dispatcher per process
    assert shared[shared.index("--master-bind-host") + 1] == "0.0.0.0"  # noqa: S104


def test_workers_join_the_named_master_pinned_to_the_generators_cpus(tmp_path: Path) -> None:
    joining = Generator(workers=3, master_host="10.0.0.5", cpus=(1,))
    command = locust_command(joining, "http://h", 70, tmp_path, "worker")
    assert command[:3] == ["taskset", "-c", "1"]
    assert command[command.index("--master-host") + 1] == "10.0.0.5"
    assert describe(joining, (1,)) == "3 locust worker(s) joining 10.0.0.5 on CPUs 1"


@pytest.mark.parametrize(("code", "judged"), [(0, True), (1, True), (2, False), (-9, False)])
def test_only_locusts_own_statuses_0_and_1_leave_a_run_to_judge(
    fake_locust: Path, tmp_path: Path, code: int, judged: bool
) -> None:
    variables = {"FAKE_EXIT": str(code if code >= 0 else 137)}

    def run() -> int:
        return generating.run(Generator(), "http://h", 1, tmp_path, variables, {"PATH": "/bin"})

    if judged:
        assert run() == code
        return
    with pytest.raises(CannotRun, match=r"^locust exited \d+: .*no locustfile found"):
        run()


def test_the_generator_gets_cpus_of_its_own_and_one_cpu_is_a_smoke_run() -> None:
    two = place([1, 0])
    assert (two.server, two.generator, two.smoke_reason) == ((0,), (1,), "")
    eight = place(range(8))
    assert (eight.server, eight.generator) == ((0, 1, 2, 3, 4, 5), (6, 7))
    one = place([0])
    assert (one.server, one.generator) == ((0,), ())
    assert one.smoke_reason == "one CPU: the load generator shares it with the server"
    assert one.describe() == "server and load generator share CPUs 0"


def test_the_server_runs_the_images_worker_count(tmp_path: Path) -> None:
    assert production_workers() == 2
    bare = tmp_path / "Dockerfile"
    bare.write_text('CMD ["python", "-m", "app", "serve"]\n')
    with pytest.raises(CannotRun, match="no --workers in the image's command"):
        production_workers(bare)
