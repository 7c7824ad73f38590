"""A real Prometheus and a real Alertmanager for the tests, configured from the committed
``deploy/monitoring`` files.

Debian's ``prometheus`` and ``prometheus-alertmanager`` (and their ``promtool`` and
``amtool``), each server on a free port with its own storage under the test's directory,
started by :class:`~ops.core.processes.Process` and waited for with
:func:`~ops.core.processes.wait_for`. A missing binary skips the test locally and fails
it under ``CI=true`` (:func:`tool`).

The configurations are the committed ones with what a test must change: Prometheus
scrapes the app's job (its ``metrics_path``) at a static address every second, evaluates
the rules the test generates and sends to the test's Alertmanager; Alertmanager keeps
the committed routes, grouping, repeat interval and inhibit rule, and every receiver
delivers to the test's webhook instead of Slack and e-mail.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from ops.core.environ import child_env
from ops.core.processes import Process, free_port, wait_for
from ops.monitor.rules import APP_JOB
from ops.project import ROOT
from ops.sessions.lint import MONITORING, MONITORING_HINT
from tests.support import needs

DEPLOYED = ROOT / MONITORING
DASHBOARD = DEPLOYED / "grafana" / "trading-dashboard.json"
ENVIRONMENT = "integration"  # the external label the test's Prometheus puts on alerts
START_SECONDS = 60


def tool(name: str, env: Mapping[str, str]) -> str:
    """Where program ``name`` is; skips the test (fails it under CI) when it is missing."""
    return needs.program(name, MONITORING_HINT, env)


def deployed(name: str) -> dict[str, Any]:
    """A committed configuration file of ``deploy/monitoring``, parsed."""
    document: dict[str, Any] = yaml.safe_load((DEPLOYED / name).read_text(encoding="utf-8"))
    return document


def dashboard_panels() -> dict[str, dict[str, Any]]:
    """The committed Grafana dashboard's panels (rows left out), by title."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return {panel["title"]: panel for panel in dashboard["panels"] if panel["type"] != "row"}


def prometheus_config(app: str, alertmanager: str | None, rule_file: Path) -> dict[str, Any]:
    """The committed Prometheus configuration, scraping the app at ``app`` (host:port)
    every second and alerting through ``alertmanager`` (host:port), if any."""
    config = deployed("prometheus.yml")
    job = next(job for job in config["scrape_configs"] if job["job_name"] == APP_JOB)
    scrape = {"job_name": APP_JOB, "metrics_path": job["metrics_path"],
              "static_configs": [{"targets": [app]}]}  # fmt: skip
    targets = [alertmanager] if alertmanager else []
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s",
                   "external_labels": {"environment": ENVIRONMENT}},
        "rule_files": [str(rule_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": targets}]}]},
        "scrape_configs": [scrape],
    }  # fmt: skip


def alertmanager_config(webhook_url: str, group_wait: str = "1s") -> dict[str, Any]:
    """The committed Alertmanager configuration with every receiver delivering to
    ``webhook_url`` only, and groups sent ``group_wait`` after they change."""
    config = copy.deepcopy(deployed("alertmanager.yml"))
    config.pop("global", None)  # Slack's and SMTP's secrets: not here
    config["route"].update(group_wait=group_wait, group_interval=group_wait)
    config["receivers"] = [
        {"name": receiver["name"],
         "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
        for receiver in config["receivers"]
    ]  # fmt: skip
    return config


def _write(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    return path


class Server:
    """A Prometheus or Alertmanager process on 127.0.0.1 and a free port."""

    def __init__(
        self, name: str, command: list[str], port: int, workdir: Path, env: Mapping[str, str]
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = Process(command, env=child_env(env), cwd=workdir,
                               log_path=workdir / f"{name}.log")  # fmt: skip

    def start(self) -> Server:
        """Start it and wait for ``/-/ready``; fails with its log when it never is."""

        def ready() -> tuple[bool, str]:
            try:
                response = httpx.get(f"{self.url}/-/ready", timeout=2)
            except httpx.HTTPError as error:
                return False, type(error).__name__
            return response.status_code == 200, f"/-/ready answered {response.status_code}"

        self.process.start()
        waited = wait_for(ready, timeout=START_SECONDS, interval=0.2, alive=self.process.alive)
        assert waited.ready, f"{self.name} not ready ({waited.seen}):\n{self.log_tail()}"
        return self

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """The JSON of a GET of its HTTP API (``params`` may repeat a name)."""
        response = httpx.get(f"{self.url}{path}", params=list(params), timeout=5)
        response.raise_for_status()
        return response.json()

    @contextmanager
    def running(self) -> Iterator[Server]:
        """Started (:meth:`start`) for the ``with`` block, stopped after it."""
        try:
            yield self.start()
        finally:
            self.stop()

    def log_tail(self) -> str:
        """The last lines it logged."""
        return self.process.log_tail(40)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL)."""
        self.process.stop(grace=10)


@contextmanager
def alertmanager(workdir: Path, webhook_url: str, env: Mapping[str, str]) -> Iterator[Server]:
    """Alertmanager with the committed routes, delivering to ``webhook_url``; no cluster."""
    binary = tool("prometheus-alertmanager", env)
    port = free_port()
    config = _write(workdir / "alertmanager.yml", alertmanager_config(webhook_url))
    command = [
        binary, f"--config.file={config}", f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ]  # fmt: skip
    with Server("alertmanager", command, port, workdir, env).running() as server:
        yield server


@contextmanager
def prometheus(
    workdir: Path, app: str, alertmanager_port: int | None, rules: str, env: Mapping[str, str]
) -> Iterator[Server]:
    """Prometheus scraping the app at ``app`` (host:port) with ``rules`` (a rule file's
    text), alerting through the Alertmanager on ``alertmanager_port`` (None: nowhere)."""
    binary = tool("prometheus", env)
    port = free_port()
    rule_file = workdir / "rules.yml"
    rule_file.write_text(rules, encoding="utf-8")
    manager = f"127.0.0.1:{alertmanager_port}" if alertmanager_port else None
    config = prometheus_config(app, manager, rule_file)
    command = [
        binary, f"--config.file={_write(workdir / 'prometheus.yml', config)}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    with Server("prometheus", command, port, workdir, env).running() as server:
        yield server
