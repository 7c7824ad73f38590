"""The hand-off to Prometheus, Alertmanager and Grafana (``deploy/monitoring``): the rules
are generated from the ``[monitor]`` thresholds (a changed threshold changes its rule, a
stale committed file fails), every rule is unit-tested firing and not firing, the other
files agree with the settings, and promtool and amtool fail on broken input."""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import metrics
from ops.core.commands import Completed, run
from ops.monitor.checks import CHECKS
from ops.monitor.results import Reason
from ops.monitor.rules import (
    APP_JOB,
    BACKUP_METRICS,
    PROBE_JOB,
    RULES_PATH,
    Rule,
    groups,
    main,
    render,
)
from ops.monitor.settings import (
    Availability,
    Backups,
    Errors,
    Latency,
    MonitorSettings,
    Postgres,
    Redis,
    Tls,
)
from ops.project import ROOT
from ops.sessions import lint
from tests.integration.monitoring.stack import DEPLOYED, dashboard_panels, deployed, tool

DEFAULTS = MonitorSettings()
UNIT_TESTS = [DEPLOYED / name for name in lint.RULE_TESTS]
TESTS_PATH = UNIT_TESTS[0]  # the minute-scale ones: availability to Redis
CHANNEL_CONFIGS = {"slack": "slack_configs", "email": "email_configs", "github": "webhook_configs"}


def all_rules(settings: MonitorSettings = DEFAULTS) -> list[Rule]:
    """Every generated rule, in file order."""
    return [rule for group in groups(settings) for rule in group.rules]


def rule(alert: str, severity: str, settings: MonitorSettings = DEFAULTS) -> Rule:
    """The one generated rule of that name and severity."""
    (found,) = [r for r in all_rules(settings) if (r.alert, r.severity) == (alert, severity)]
    return found


def tool_run(command: list[str], cwd: Path = ROOT) -> Completed:
    """A promtool or amtool command (skipped when the tool is missing, failed under CI)."""
    return run([tool(command[0], os.environ), *command[1:]], cwd=cwd, env=os.environ, timeout=120)


# --- generated from the settings ------------------------------------------------------


def test_the_committed_rules_are_what_the_settings_generate() -> None:
    assert RULES_PATH.read_text(encoding="utf-8") == render(groups(DEFAULTS)), (
        "deploy/monitoring/rules.yml is stale: run `python -m ops.monitor.rules --write`"
    )


@pytest.mark.parametrize(
    ("changed", "alert", "severity", "default", "now"),
    [
        (MonitorSettings(errors=Errors(critical_ratio=0.2)), "TradingErrorRatioHigh",
         "critical", ">= 0.05", ">= 0.2"),
        (MonitorSettings(errors=Errors(min_requests=50)), "TradingErrorRatioHigh",
         "warning", "[5m])) >= 20", "[5m])) >= 50"),
        (MonitorSettings(latency=Latency(p95_warning_ms=300)), "TradingLatencyP95High",
         "warning", ">= 0.25", ">= 0.3"),
        (MonitorSettings(availability=Availability(budget_ms=2000)), "TradingProbeSlow",
         "critical", ">= 1", ">= 2"),
        (MonitorSettings(tls=Tls(critical_days=3)), "TradingCertificateExpiring",
         "critical", "<= 604800", "<= 259200"),
        (MonitorSettings(postgres=Postgres(connections_critical=0.97)), "PostgresConnectionsHigh",
         "critical", ">= 0.95", ">= 0.97"),
        (MonitorSettings(redis=Redis(memory_warning=0.7)), "RedisMemoryHigh",
         "warning", ">= 0.8", ">= 0.7"),
        (MonitorSettings(backups=Backups(schedule_hours=12, grace_hours=2)), "BackupStale",
         "critical", "> 108000", "> 50400"),
        (MonitorSettings(backups=Backups(kinds=["config"])), "BackupMissing",
         "critical", 'kind="db"}', 'kind="config"}'),
    ],
)  # fmt: skip
def test_a_threshold_changed_in_the_settings_changes_its_rule(
    changed: MonitorSettings, alert: str, severity: str, default: str, now: str
) -> None:
    before, after = rule(alert, severity).expr, rule(alert, severity, changed).expr
    assert default in before
    assert now not in before
    assert now in after
    assert default not in after


def test_every_rule_is_labelled_for_routing_and_described() -> None:
    for generated in all_rules():
        where = f"{generated.alert}/{generated.severity}"
        assert generated.severity in ("warning", "critical"), where
        assert generated.check in CHECKS, where
        assert generated.reason in set(Reason), where
        assert generated.summary, where
        assert generated.description.endswith("."), where


def test_a_graded_condition_lists_its_critical_first_so_it_inhibits_the_warning() -> None:
    names = [(r.alert, r.severity) for r in all_rules()]
    for alert, severity in names:
        if severity == "warning" and (alert, "critical") in names:
            assert names.index((alert, "critical")) < names.index((alert, "warning")), alert


def test_check_mode_fails_on_a_stale_or_missing_file_and_passes_once_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yml"
    assert main(["--check", "--path", str(path)]) == 1
    assert "missing" in capsys.readouterr().err
    path.write_text(render(groups(MonitorSettings(errors=Errors(critical_ratio=0.2)))))
    assert main(["--check", "--path", str(path)]) == 1
    assert "differs from the [monitor] defaults" in capsys.readouterr().err
    assert main(["--write", "--path", str(path)]) == 0
    assert main(["--check", "--path", str(path)]) == 0
    assert path.read_text() == RULES_PATH.read_text()


def test_a_rule_file_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["--write", "--path", str(blocker / "rules.yml")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {blocker / 'rules.yml'}: ")
    assert len(error.splitlines()) == 1


def test_without_an_action_the_rules_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out == render(groups(DEFAULTS))


# --- every rule unit-tested -----------------------------------------------------------

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def seconds(duration: str) -> int:
    """A Prometheus duration (``5m``, ``1h30m``) in seconds."""
    return sum(int(n) * UNITS[unit] for n, unit in re.findall(r"(\d+)([dhms])", duration))


def unit_tests() -> list[dict[str, Any]]:
    """The test groups of every unit-test file of the rules."""
    files = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in UNIT_TESTS]
    assert all(file["rule_files"] == ["rules.yml"] for file in files)
    return [test for file in files for test in file["tests"]]


def untested(rules: list[Rule], tests: Sequence[Mapping[str, Any]]) -> list[str]:
    """Rules (``name/severity``) that no unit test sees firing, or none sees not firing
    once the rule's ``for`` has passed."""
    firing, quiet = set(), set()
    for test in tests:
        for case in test["alert_rule_test"]:
            seen = {(case["alertname"], alert["exp_labels"]["severity"])
                    for alert in case["exp_alerts"]}  # fmt: skip
            firing |= seen
            for candidate in rules:
                late = seconds(case["eval_time"]) >= seconds(candidate.pending)
                key = (candidate.alert, candidate.severity)
                if candidate.alert == case["alertname"] and late and key not in seen:
                    quiet.add(key)
    return [f"{r.alert}/{r.severity}" for r in rules
            if (r.alert, r.severity) not in firing & quiet]  # fmt: skip


def test_every_rule_is_unit_tested_firing_and_not_firing() -> None:
    assert untested(all_rules(), unit_tests()) == []


def test_a_rule_without_unit_tests_is_named() -> None:
    tests = [test for test in unit_tests() if "certificate" not in test["name"]]
    missing = untested(all_rules(), tests)
    assert missing == ["TradingCertificateExpiring/critical", "TradingCertificateExpiring/warning"]


# --- promtool and amtool --------------------------------------------------------------


@pytest.mark.parametrize("command", lint.monitoring_commands(), ids=" ".join)
def test_the_lint_session_s_monitoring_commands_pass(command: list[str]) -> None:
    done = tool_run(command)
    assert done.ok, f"{' '.join(command)}: {done.stdout}{done.stderr}"


def test_promtool_test_rules_fails_on_a_rule_with_a_broken_threshold(tmp_path: Path) -> None:
    shutil.copy(TESTS_PATH, tmp_path / "rules.test.yml")
    broken = MonitorSettings(errors=Errors(critical_ratio=0.5))  # 10% no longer critical
    (tmp_path / "rules.yml").write_text(render(groups(broken)))
    done = tool_run(["promtool", "test", "rules", "rules.test.yml"], cwd=tmp_path)
    assert done.code == 1
    failure = done.stdout + done.stderr
    assert "alertname: TradingErrorRatioHigh, time: 10m" in failure
    expected, got = failure.split("got:[", 1)
    assert 'route="/v1/orders", severity="critical"' in expected
    assert 'route="/v1/orders", severity="critical"' not in got


def test_promtool_check_rules_fails_on_an_expression_that_does_not_parse(tmp_path: Path) -> None:
    text = RULES_PATH.read_text().replace('up{job="trading"} == 0', 'up{job="trading" == 0')
    (tmp_path / "rules.yml").write_text(text)
    done = tool_run(["promtool", "check", "rules", "rules.yml"], cwd=tmp_path)
    assert done.code == 1
    assert '"TradingAppDown": could not parse expression' in done.stderr


def test_promtool_check_config_fails_without_its_rule_file(tmp_path: Path) -> None:
    shutil.copy(DEPLOYED / "prometheus.yml", tmp_path / "prometheus.yml")
    done = tool_run(["promtool", "check", "config", "prometheus.yml"], cwd=tmp_path)
    assert done.code == 1
    assert '"rules.yml" does not point to an existing file' in done.stderr


def test_amtool_fails_on_a_route_to_an_undefined_receiver(tmp_path: Path) -> None:
    config = deployed("alertmanager.yml")
    config["route"]["routes"][0]["receiver"] = "pager"
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    done = tool_run(["amtool", "check-config", "alertmanager.yml"], cwd=tmp_path)
    assert done.code == 1
    assert 'undefined receiver "pager" used in route' in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [("severity=critical", "critical"), ("severity=warning", "warning"), ("job=x", "warning")],
)
def test_alertmanager_routes_by_severity_and_anything_else_never_pages(
    labels: str, receiver: str
) -> None:
    config = str(DEPLOYED / "alertmanager.yml")
    done = tool_run(["amtool", "config", "routes", "test", f"--config.file={config}", labels])
    assert done.ok, done.stderr
    assert done.stdout.split() == [receiver]


# --- the other files agree with the settings -----------------------------------------


def test_alertmanager_reminds_and_routes_as_the_monitor_settings_say() -> None:
    config = deployed("alertmanager.yml")
    assert config["route"]["repeat_interval"] == f"{DEFAULTS.reminder_hours:g}h"
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    for severity, channels in (("critical", DEFAULTS.routes.critical),
                               ("warning", DEFAULTS.routes.warning)):  # fmt: skip
        wanted = {CHANNEL_CONFIGS[channel] for channel in channels}
        assert set(receivers[severity]) - {"name"} == wanted, severity
        for configs in wanted:
            assert all(entry["send_resolved"] for entry in receivers[severity][configs])
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert "alertname" in inhibit["equal"]


def test_alertmanager_holds_no_secret_only_files_that_hold_them() -> None:
    config = deployed("alertmanager.yml")
    assert config["global"]["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    text = (DEPLOYED / "alertmanager.yml").read_text()
    assert "hooks.slack.com" not in text
    assert "smtp_auth_password:" not in text


def test_prometheus_scrapes_what_the_rules_read() -> None:
    config = deployed("prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert config["rule_files"] == ["rules.yml"]
    assert jobs[APP_JOB]["metrics_path"] == DEFAULTS.errors.metrics_path
    assert jobs[PROBE_JOB]["params"] == {"module": ["http_2xx"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert {"postgres", "redis"} <= set(jobs)
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]


DASHBOARD_LIMITS = {
    "5xx ratio by route": [DEFAULTS.errors.warning_ratio, DEFAULTS.errors.critical_ratio],
    "Latency p50 / p95 / p99 by route": [
        DEFAULTS.latency.p95_warning_ms / 1000, DEFAULTS.latency.p95_critical_ms / 1000
    ],
    "Connections against max_connections": [
        DEFAULTS.postgres.connections_warning, DEFAULTS.postgres.connections_critical
    ],
    "Oldest open transaction": [
        DEFAULTS.postgres.oldest_transaction_warning_seconds,
        DEFAULTS.postgres.oldest_transaction_critical_seconds,
    ],
    "Cache hit ratio": [DEFAULTS.postgres.cache_hit_warning],
    "Rollback ratio": [DEFAULTS.postgres.rollback_ratio_warning],
    "Database size": [DEFAULTS.postgres.size_warning_gb * 1024**3],
    "Memory against maxmemory": [DEFAULTS.redis.memory_warning, DEFAULTS.redis.memory_critical],
    "Hit rate": [DEFAULTS.redis.hit_rate_warning],
    "Clients against maxclients": [DEFAULTS.redis.clients_warning],
    "Age of the newest backup": [
        (DEFAULTS.backups.schedule_hours + DEFAULTS.backups.grace_hours) * 3600
    ],
    "Age of the newest verification": [DEFAULTS.backups.verification_max_age_hours * 3600],
    "Age of the last DR drill": [DEFAULTS.backups.drill_max_age_days * 86400],
}  # fmt: skip


def test_the_dashboard_draws_the_monitor_s_limits() -> None:
    panels = dashboard_panels()
    for title, limits in DASHBOARD_LIMITS.items():
        steps = panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [step["value"] for step in steps[1:]] == limits, title


def test_the_dashboard_charts_the_app_s_metrics_by_their_real_names() -> None:
    exprs = " ".join(t["expr"] for p in dashboard_panels().values() for t in p["targets"])
    used = set(re.findall(r"\b((?:http|trading|app)_[a-z_]+)\b", exprs))
    exposed = {name for collector in vars(metrics).values() if hasattr(collector, "_name")
               for name in (collector._name, f"{collector._name}_total")}  # fmt: skip
    histograms = {f"{metrics.HTTP_LATENCY._name}_{part}" for part in ("bucket", "count", "sum")}
    known = exposed | histograms | set(BACKUP_METRICS.values())
    assert used - known == set()
    wanted = {"http_requests_total", "http_request_duration_seconds_bucket",
              "trading_orders_total", "trading_orders_rejected_total", "trading_fills_total",
              "http_rate_limited_total"}  # fmt: skip
    assert wanted <= used
    for exporter in ("pg_stat_activity_count", "redis_memory_used_bytes"):
        assert exporter in exprs


# --- the lint session's split ---------------------------------------------------------


def test_the_monitoring_commands_name_files_that_exist() -> None:
    for command in lint.monitoring_commands():
        assert command[0] in lint.MONITORING_TOOLS
        files = [part for part in command if part.startswith(lint.MONITORING)]
        assert files, command
        assert all((ROOT / part).is_file() for part in files), command


def _executable(directory: Path, name: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_missing_monitoring_tools_are_named(tmp_path: Path) -> None:
    assert lint.missing_monitoring_tools({"PATH": str(tmp_path)}) == ["promtool", "amtool"]
    assert lint.missing_monitoring_tools({}) == ["promtool", "amtool"]
    _executable(tmp_path, "promtool")
    assert lint.missing_monitoring_tools({"PATH": str(tmp_path)}) == ["amtool"]
    _executable(tmp_path, "amtool")
    assert lint.missing_monitoring_tools({"PATH": str(tmp_path)}) == []
