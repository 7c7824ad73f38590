"""A real Prometheus scraping a running app, and a real Alertmanager: a burst of 5xx makes
the generated error-ratio rule fire, Alertmanager delivers it to a local webhook once,
with the right labels and its warning inhibited, and then says it resolved.

The fault is real: the app runs on its embedded SQLite database, and the table its
``/v1/instruments`` route reads is renamed under it -- as a migration of another release
would -- so the route answers 500 until the table is back. The rules are generated from
the ``[monitor]`` defaults by :mod:`ops.monitor.rules`, with windows of seconds instead
of minutes; Prometheus and Alertmanager run with the committed configuration
(:mod:`tests.integration.monitoring.stack`).

The Grafana dashboard's queries run against the same real Prometheus: every one is
accepted, and those of the app's own traffic chart data.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.core.processes import wait_for
from ops.live.server import seeded_server
from ops.monitor.rules import APP_JOB, Windows, groups, render
from ops.monitor.settings import MonitorSettings
from tests.integration.monitoring.stack import (
    ENVIRONMENT,
    Server,
    alertmanager,
    dashboard_panels,
    prometheus,
    tool,
)
from tests.support.webhook import Webhook

ALERT = "TradingErrorRatioHigh"
ROUTE = "/v1/instruments"
WINDOWS = Windows(rate="10s", pending="2s", down="5s")
APP_GROUPS = ("trading-availability", "trading-errors", "trading-latency")
WAIT_SECONDS = 90.0
# Panels the app's own traffic fills (the others chart exporters, orders and backups).
TRAFFIC = ("Request rate by route", "Latency p50 / p95 / p99 by route", "Running releases")
GRAFANA_VARIABLES = {"$__rate_interval": "10s", "$route": ".*"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


# The fault: the table the route reads moved away under the running app, then back.
MOVE_AWAY = "ALTER TABLE instruments RENAME TO instruments_elsewhere"
MOVE_BACK = "ALTER TABLE instruments_elsewhere RENAME TO instruments"


@contextmanager
def instruments_moved(database: Path) -> Iterator[None]:
    """The ``instruments`` table renamed under the running app, and back afterwards."""

    def execute(statement: str) -> None:
        with closing(sqlite3.connect(database, timeout=10)) as connection:
            connection.execute(statement)
            connection.commit()

    execute(MOVE_AWAY)
    try:
        yield
    finally:
        execute(MOVE_BACK)


def ours(alert: dict[str, Any], severity: str) -> bool:
    """True for the error-ratio alert of the broken route with ``severity``."""
    labels = alert.get("labels", {})
    return (labels.get("alertname"), labels.get("route"), labels.get("severity")) == (
        ALERT, ROUTE, severity,
    )  # fmt: skip


def notifications(webhook: Webhook, status: str, severity: str) -> list[dict[str, Any]]:
    """The notifications with ``status`` (firing, resolved) that carry our alert."""
    return [
        body for body in webhook.received
        if body.get("status") == status
        and any(ours(alert, severity) and alert.get("status") == status for alert in body["alerts"])
    ]  # fmt: skip


def scraped(prometheus: Server, route: str) -> tuple[bool, str]:
    """Prometheus holds the request counter of ``route`` (a wait_for probe)."""
    query = f'http_requests_total{{job="{APP_JOB}", route="{route}"}}'
    result = prometheus.get("/api/v1/query", [("query", query)])["data"]["result"]
    return bool(result), f"{len(result)} series of {route}"


def inhibited(manager: Server) -> tuple[bool, str]:
    """Alertmanager holds our warning, muted by its critical (a wait_for probe)."""
    filters = [("filter", f'alertname="{ALERT}"'), ("filter", 'severity="warning"')]
    alerts = [alert for alert in manager.get("/api/v2/alerts", filters) if ours(alert, "warning")]
    states = [(alert["status"]["state"], alert["status"]["inhibitedBy"]) for alert in alerts]
    return any(state == "suppressed" and by for state, by in states), f"warning: {states}"


def expand(expr: str) -> str:
    """A dashboard query with Grafana's variables filled in as Grafana would."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def results(prometheus: Server, expr: str) -> list[Any]:
    """The result of an instant query; fails naming the query Prometheus rejects."""
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5)
    assert response.status_code == 200, f"{expr}: {response.text}"
    result: list[Any] = response.json()["data"]["result"]
    return result


def test_a_5xx_burst_fires_the_rule_and_alertmanager_delivers_it_once_then_resolved(
    tmp_path: Path, webhook: Webhook
) -> None:
    env = os.environ
    for binary in ("prometheus", "prometheus-alertmanager"):
        tool(binary, env)  # skip before starting anything when one is missing
    rules = render(
        [group for group in groups(MonitorSettings(), WINDOWS) if group.name in APP_GROUPS]
    )
    with (
        seeded_server(env, log_dir=tmp_path) as app,
        alertmanager(tmp_path, webhook.url, env) as manager,
        prometheus(tmp_path, f"127.0.0.1:{app.port}", manager.port, rules, env) as prom,
        httpx.Client(base_url=app.url, timeout=10) as client,
    ):  # fmt: skip
        assert client.get(ROUTE).status_code == 200
        waited = wait_for(lambda: scraped(prom, ROUTE), timeout=WAIT_SECONDS, interval=0.5)
        assert waited.ready, f"Prometheus never scraped {ROUTE}: {waited.seen}\n{prom.log_tail()}"

        def burst() -> tuple[bool, str]:
            statuses = {client.get(ROUTE).status_code for _ in range(5)}
            delivered = notifications(webhook, "firing", "critical")
            return bool(delivered), f"answers {sorted(statuses)}, {len(webhook.received)} sent"

        with instruments_moved(Path(app.settings["DATA_DIR"]) / "trading.db"):
            fired = wait_for(burst, timeout=WAIT_SECONDS, interval=0.2)
            assert fired.ready, f"no critical {ALERT} delivered: {fired.seen}\n{manager.log_tail()}"
            muted = wait_for(lambda: inhibited(manager), timeout=WAIT_SECONDS, interval=0.5)
            assert muted.ready, f"the warning was not inhibited by the critical: {muted.seen}"

        assert client.get(ROUTE).status_code == 200
        resolved = wait_for(
            lambda: (bool(notifications(webhook, "resolved", "critical")), "waiting"),
            timeout=WAIT_SECONDS, interval=0.5,
        )  # fmt: skip
        assert resolved.ready, f"no resolved notification: {webhook.received}"

    (notification,) = notifications(webhook, "firing", "critical")
    assert notification["receiver"] == "critical"
    (alert,) = [alert for alert in notification["alerts"] if ours(alert, "critical")]
    assert alert["labels"] == {
        "alertname": ALERT, "severity": "critical", "check": "errors", "reason": "threshold",
        "job": APP_JOB, "route": ROUTE, "environment": ENVIRONMENT,
    }  # fmt: skip
    assert alert["annotations"]["summary"] == f"100% of the requests to {ROUTE} answer 5xx"
    assert notifications(webhook, "firing", "warning") == [], "an inhibited warning was sent"


def test_the_dashboard_s_queries_run_and_chart_the_app_s_traffic(tmp_path: Path) -> None:
    env = os.environ
    tool("prometheus", env)
    queries = {
        title: [expand(target["expr"]) for target in panel["targets"]]
        for title, panel in dashboard_panels().items()
    }
    with (
        seeded_server(env, log_dir=tmp_path) as app,
        prometheus(tmp_path, f"127.0.0.1:{app.port}", None, "groups: []\n", env) as prom,
        httpx.Client(base_url=app.url, timeout=10) as client,
    ):  # fmt: skip

        def charted() -> tuple[bool, str]:
            client.get(ROUTE)
            empty = [name for name in TRAFFIC if not all(results(prom, q) for q in queries[name])]
            return not empty, f"no data yet: {empty}"

        waited = wait_for(charted, timeout=WAIT_SECONDS, interval=0.5)
        assert waited.ready, waited.seen
        for expr in (expr for exprs in queries.values() for expr in exprs):
            results(prom, expr)  # fails on a query Prometheus rejects:
        with pytest.raises(AssertionError, match="parse error"):
            results(prom, "sum(rate(http_requests_total[1m])")
