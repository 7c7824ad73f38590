"""Backups, verifications and drills tell a real Pushgateway (Debian's
prometheus-pushgateway) what happened; a gateway that is down never fails a backup."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.backup import operations
from ops.core.console import Console
from ops.core.environ import child_env
from ops.core.processes import Process, free_port, wait_for
from tests.support import needs
from tests.support.workspace import Workspace

HINT = "apt-get install -y prometheus-pushgateway"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    """A Pushgateway on a free loopback port; yields its URL."""
    binary = needs.program("prometheus-pushgateway", HINT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [binary, f"--web.listen-address=127.0.0.1:{port}"]
    with Process(
        command, env=child_env(os.environ), cwd=tmp_path, log_path=tmp_path / "pg.log"
    ) as process:

        def answers() -> tuple[bool, str]:
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, "ready"
            except httpx.HTTPError as error:
                return False, type(error).__name__

        assert wait_for(answers, timeout=30, alive=process.alive).ready, process.log_tail()
        yield url


def gauges(url: str) -> dict[tuple[str, str, str], float]:
    """(gauge, environment, kind) -> value of every trading_* gauge the gateway holds."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("trading_"):
                labels = sample.labels
                found[(sample.name, labels.get("environment", ""), labels.get("kind", ""))] = (
                    sample.value
                )
    return found


def test_a_backup_and_its_verification_are_pushed(
    seeded: Workspace, gateway: str, tmp_path: Path
) -> None:
    context = seeded.context("demo", PUSHGATEWAY_URL=gateway)
    result = operations.backup(context, ("db",), dry_run=False, verify=True, console=Console())
    manifest = result["backups"][0]["manifest"]
    pushed = gauges(gateway)
    assert pushed[("trading_backup_last_size_bytes", "demo", "db")] == sum(
        obj["size"] for obj in manifest["objects"]
    )
    assert pushed[("trading_backup_last_success_timestamp_seconds", "demo", "db")] > 0
    assert pushed[("trading_backup_last_verification_success", "demo", "db")] == 1
    assert ("trading_backup_last_duration_seconds", "demo", "db") in pushed


def test_no_gateway_means_nothing_pushed_and_a_dead_one_only_warns(
    seeded: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = seeded.context("demo")
    operations.backup(quiet, ("db",), dry_run=False, verify=False, console=Console())
    assert "Pushgateway" not in capsys.readouterr().out
    dead = seeded.context("demo", PUSHGATEWAY_URL=f"http://127.0.0.1:{free_port()}")
    result = operations.backup(dead, ("db",), dry_run=False, verify=False, console=Console())
    assert result["backups"][0]["ok"], "the backup itself succeeded"
    assert "warning: metrics not pushed to the Pushgateway: URLError" in capsys.readouterr().out


def test_a_drill_is_pushed(seeded: Workspace, gateway: str, tmp_path: Path) -> None:
    context = seeded.context("demo", PUSHGATEWAY_URL=gateway)
    operations.backup(context, ("db",), dry_run=False, verify=False, console=Console())
    operations.dr_drill(context, "latest", server=None, report_dir=tmp_path, console=Console())
    pushed = gauges(gateway)
    assert pushed[("trading_drill_last_success", "demo", "")] == 1
    assert pushed[("trading_drill_last_timestamp_seconds", "demo", "")] > 0
