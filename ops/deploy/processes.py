"""Long-running child processes that outlive the command that started them.

Each is started in its own session (so a whole process group can be signalled),
logs to a file, and is recorded in a pid file holding the pid and the command
line; a pid file whose process is gone, or whose pid now belongs to another
program (after a reboot), is recognised as stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PidFile:
    """What was started: pid and command line."""

    path: Path
    pid: int
    command: tuple[str, ...]

    def alive(self) -> bool:
        """True while the recorded process runs the recorded command."""
        _reap(self.pid)
        if _state(self.pid) in (None, "Z", "X"):
            return False
        current = command_of(self.pid)
        # Right after exec the command line can briefly read empty.
        return current is None or current == self.command


def _state(pid: int) -> str | None:
    """The process state letter from /proc (None when there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def command_of(pid: int) -> tuple[str, ...] | None:
    """The command line of a running process (None when it does not exist)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    parts = raw.rstrip(b"\0").split(b"\0")
    return tuple(part.decode(errors="replace") for part in parts) if raw else None


def read_pid_file(path: Path) -> PidFile | None:
    """The recorded process, or None when there is no (readable) pid file."""
    try:
        data = json.loads(path.read_text())
        return PidFile(path, int(data["pid"]), tuple(data["command"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def spawn(
    command: Sequence[str],
    *,
    pid_path: Path,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
) -> PidFile:
    """Start ``command`` detached, logging to ``log_path``; record it in ``pid_path``."""
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - commands built by this package
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record = PidFile(pid_path, process.pid, tuple(command))
    temporary = pid_path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"pid": process.pid, "command": list(command)}))
    temporary.replace(pid_path)
    return record


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (ignoring one that is already gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def wait_gone(record: PidFile, timeout: float) -> bool:
    """Wait until the process has exited; True if it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not record.alive():
            return True
        time.sleep(0.05)
    return not record.alive()


def _reap(pid: int) -> None:
    # Our own children linger as zombies until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(record: PidFile, grace: float) -> bool:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. True if it stopped gracefully."""
    if not record.alive():
        record.path.unlink(missing_ok=True)
        return True
    signal_group(record.pid, signal.SIGTERM)
    graceful = wait_gone(record, grace)
    if not graceful:
        signal_group(record.pid, signal.SIGKILL)
        wait_gone(record, 10)
    record.path.unlink(missing_ok=True)
    return graceful


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file."""
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
