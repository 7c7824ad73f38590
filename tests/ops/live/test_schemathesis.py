"""The live fuzzing gate: a real server, the schemathesis CLI, and a failure when checks fail."""

from __future__ import annotations

import pytest

from ops.live import schemathesis


@pytest.mark.slow
def test_live_server_passes_a_short_fuzz() -> None:
    assert schemathesis.main(["--max-examples", "3", "--phases", "examples,coverage"]) == 0


@pytest.mark.slow
def test_gate_fails_when_the_server_breaks_its_contract() -> None:
    # A budget no response can meet makes the response-time check fail.
    assert (
        schemathesis.main(
            ["--max-examples", "2", "--phases", "examples", "--max-response-time", "0.000001"]
        )
        != 0
    )


def test_command_runs_every_check_with_the_token() -> None:
    command = schemathesis.schemathesis_command("http://127.0.0.1:1", "tok", ["--seed", "1"])
    assert command[1:3] == ["run", "http://127.0.0.1:1/openapi.json"]
    assert command[command.index("--checks") + 1] == "all"
    assert "Authorization: Bearer tok" in command
    assert command[-2:] == ["--seed", "1"]


def test_the_second_pass_keeps_the_limits_the_app_ships_and_reports_apart() -> None:
    assert schemathesis.default_limits() == {
        "RATE_LIMIT_ENABLED": "True", "RATE_LIMIT_PER_IP": "600", "RATE_LIMIT_PER_USER": "300",
        "RATE_LIMIT_WINDOW_SECONDS": "60",
    }  # fmt: skip
    command = schemathesis.schemathesis_command("http://h", "tok", [], "api-default-limits")
    assert command[command.index("--report-dir") + 1].endswith("reports/api-default-limits")
    assert command[command.index("--report-junit-path") + 1].endswith("api-default-limits.xml")
