"""The commands behind the lint and typecheck sessions (one list, used by nox and CI).

The monitoring configuration (``deploy/monitoring/``) is checked by Prometheus' and
Alertmanager's own tools, which come from Debian's ``prometheus`` and
``prometheus-alertmanager`` packages rather than from the lock: the session runs
:func:`monitoring_commands` when :func:`missing_monitoring_tools` finds none missing,
fails under CI when some are, and skips them with :data:`MONITORING_HINT` elsewhere.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping

from ops.project import ROOT

TYPECHECK_TARGETS = ("app", "ops", "tests", "benchmarks", "noxfile.py", "tasks.py")
WORKFLOWS = ROOT / ".github" / "workflows"
SHELL_SCRIPTS = (".ci/run",)
MONITORING = "deploy/monitoring"
MONITORING_TOOLS = ("promtool", "amtool")
RULE_TESTS = ("rules.test.yml", "rules.backups.test.yml")  # minutes; hours and days
MONITORING_HINT = "apt-get install -y prometheus prometheus-alertmanager"


def lint_commands() -> list[list[str]]:
    """Every linter invocation from the locked tools, in the order the lint session runs them."""
    workflows = sorted(str(p.relative_to(ROOT)) for p in WORKFLOWS.glob("*.yml"))
    return [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["actionlint", *workflows],
        ["zizmor", "--offline", "--no-progress", ".github"],
        ["hadolint", "deploy/Dockerfile"],
        ["shellcheck", *SHELL_SCRIPTS],
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
    ]


def monitoring_commands() -> list[list[str]]:
    """promtool and amtool over ``deploy/monitoring/``: the Prometheus configuration, the
    generated rules, their unit tests, the Alertmanager configuration (paths from the root)."""
    return [
        ["promtool", "check", "config", f"{MONITORING}/prometheus.yml"],
        ["promtool", "check", "rules", f"{MONITORING}/rules.yml"],
        ["promtool", "test", "rules", *(f"{MONITORING}/{name}" for name in RULE_TESTS)],
        ["amtool", "check-config", f"{MONITORING}/alertmanager.yml"],
    ]


def missing_monitoring_tools(env: Mapping[str, str]) -> list[str]:
    """The tools of :func:`monitoring_commands` that are not on ``env``'s ``PATH``."""
    path = env.get("PATH", "")
    if not path:
        return list(MONITORING_TOOLS)
    return [tool for tool in MONITORING_TOOLS if shutil.which(tool, path=path) is None]
