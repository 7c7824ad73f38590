"""One console, one step recorder, one append-only log for every operation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.core.console import Console, append_step_summary, human_size, table
from ops.core.exits import CannotRun, CheckFailed
from ops.core.journal import Journal
from ops.core.steps import StepFailed, StepLog


def test_progress_goes_to_stderr_under_json(capsys: pytest.CaptureFixture[str]) -> None:
    Console().say("human")
    assert capsys.readouterr().out == "human\n"
    machine = Console(as_json=True)
    machine.say("progress")
    machine.result({"ok": True})
    captured = capsys.readouterr()
    assert captured.err == "progress\n"
    assert json.loads(captured.out) == {"ok": True}


def test_the_report_file_is_written_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "reports" / "run.json"
    Console(report=report).result({"ok": False, "at": tmp_path})
    assert json.loads(report.read_text()) == {"ok": False, "at": str(tmp_path)}
    assert capsys.readouterr().out == "", "without --json nothing machine-readable on stdout"
    assert [p.name for p in report.parent.iterdir()] == ["run.json"], "no temporary file left"


def test_a_sub_operation_keeps_its_result_to_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outer = Console(as_json=True, report=tmp_path / "outer.json")
    inner = outer.part(tmp_path / "inner.json")
    inner.say("inner progress")
    inner.result({"inner": True})
    outer.result({"outer": True})
    captured = capsys.readouterr()
    assert captured.err == "inner progress\n", "lines go where the outer console's go"
    assert json.loads(captured.out) == {"outer": True}, "only the outer result on stdout"
    assert json.loads((tmp_path / "inner.json").read_text()) == {"inner": True}
    assert json.loads((tmp_path / "outer.json").read_text()) == {"outer": True}


def test_step_summary_only_on_github(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert not append_step_summary("# x", {})
    assert append_step_summary("# one", {"GITHUB_STEP_SUMMARY": str(summary)})
    Console(env={"GITHUB_STEP_SUMMARY": str(summary)}).summary("two\n")
    assert summary.read_text() == "# one\ntwo\n"


def test_approval_by_flag_by_typing_or_refused() -> None:
    assert Console(interactive=False).approve("?", "prod", yes=True, needed_for="x") == (
        "approved with --yes"
    )
    with pytest.raises(CannotRun, match=r"^deploy to production needs approval: run it at a"):
        Console(interactive=False).approve(
            "?", "prod", yes=False, needed_for="deploy to production"
        )
    typed = Console(interactive=True, ask=lambda _prompt: "production")
    assert (
        typed.approve("Deploy?", "production", yes=False, needed_for="x")
        == "approved interactively"
    )
    wrong = Console(interactive=True, ask=lambda _prompt: "yes")
    with pytest.raises(CannotRun, match=r"^not approved$"):
        wrong.approve("Deploy?", "production", yes=False, needed_for="x")


def test_sizes_and_tables() -> None:
    assert [human_size(n) for n in (5, 1536, 3 * 1024**3, 2 * 1024**5)] == [
        "5 B", "1.5 KiB", "3.0 GiB", "2048.0 TiB"
    ]  # fmt: skip
    assert table(["a", "bb"], [["1", "2"], ["333", ""]]).splitlines() == [
        "a    bb", "---  --", "1    2", "333"
    ]  # fmt: skip


def test_steps_are_recorded_printed_and_stop_at_a_failure() -> None:
    lines: list[str] = []
    log = StepLog(lines.append)
    assert log.run("build", lambda: "built v2") == "built v2"
    assert log.run("checks", lambda: ["a ok", "b ok"]) == ["a ok", "b ok"]
    with pytest.raises(StepFailed, match=r"^smoke: GET /health: expected 200, got 503$") as failed:
        log.run("smoke", _raise(CheckFailed("GET /health: expected 200, got 503")))
    assert failed.value.exit_code == 1
    assert [(s.name, s.ok, s.detail) for s in log.steps] == [
        ("build", True, "built v2"), ("checks", True, "a ok; b ok"),
        ("smoke", False, "GET /health: expected 200, got 503"),
    ]  # fmt: skip
    assert lines[0].startswith("  ok   build")
    assert lines[2].startswith("  FAIL smoke")
    assert lines[2].endswith("expected 200, got 503")
    assert log.failed == [log.steps[2]]
    assert set(log.steps[0].to_dict()) == {"name", "ok", "seconds", "detail"}


def test_a_surprise_fails_its_step_with_its_type() -> None:
    log = StepLog(lambda _line: None)
    with pytest.raises(StepFailed, match=r"^verify: KeyError: 'version'$"):
        log.run("verify", _raise(KeyError("version")))


def test_the_journal_appends_and_skips_a_torn_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "logs" / "history.jsonl")
    assert journal.records() == []
    journal.append({"id": 1, "result": "succeeded"})
    journal.append({"id": 2, "when": tmp_path})
    with open(journal.path, "a") as handle:
        handle.write('{"id": 3, "resu')  # a writer killed mid-line
    assert journal.records() == [{"id": 1, "result": "succeeded"}, {"id": 2, "when": str(tmp_path)}]
    assert os.path.getsize(journal.path) > 0


def _raise(error: Exception) -> Callable[[], str]:
    def action() -> str:
        raise error

    return action
