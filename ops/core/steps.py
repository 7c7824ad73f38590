"""The steps of an operation: run each, time it, print one line, keep the record.

Deploys, rollbacks and DR drills (and every new operation) record their steps
with :class:`StepLog`: a step that raises is recorded as failed with the error's
first line and stops the operation with :class:`StepFailed`; the record is the
same :class:`Step` in every JSON report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from ops.core.exits import CheckFailed, OpsError, one_line

T = TypeVar("T")
NAME_WIDTH = 10


@dataclass(slots=True)
class Step:
    """One step: its name, whether it passed, how long it took, what it found."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def line(self, width: int = NAME_WIDTH) -> str:
        """The one line a terminal shows for it (names padded to ``width``)."""
        mark = "ok  " if self.ok else "FAIL"
        return f"  {mark} {self.name:<{width}} {self.seconds:6.1f}s  {self.detail}"


class StepFailed(CheckFailed):
    """A step failed; the message is ``<step>: <why>``."""

    def __init__(self, step: Step) -> None:
        super().__init__(f"{step.name}: {step.detail}")
        self.step = step


def describe_result(result: object) -> str:
    """What a step returned, as its detail: text as it is, a list joined with ``; ``."""
    if isinstance(result, str):
        return result
    if isinstance(result, list | tuple):
        return "; ".join(str(item) for item in result)
    return ""


def error_detail(error: Exception) -> str:
    """An error as a step's detail: an expected one by its message, a surprise with its type."""
    if isinstance(error, OpsError | OSError):
        return one_line(error)
    return f"{type(error).__name__}: {one_line(error)}"


@dataclass
class StepLog:
    """The steps of one operation, printed as they finish."""

    say: Callable[[str], None]
    steps: list[Step] = field(default_factory=list)
    width: int = NAME_WIDTH
    """How wide step names are padded: an operation with long step names sets its longest."""

    def run(
        self, name: str, action: Callable[[], T], describe: Callable[[T], str] = describe_result
    ) -> T:
        """Run ``action`` as step ``name``; its result's description is the detail. Any
        exception (but an interrupt) fails the step and raises :class:`StepFailed`."""
        started = time.monotonic()
        try:
            result = action()
        except Exception as error:  # every failure, expected or not, ends the step cleanly
            step = self.record(name, False, time.monotonic() - started, error_detail(error))
            raise StepFailed(step) from error
        self.record(name, True, time.monotonic() - started, describe(result))
        return result

    def record(self, name: str, ok: bool, seconds: float, detail: str) -> Step:
        """Add a step that was judged elsewhere, and print it."""
        step = Step(name, ok, round(seconds, 3), detail)
        self.steps.append(step)
        self.say(step.line(self.width))
        return step

    @property
    def failed(self) -> list[Step]:
        """The steps that failed, in order."""
        return [step for step in self.steps if not step.ok]
