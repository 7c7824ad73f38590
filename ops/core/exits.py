"""The one exit-code convention of every task, session tool and command-line program.

====  =======================================================================
code  meaning
====  =======================================================================
0     done: everything asked for happened and every check passed
1     a check failed: a gate, a verification, a threshold, a step
2     cannot run: bad input, a missing tool, an unreachable service, a refusal
3     inconclusive: nothing failed, but something could not be decided
====  =======================================================================

Expected failures are raised as one of the errors below; the entry point
(an invoke task, a ``python -m`` program) prints the one-line message and
exits with the error's code. docs/conventions.md says the same for users.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ClassVar

DONE = 0
CHECK_FAILED = 1
CANNOT_RUN = 2
INCONCLUSIVE = 3


class OpsError(Exception):
    """An expected failure; the message is one line, :attr:`exit_code` says what kind."""

    exit_code: ClassVar[int] = CANNOT_RUN


class CannotRun(OpsError):
    """The operation could not be attempted (bad input, missing tool, unreachable service)."""

    exit_code: ClassVar[int] = CANNOT_RUN


class CheckFailed(OpsError):
    """The operation ran and a check, gate or step of it failed."""

    exit_code: ClassVar[int] = CHECK_FAILED


class Inconclusive(OpsError):
    """The operation ran, nothing failed, but the verdict could not be reached."""

    exit_code: ClassVar[int] = INCONCLUSIVE


def one_line(error: BaseException) -> str:
    """The first non-empty line of an error's message, or its type's name."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def exit_code_of(error: BaseException) -> int:
    """The exit code an error stands for (anything unexpected cannot run)."""
    return error.exit_code if isinstance(error, OpsError) else CANNOT_RUN


def exit_status(prog: str, work: Callable[[], int]) -> int:
    """What ``work`` returns; an expected failure prints ``prog: <its line>`` on stderr and
    returns its code instead -- how a ``python -m`` program ends."""
    try:
        return work()
    except OpsError as error:
        print(f"{prog}: {one_line(error)}", file=sys.stderr)
        return error.exit_code
