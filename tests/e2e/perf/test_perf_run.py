"""``python -m ops.perf`` end to end: a production-shaped server started here (PostgreSQL,
Redis, the image's workers), real accounts, locust's open workload, the verdict -- passing,
failing on an objective it cannot meet, a smoke run on SQLite, a baseline from the
history -- and no password anywhere it writes.

The objectives are relaxed (tests/e2e/perf/relaxed.toml) so that a few seconds of load
on a shared machine decide; the failing run asks for what no server can do."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ops.core.exits import CHECK_FAILED, DONE, INCONCLUSIVE
from ops.perf import generator
from ops.perf import run as perf
from ops.perf.scenarios import Plan

RELAXED = Path(__file__).with_name("relaxed.toml")
SHORT = ["--rate", "20", "--duration", "6", "--warmup", "1", "--seed", "7"]
ORDERS = "POST /v1/orders"

pytestmark = pytest.mark.slow


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords of every plan a run writes (to look for them where they must not be)."""
    seen: list[str] = []
    write = Plan.write

    def recording(plan: Plan, path: Path) -> None:
        seen.extend(account.password for account in plan.accounts)
        write(plan, path)

    monkeypatch.setattr(Plan, "write", recording)
    return seen


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """One run with its reports and history under ``tmp_path``; the exit status and verdict."""
    reports, history = tmp_path / "reports", tmp_path / "history"
    code = perf.main([*SHORT, "--reports", str(reports), "--history", str(history), *args])
    verdict_file = reports / "verdict.json"
    return code, json.loads(verdict_file.read_text()) if verdict_file.exists() else {}


def written(tmp_path: Path) -> str:
    """Everything a run wrote, as one text."""
    return "\n".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_a_run_that_meets_its_objectives_passes_and_becomes_the_next_baseline(
    tmp_path: Path, passwords: list[str]
) -> None:
    code, verdict = run(tmp_path, "--slo", str(RELAXED))
    assert (code, verdict["status"]) == (DONE, "passed"), verdict.get("reason")
    assert "(PostgreSQL and Redis, 2 worker(s)" in verdict["context"]["host"]
    assert verdict["requests"][ORDERS]["count"] > 0
    # pgbench ran first on the same server: the order rate is reported against it.
    reference = verdict["database_reference"]
    assert reference["tps"] > 0
    assert reference["settings"] == {"seconds": 1, "clients": 2, "threads": 1, "scale": 1}
    assert reference["ratio"] == pytest.approx(reference["order_rate"] / reference["tps"], abs=1e-4)
    # The server's own counters agreed with the generator's.
    assert ORDERS in verdict["cross_check"]["requests"]
    counted = [rule for rule in verdict["rules"] if rule["kind"] == "cross-check"]
    assert counted
    assert all(rule["ok"] for rule in counted)
    stored = sorted((tmp_path / "history" / "trader-mix").glob("*.json"))
    assert len(stored) == 1

    code, again = run(tmp_path, "--slo", str(RELAXED), "--baseline", "latest")
    assert code in (DONE, CHECK_FAILED), again.get("reason")
    assert again["baseline"]["path"] == str(stored[0])
    assert len(passwords) == 8
    assert all(password not in written(tmp_path) for password in passwords)


def test_an_objective_no_server_meets_fails_the_run_naming_it(tmp_path: Path) -> None:
    impossible = tmp_path / "impossible.toml"
    orders = '[requests."POST /v1/orders"]\np50_ms = 500\np95_ms = 1500\np99_ms = 3000\n'
    text = RELAXED.read_text()
    assert orders in text
    unmeetable = re.sub(r"= \d+", "= 0.01", orders)
    impossible.write_text(text.replace(orders, unmeetable))
    code, verdict = run(tmp_path, "--slo", str(impossible), "--no-store")
    assert (code, verdict["status"]) == (CHECK_FAILED, "failed")
    assert verdict["reason"].startswith(f"{ORDERS} p50 ")
    assert "> 0.01 ms" in verdict["reason"]
    assert not (tmp_path / "history").exists()


def test_on_sqlite_with_a_master_and_workers_the_run_is_a_smoke_run(tmp_path: Path) -> None:
    code, verdict = run(tmp_path, "--slo", str(RELAXED), "--backend", "sqlite", "--workers", "2",
                        "--no-store")  # fmt: skip
    assert (code, verdict["status"]) == (INCONCLUSIVE, "smoke")
    assert verdict["context"]["smoke_reason"] == (
        "SQLite and the in-process cache are not the production shape"
    )
    assert verdict["requests"][ORDERS]["count"] > 0
    assert verdict["database_reference"] is None
    assert "no database reference: SQLite: no PostgreSQL server to measure" in verdict["notes"]
    # Both workers' figures, merged once each: every account logged in exactly once.
    assert verdict["requests"]["POST /v1/auth/token"]["count"] == 4
    measured = json.loads((tmp_path / "reports" / "measurements.json").read_text())
    assert measured["workers"] == 2


def test_a_stale_verdict_is_never_left_behind_when_a_run_cannot_start(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "verdict.json").write_text('{"status": "passed"}')
    (reports / "keep.txt").write_text("not the run's")
    code = perf.main([*SHORT, "--reports", str(reports), "--host", "http://127.0.0.1:9",
                      "--no-store"])  # fmt: skip
    assert code == 2
    assert not (reports / "verdict.json").exists()
    assert (reports / "keep.txt").exists()


def test_a_locustfile_that_cannot_import_cannot_run_and_leaves_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "locustfile.py"
    broken.write_text("import a_module_that_does_not_exist\n")
    monkeypatch.setattr(generator, "LOCUSTFILE", broken)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "verdict.json").write_text('{"status": "passed"}')
    code, verdict = run(tmp_path, "--backend", "sqlite", "--no-store")
    assert (code, verdict) == (2, {})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("perf: locust wrote no measurements: "), line
    assert "No module named 'a_module_that_does_not_exist'" in line
