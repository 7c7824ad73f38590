"""Child processes: start one, wait for it, read its log, stop it by its process group.

Two kinds, one mechanism:

- :class:`Process` -- a child this program owns and stops before it ends (a test
  server, the app a drill starts, a port-forward);
- :func:`spawn` -- a child that outlives the command that started it (a release
  slot, the proxy), recorded in a pid file with its command line so that a later
  command can recognise it -- or see that the pid now belongs to another program.

Every child runs in its own session, so one signal reaches its workers too, and
writes to a log file whose tail failures quote. :func:`wait_for` is the one
poll-until-ready loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

Probe = Callable[[], tuple[bool, str]]
"""One look at something being waited for: (ready, what was seen)."""

STOP_GRACE_SECONDS = 20.0
KILL_WAIT_SECONDS = 10.0


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: Sequence[str], cpus: Sequence[int] | None) -> list[str]:
    """``command`` restricted to the CPUs ``cpus`` (``taskset -c``), or as it is when none
    are given; the restriction is inherited by every process it starts."""
    if not cpus:
        return list(command)
    return ["taskset", "-c", ",".join(str(cpu) for cpu in cpus), *command]


def available_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on."""
    return tuple(sorted(os.sched_getaffinity(0)))


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last lines of a log file (``(no log)`` when there is none)."""
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class Waited:
    """How a wait ended: ready or not, the last thing seen, whether the process died."""

    ready: bool
    seen: str
    exited: bool
    seconds: float


def wait_for(
    probe: Probe,
    *,
    timeout: float,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
) -> Waited:
    """Call ``probe`` until it says ready, ``alive`` says the process died, or ``timeout``
    seconds pass (the probe is tried at least once)."""
    started = time.monotonic()
    deadline = started + timeout
    seen = "nothing yet"
    while True:
        if alive is not None and not alive():
            return Waited(False, seen, True, time.monotonic() - started)
        ready, seen = probe()
        if ready:
            return Waited(True, seen, False, time.monotonic() - started)
        if time.monotonic() >= deadline:
            return Waited(False, seen, False, time.monotonic() - started)
        time.sleep(interval)


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (one that is already gone is ignored)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _stop_group(pid: int, alive: Callable[[], bool], grace: float) -> bool:
    """SIGTERM the group, wait up to ``grace`` s, then SIGKILL; True if it stopped in time."""
    if not alive():
        return True
    signal_group(pid, signal.SIGTERM)
    graceful = wait_for(lambda: (not alive(), ""), timeout=grace, interval=0.05).ready
    if not graceful:
        signal_group(pid, signal.SIGKILL)
        wait_for(lambda: (not alive(), ""), timeout=KILL_WAIT_SECONDS, interval=0.05)
    return graceful


def _popen(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path | None
) -> subprocess.Popen[bytes]:
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        output = (
            stack.enter_context(log_path.open("ab")) if log_path is not None else subprocess.DEVNULL
        )
        return subprocess.Popen(  # noqa: S603 - commands built as lists by their callers
            [str(part) for part in command],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its workers stop with it
        )


class Process:
    """A child process this program starts and stops, logging to a file."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path | None = None,
    ) -> None:
        self.command = [str(part) for part in command]
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Start it (once)."""
        if self.popen is None:
            self.popen = _popen(self.command, self.env, self.cwd, self.log_path)
        return self

    @property
    def pid(self) -> int:
        """Its process id (it must have been started)."""
        assert self.popen is not None, "not started"
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status once it has ended."""
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        """True while it runs."""
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """SIGTERM to its group, SIGKILL after ``grace`` s; True if it stopped gracefully."""
        if self.popen is None:
            return True
        graceful = _stop_group(self.popen.pid, self.alive, grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=KILL_WAIT_SECONDS)
        return graceful

    def kill(self) -> None:
        """Stop abruptly (SIGKILL to the whole group), as a crash would."""
        if self.alive():
            assert self.popen is not None
            signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines it wrote."""
        return log_tail(self.log_path, lines)

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class PidFile:
    """A detached child as recorded on disk: its pid and its command line."""

    path: Path
    pid: int
    command: tuple[str, ...]

    def alive(self) -> bool:
        """True while the recorded pid runs the recorded command (not a recycled pid)."""
        _reap(self.pid)
        if _state(self.pid) in (None, "Z", "X"):
            return False
        current = command_of(self.pid)
        # Right after exec the command line can briefly read empty.
        return current is None or current == self.command

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Stop it (SIGTERM, SIGKILL after ``grace`` s) and remove the pid file; True if
        it stopped gracefully or was not running."""
        graceful = _stop_group(self.pid, self.alive, grace)
        self.path.unlink(missing_ok=True)
        return graceful


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    pid_path: Path,
) -> PidFile:
    """Start ``command`` detached, logging to ``log_path``; record it in ``pid_path``."""
    popen = _popen(command, env, cwd, log_path)
    record = PidFile(pid_path, popen.pid, tuple(str(part) for part in command))
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = pid_path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"pid": record.pid, "command": list(record.command)}))
    temporary.replace(pid_path)
    return record


def read_pid_file(path: Path) -> PidFile | None:
    """The recorded child, or None when there is no (readable) pid file."""
    try:
        data = json.loads(path.read_text())
        return PidFile(path, int(data["pid"]), tuple(data["command"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def command_of(pid: int) -> tuple[str, ...] | None:
    """The command line of a running process (None when there is no such process)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    parts = raw.rstrip(b"\0").split(b"\0")
    return tuple(part.decode(errors="replace") for part in parts) if raw else None


def _state(pid: int) -> str | None:
    """The process state letter from /proc (None when there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _reap(pid: int) -> None:
    # Our own children linger as zombies until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
