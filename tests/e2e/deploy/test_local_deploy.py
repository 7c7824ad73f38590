"""`invoke deploy` end to end on the local platform: a real Caddy, real app processes,
an independent load generator on fresh and keep-alive connections, GET and POST.

The tests run in order and share one environment (module fixture), as a
release history does: v1, v2 under load, two bad releases refused, a rollback,
the lock, notifications, an automatic rollback, and recovery after a crash.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from ops.live.client import TradingClient
from tests.e2e.deploy import breakages
from tests.e2e.deploy.conftest import ENV_NAME, DeployEnv, broken_source
from tests.support.app import DEMO_PASSWORD
from tests.support.loadgen import LoadGenerator
from tests.support.webhook import Webhook

pytestmark = pytest.mark.slow


def deploy_under_load(deploy_env: DeployEnv, *args: str) -> tuple[int, str, dict[str, object]]:
    """Run ``invoke ARGS`` while the load generator runs; returns (exit, output, load summary)."""
    token = TradingClient(deploy_env.url).login("alice@example.com", DEMO_PASSWORD)
    generator = LoadGenerator(deploy_env.url, token)
    generator.start()
    time.sleep(1.0)
    result = deploy_env.invoke(*args)
    time.sleep(1.0)
    return result.returncode, result.stdout + result.stderr, generator.stop()


def test_dry_run_changes_nothing(deploy_env: DeployEnv) -> None:
    result = deploy_env.invoke("deploy", "--env", ENV_NAME, "--version", "v1", "--dry-run")
    assert result.returncode == 0, result.stderr
    planned = re.findall(r"^ +\d+\. (\w+) ", result.stdout, flags=re.MULTILINE)
    assert planned[:5] == ["lock", "build", "migrate", "start", "readiness"]
    assert "dry run: nothing changed" in result.stdout
    assert not deploy_env.state.exists()


def test_first_deploy(deploy_env: DeployEnv) -> None:
    result = deploy_env.invoke("deploy", "--env", ENV_NAME, "--version", "v1", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["result"] == "succeeded"
    assert [step["name"] for step in record["steps"]][-3:] == ["drain", "verify", "prune"]
    assert "ok   verify" in result.stderr, "under --json progress goes to stderr"
    assert deploy_env.serving() == "v1"


def test_open_orders_survive_a_zero_downtime_deploy(deploy_env: DeployEnv) -> None:
    token = TradingClient(deploy_env.url).login("bob@example.com", DEMO_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    order = httpx.post(
        f"{deploy_env.url}/v1/orders",
        json={"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "3", "limit_price": "100"},
        headers=headers,
        timeout=10,
    ).json()
    assert order["status"] == "new"

    code, output, load = deploy_under_load(
        deploy_env, "deploy", "--env", ENV_NAME, "--version", "v2"
    )
    assert code == 0, output
    assert load["failed"] == 0, load["samples"]
    assert isinstance(load["requests"], int)
    assert load["requests"] > 200
    kinds = load["by_kind"]
    assert isinstance(kinds, dict)
    assert {"GET keep-alive", "GET fresh", "POST keep-alive", "POST fresh"} <= set(kinds)
    versions = load["versions"]
    assert isinstance(versions, list)
    assert versions[0] == "v1"
    assert versions[-1] == "v2"
    assert deploy_env.serving() == "v2"
    after = httpx.get(f"{deploy_env.url}/v1/orders/{order['id']}", headers=headers, timeout=10)
    assert after.json()["status"] == "new", "the open order is still open after the deploy"


def refused_under_load(deploy_env: DeployEnv, version: str, source: Path) -> str:
    """Deploy a bad release under load: refused, no failed request, v2 still serving."""
    args = ("deploy", "--env", ENV_NAME, "--version", version, "--source", str(source))
    code, output, load = deploy_under_load(deploy_env, *args)
    assert code == CHECK_FAILED, output
    assert load["failed"] == 0, load["samples"]
    assert deploy_env.serving() == "v2"
    last = deploy_env.history()[-1]
    assert (last["version"], last["result"]) == (version, "failed")
    return output


def test_release_failing_readiness_never_takes_traffic(deploy_env: DeployEnv) -> None:
    source = broken_source(deploy_env.root, "not-ready", breakages.NOT_READY)
    output = refused_under_load(deploy_env, "bad-ready", source)
    assert "FAIL readiness" in output
    assert "not ready: forced-failure" in output
    assert "last log lines of bad-ready" in output
    assert "v2 keeps serving" in output
    assert deploy_env.history()[-1]["reason"].startswith("readiness:")


def test_release_failing_a_smoke_test_never_takes_traffic(deploy_env: DeployEnv) -> None:
    source = broken_source(deploy_env.root, "bad-cancel", breakages.CANCEL_BROKEN)
    output = refused_under_load(deploy_env, "bad-smoke", source)
    assert "FAIL smoke" in output
    assert re.search(r"POST /v1/orders/\d+/cancel: expected 200, got 500", output), output
    assert deploy_env.history()[-1]["reason"].startswith("smoke: smoke:place_cancel")


def test_rollback_to_the_last_good_release(deploy_env: DeployEnv) -> None:
    code, output, load = deploy_under_load(deploy_env, "rollback", "--env", ENV_NAME)
    assert code == 0, output
    assert "rollback e2e: v2 -> v1" in output
    assert load["failed"] == 0, load["samples"]
    assert deploy_env.serving() == "v1"
    assert deploy_env.history()[-1]["action"] == "rollback"


def test_a_concurrent_deploy_is_refused_by_the_lock(deploy_env: DeployEnv) -> None:
    lock = deploy_env.state / "deploy.lock"
    holder = {
        "holder": "someone", "host": socket.gethostname(), "pid": os.getpid(),
        "version": "v9", "started_at": "now", "message": "testing the lock",
    }  # fmt: skip
    lock.write_text(json.dumps(holder))
    refused = deploy_env.invoke("deploy", "--env", ENV_NAME, "--version", "v3")
    assert refused.returncode == CANNOT_RUN, refused.stderr
    assert "error: deploy refused: lock: deploy lock" in refused.stderr
    assert "is held by someone@" in refused.stderr
    assert "testing the lock" in refused.stderr
    assert deploy_env.history()[-1]["result"] == "refused"
    not_stale = deploy_env.invoke("unlock", "--env", ENV_NAME)
    assert not_stale.returncode == CANNOT_RUN
    assert "pass --force" in not_stale.stderr
    forced = deploy_env.invoke("unlock", "--env", ENV_NAME, "--force")
    assert forced.returncode == 0
    assert not lock.exists()


def test_a_stale_lock_is_released_with_a_message(deploy_env: DeployEnv, webhook: Webhook) -> None:
    lock = deploy_env.state / "deploy.lock"
    holder = {
        "holder": "crashed", "host": socket.gethostname(), "pid": 2**22 + 12345,
        "version": "v0", "started_at": "earlier", "message": "a deploy that crashed",
    }  # fmt: skip
    lock.write_text(json.dumps(holder))
    result = deploy_env.invoke(
        "deploy", "--env", ENV_NAME, "--version", "v2", extra_env={"E2E_WEBHOOK": webhook.url}
    )
    assert result.returncode == 0, result.stderr
    assert "released a stale lock: crashed@" in result.stdout
    assert deploy_env.serving() == "v2"
    text = webhook.texts()[-1]
    assert "deploy e2e succeeded" in text
    assert "*version:* v2" in text
    assert "*duration:*" in text


def test_failed_verification_rolls_back_automatically(deploy_env: DeployEnv) -> None:
    source = broken_source(
        deploy_env.root, "broken-behind-proxy", breakages.BROKEN_BEHIND_THE_PROXY
    )
    result = deploy_env.invoke(
        "deploy", "--env", ENV_NAME, "--version", "bad-verify", "--source", str(source)
    )
    assert result.returncode == CHECK_FAILED, result.stderr
    assert "verification failed; rolling back to v2" in result.stdout
    assert result.stderr.strip().endswith("; rolled back to v2")
    assert deploy_env.serving() == "v2"
    last = deploy_env.history()[-1]
    assert (last["version"], last["result"]) == ("bad-verify", "rolled_back")


def test_status_and_releases(deploy_env: DeployEnv) -> None:
    status = deploy_env.invoke("status", "--env", ENV_NAME, "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["serving_version"] == "v2"
    assert report["public"]["version"] == "v2"
    assert report["proxy"]["running"]
    assert report["lock"] is None
    human = deploy_env.invoke("releases", "--env", ENV_NAME)
    assert "v2  <- serving" in human.stdout
    assert "bad-verify" in human.stdout
    assert "rolled_back" in human.stdout


def test_down_then_deploy_after_a_crash_recovers(deploy_env: DeployEnv) -> None:
    down = deploy_env.invoke("down", "--env", ENV_NAME)
    assert down.returncode == 0, down.stderr
    assert "proxy" in down.stdout
    assert deploy_env.serving() is None
    run = deploy_env.state / "run"
    # What a crash leaves: a pid file of a dead process and a socket nobody serves.
    (run / "blue.pid").write_text(json.dumps({"pid": 2**22 + 4321, "command": ["python"]}))
    (run / "blue.sock").touch()
    result = deploy_env.invoke("deploy", "--env", ENV_NAME, "--version", "v2")
    assert result.returncode == 0, result.stderr
    assert "started the proxy" in result.stdout
    assert "cleared stale pid file of slot blue" in result.stdout
    assert deploy_env.serving() == "v2"


def test_unknown_environment_and_bad_version_fail_before_anything(deploy_env: DeployEnv) -> None:
    unknown = deploy_env.invoke("deploy", "--env", "nope")
    assert unknown.returncode == CANNOT_RUN
    assert unknown.stderr.strip() == "error: unknown environment 'nope' (defined: e2e)"
    bad = deploy_env.invoke("deploy", "--env", ENV_NAME, "--version", "no spaces allowed")
    assert bad.returncode == CANNOT_RUN
    assert "version 'no spaces allowed' is invalid" in bad.stderr
