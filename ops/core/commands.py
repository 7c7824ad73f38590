"""Running external programs: finding them, running them, and saying in one line what failed.

Every subprocess that runs to completion (git, uv, kubectl, railway, docker,
pg_dump's helpers, scanners, schemathesis, locust) goes through :func:`run`.
Long-lived children (servers, proxies) are :mod:`ops.core.processes`' job.
A missing program, a time-out and a failure each raise a distinct
:class:`CommandError` whose message names the program and the line of its
output that says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from ops.core.exits import CHECK_FAILED, OpsError

DEFAULT_TIMEOUT = 900.0
LINE_LIMIT = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CommandError(OpsError):
    """An external program could not be run or did not succeed; one line."""


class ToolNotFound(CommandError):
    """The program is not installed where it is looked for."""


class CommandTimedOut(CommandError):
    """The program did not finish in time (it was killed)."""


class CommandFailed(CommandError):
    """The program ran and exited with a status it should not have."""

    exit_code: ClassVar[int] = CHECK_FAILED


def lines(text: str) -> list[str]:
    """The non-empty lines of a program's output, stripped, without colour codes."""
    return [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]


def last_line(text: str, limit: int = LINE_LIMIT) -> str:
    """The last non-empty line of some output, shortened (``""`` when there is none)."""
    found = lines(text)
    return found[-1][:limit] if found else ""


def failure_line(*outputs: str, program: str = "", limit: int = LINE_LIMIT) -> str:
    """The line that says why a program failed: the last line naming an error in the
    first output that has any, else that output's last line; the program's own
    ``name:`` prefix removed."""
    for output in outputs:
        found = lines(output)
        if not found:
            continue
        named = [line for line in found if "error:" in line.lower()]
        chosen = named[-1] if named else found[-1]
        if program:
            chosen = chosen.removeprefix(f"{program}: ").removeprefix("error: ")
        return chosen[:limit]
    return "no output"


def describe(command: Sequence[str], words: int = 3) -> str:
    """The first words of a command line, for messages (``kubectl --namespace x``)."""
    head = [Path(command[0]).name, *command[1:words]] if command else ["(nothing)"]
    return " ".join(head)


@dataclass(frozen=True, slots=True)
class Completed:
    """What a program printed and how it exited."""

    command: tuple[str, ...]
    code: int
    stdout: str = ""
    stderr: str = ""
    raw_stdout: bytes = b""

    @property
    def ok(self) -> bool:
        """True when it exited 0."""
        return self.code == 0

    def checked(self, ok: Container[int] = (0,), words: int = 3) -> Completed:
        """Itself when the exit status is in ``ok``; else raise :class:`CommandFailed`."""
        if self.code in ok:
            return self
        program = Path(self.command[0]).name if self.command else ""
        reason = failure_line(self.stderr, self.stdout, program=program)
        raise CommandFailed(f"{describe(self.command, words)} failed (exit {self.code}): {reason}")


class Runner(Protocol):
    """Runs a command to completion (:func:`run`); tests substitute a recorder."""

    def __call__(
        self,
        command: Sequence[str],
        *,
        stdin: str | bytes | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Completed:
        """Run ``command`` and return how it ended."""


def run(
    command: Sequence[str],
    *,
    stdin: str | bytes | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    show_output: bool = False,
) -> Completed:
    """Run ``command`` capturing its output; never raises for an exit status.

    The output is kept as text (undecodable bytes replaced) and, for programs that
    print binary data, as the bytes of stdout -- or, with ``show_output``, goes to
    this process's own stdout and stderr (a tool whose report is its output).
    ``env`` replaces the environment when given (see :func:`ops.core.environ.child_env`).
    Raises :class:`ToolNotFound` when the program does not exist and
    :class:`CommandTimedOut` after ``timeout`` seconds.
    """
    argv = [str(part) for part in command]
    try:
        done = subprocess.run(  # noqa: S603 - every caller builds its arguments as a list
            argv,
            input=stdin.encode() if isinstance(stdin, str) else stdin,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=not show_output,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ToolNotFound(f"{Path(argv[0]).name}: command not found") from None
    except subprocess.TimeoutExpired:
        raise CommandTimedOut(f"{describe(argv)} did not finish within {timeout:g}s") from None
    out, err = done.stdout or b"", done.stderr or b""
    text = out.decode(errors="replace")
    return Completed(tuple(argv), done.returncode, text, err.decode(errors="replace"), out)


def check(
    command: Sequence[str],
    *,
    ok: Container[int] = (0,),
    stdin: str | bytes | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Completed:
    """:func:`run`, then raise :class:`CommandFailed` unless the exit status is in ``ok``."""
    return run(command, stdin=stdin, cwd=cwd, env=env, timeout=timeout).checked(ok)


def find_executable(
    name: str, *, hint: str, env: Mapping[str, str] | None = None, variable: str | None = None
) -> str:
    """Where program ``name`` is: ``$variable`` when set, beside this interpreter (the
    virtualenv a dependency group installed it into), else on ``PATH``.

    Raises :class:`ToolNotFound` whose message ends with ``hint`` (how to install it).
    """
    if variable and env is not None and env.get(variable):
        named = env[variable]
        # A bare name (UV=uv) is looked up on PATH, as a shell would.
        candidate = Path(
            named if os.sep in named else shutil.which(named, path=env.get("PATH")) or named
        )
        if candidate.is_file():
            return str(candidate)
        raise ToolNotFound(f"{name}: ${variable} names {named}, which does not exist")
    for candidate in _candidates(name, env):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ToolNotFound(f"{name} not found: {hint}")


def _candidates(name: str, env: Mapping[str, str] | None) -> Iterable[Path]:
    yield Path(sys.executable).parent / name
    path = env.get("PATH") if env is not None else None
    found = shutil.which(name, path=path)
    if found:
        yield Path(found)
