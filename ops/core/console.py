"""How an operation talks to people and machines -- the same for every task.

- progress lines go to stdout, or to stderr under ``--json`` so that stdout
  carries only the result;
- the result is one JSON document: printed under ``--json``, written to
  ``--report PATH`` (atomically: never a half-written file);
- a Markdown summary is appended to ``$GITHUB_STEP_SUMMARY`` on GitHub Actions;
- approval of production and destructive actions is :meth:`Console.approve`:
  ``--yes``, or typing the expected word at a terminal, else a refusal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ops.core.exits import CannotRun

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def to_json(data: object) -> str:
    """Indented JSON; dates, paths and the like as their text."""
    return json.dumps(data, indent=2, default=str)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def append_step_summary(markdown: str, env: Mapping[str, str]) -> bool:
    """Append to the GitHub job summary when running there; True if written."""
    target = env.get(STEP_SUMMARY)
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def program_parser(prog: str, doc: str | None, report: str) -> argparse.ArgumentParser:
    """The parser of a ``python -m`` program that reports through a :class:`Console`: its
    module's ``doc`` as the description (as written), ``--json``, and ``--report``
    (``report`` says where the result goes without it)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--report", type=Path, help=f"the JSON result (default {report})")
    return parser


class Console:
    """Where one operation's lines, result, summary and questions go."""

    def __init__(
        self,
        *,
        as_json: bool = False,
        report: Path | None = None,
        env: Mapping[str, str] | None = None,
        ask: Callable[[str], str] | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.as_json = as_json
        self.report = report
        self.env = dict(env or {})
        self._ask = ask or input
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self._lines_to_stderr = as_json

    @property
    def stream(self) -> TextIO:
        """Human lines: stdout, or stderr when stdout carries JSON."""
        return sys.stderr if self._lines_to_stderr else sys.stdout

    def part(self, report: Path | None = None) -> Console:
        """The console of a sub-operation (a backup inside a deploy): its lines go where
        this console's go, its result only to ``report`` -- never to this one's stdout
        or report."""
        child = Console(report=report, env=self.env, ask=self._ask, interactive=self.interactive)
        child._lines_to_stderr = self._lines_to_stderr
        return child

    def say(self, line: str) -> None:
        """One human line."""
        print(line, file=self.stream, flush=True)

    def warn(self, line: str) -> None:
        """One line about something wrong (always stderr)."""
        print(line, file=sys.stderr, flush=True)

    def result(self, data: Mapping[str, Any]) -> None:
        """The machine-readable result: to ``--report`` and, under ``--json``, stdout."""
        text = to_json(data)
        if self.report is not None:
            write_atomically(self.report, text + "\n")
        if self.as_json:
            print(text, flush=True)

    def summary(self, markdown: str) -> None:
        """A Markdown block for the GitHub job summary (nothing elsewhere)."""
        append_step_summary(markdown, self.env)

    def approve(self, question: str, expected: str, *, yes: bool, needed_for: str) -> str:
        """Approval of something that needs it: ``yes`` (``--yes``), or the operator typing
        ``expected`` at a terminal. Returns how it was approved; raises
        :class:`~ops.core.exits.CannotRun` otherwise."""
        if yes:
            return "approved with --yes"
        if not self.interactive:
            raise CannotRun(f"{needed_for} needs approval: run it at a terminal, or pass --yes")
        print(f"{question} Type '{expected}' to confirm:", file=sys.stderr, flush=True)
        if self._ask("> ").strip() != expected:
            raise CannotRun("not approved")
        return "approved interactively"


def human_size(size: int) -> str:
    """``1.5 MiB`` style."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    rendered = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join([rendered[0], "  ".join("-" * w for w in widths), *rendered[1:]])
