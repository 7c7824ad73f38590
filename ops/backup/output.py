"""How the backup tasks talk: progress lines (stderr under --json), one JSON result
(stdout under --json, and/or a --report file), tables, sizes, confirmation."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO


class Output:
    """Where a task's lines and result go."""

    def __init__(self, as_json: bool = False, report: str | None = None) -> None:
        self.as_json = as_json
        self.report = Path(report) if report else None

    @property
    def stream(self) -> TextIO:
        """Human lines: stdout, or stderr when stdout carries JSON."""
        return sys.stderr if self.as_json else sys.stdout

    def say(self, line: str) -> None:
        """One human line."""
        print(line, file=self.stream, flush=True)

    def result(self, data: dict[str, Any]) -> None:
        """The machine-readable result: to the report file and/or stdout."""
        text = json.dumps(data, indent=2, default=str)
        if self.report is not None:
            self.report.parent.mkdir(parents=True, exist_ok=True)
            self.report.write_text(text + "\n", encoding="utf-8")
        if self.as_json:
            print(text, flush=True)


def human_size(size: int) -> str:
    """``1.5 MiB`` style."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join([lines[0], "  ".join("-" * width for width in widths), *lines[1:]])


def terminal_confirm() -> Callable[[str], bool] | None:
    """An interactive yes/no question, or None when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        """True when the operator types yes."""
        return input(f"{question} Type 'yes' to continue: ").strip().lower() == "yes"

    return ask
