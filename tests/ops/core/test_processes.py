"""Child processes: waiting with a reason, stopping by group, pid files that notice recycling."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ops.core import processes

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
# Ignores SIGTERM: only SIGKILL stops it.
STUBBORN = [sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(60)"]  # fmt: skip


def test_wait_for_says_ready_timeout_or_exited() -> None:
    ticks = iter(range(100))
    ready = processes.wait_for(lambda: (next(ticks) >= 2, "tick"), timeout=5, interval=0.01)
    assert (ready.ready, ready.seen, ready.exited) == (True, "tick", False)
    late = processes.wait_for(lambda: (False, "still no"), timeout=0.1, interval=0.02)
    assert (late.ready, late.seen, late.exited) == (False, "still no", False)
    dead = processes.wait_for(lambda: (False, "x"), timeout=5, alive=lambda: False)
    assert dead.exited
    assert not dead.ready


def test_a_process_logs_and_stops_gracefully(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "child.log"
    child = processes.Process(SLEEPER, env=os.environ, cwd=tmp_path, log_path=log).start()
    assert processes.wait_for(lambda: ("up" in child.log_tail(), ""), timeout=10).ready
    assert child.alive()
    assert child.stop(grace=5) is True
    assert not child.alive()
    assert child.log_tail() == "up"


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    child = processes.Process(STUBBORN, env=os.environ, cwd=tmp_path, log_path=tmp_path / "l")
    with child:
        assert processes.wait_for(lambda: ("up" in child.log_tail(), ""), timeout=10).ready
        assert child.stop(grace=0.3) is False, "not graceful: it needed SIGKILL"
    assert not child.alive()


def test_kill_is_abrupt(tmp_path: Path) -> None:
    child = processes.Process(SLEEPER, env=os.environ, cwd=tmp_path).start()
    child.kill()
    assert child.returncode == -9


def test_a_detached_process_is_recorded_and_recognised(tmp_path: Path) -> None:
    pid_path = tmp_path / "run" / "child.pid"
    record = processes.spawn(
        SLEEPER, env=os.environ, cwd=tmp_path, log_path=tmp_path / "child.log", pid_path=pid_path
    )
    again = processes.read_pid_file(pid_path)
    assert again == record
    assert again is not None
    assert again.alive()
    assert again.stop(grace=5)
    assert not pid_path.exists()
    assert not record.alive()


def test_a_recycled_pid_is_not_taken_for_the_recorded_process(tmp_path: Path) -> None:
    # This test's own process is alive, but runs another command line.
    impostor = processes.PidFile(tmp_path / "x.pid", os.getpid(), ("caddy", "run"))
    assert not impostor.alive()
    (tmp_path / "bad.pid").write_text("not json")
    assert processes.read_pid_file(tmp_path / "bad.pid") is None
    assert processes.read_pid_file(tmp_path / "missing.pid") is None


def test_ports_and_listening() -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert processes.listening(server.getsockname()[1])
    assert not processes.listening(processes.free_port())


def test_log_tail_of_nothing() -> None:
    assert processes.log_tail(None) == "(no log)"
    assert processes.log_tail(Path("/nonexistent/log")) == "(no log)"
