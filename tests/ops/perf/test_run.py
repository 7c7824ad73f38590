"""The load test's thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.perf import run as perf
from ops.perf.run import Totals, read_totals, violations

NOTHING_SUCCEEDED = "failure ratio 100.00% exceeds 1.00% (0 of 0)"
HEADER = "Type,Name,Request Count,Failure Count,95%\n"


def test_totals_come_from_the_aggregated_row(tmp_path: Path) -> None:
    stats = tmp_path / "locust_stats.csv"
    stats.write_text(HEADER + "GET,/x,10,0,20\n,Aggregated,120,3,140\n")
    assert read_totals(stats) == Totals(120, 3, 140.0)
    stats.write_text(HEADER + "GET,/x,10,0,20\n")
    with pytest.raises(ValueError, match="no Aggregated row"):
        read_totals(stats)


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        (Totals(1000, 0, 100), []),
        (Totals(1000, 20, 100), ["failure ratio 2.00% exceeds 1.00% (20 of 1000)"]),
        (Totals(1000, 0, 900), ["p95 900 ms exceeds 500 ms"]),
        (
            Totals(0, 0, 0),
            ["no requests were made", "failure ratio 100.00% exceeds 1.00% (0 of 0)"],
        ),
    ],
)
def test_thresholds(totals: Totals, expected: list[str]) -> None:
    assert violations(totals, 0.01, 500) == expected


@pytest.mark.slow
def test_a_dead_host_breaks_the_failure_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(perf, "PERF_DIR", tmp_path)
    monkeypatch.setenv("PERF_USER", "nobody@example.com")
    monkeypatch.setenv("PERF_PASSWORD", "not-a-real-password")
    code = perf.main(["--host", "http://127.0.0.1:1", "--run-time", "2s", "--users", "2"])
    assert code == 1
    assert "threshold broken: failure ratio 100.00%" in capsys.readouterr().err


def test_a_deployed_host_needs_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PERF_USER", raising=False)
    monkeypatch.delenv("PERF_PASSWORD", raising=False)
    assert perf.main(["--host", "https://staging.example.test"]) == 2
    assert capsys.readouterr().err.strip() == (
        "perf: PERF_USER: required to log in to https://staging.example.test"
    )


@pytest.mark.slow
def test_a_local_server_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perf, "PERF_DIR", tmp_path)
    assert perf.main(["--run-time", "3s", "--users", "3", "--max-p95-ms", "5000"]) == 0
    assert (tmp_path / "report.html").exists()
