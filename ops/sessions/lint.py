"""The commands behind the lint and typecheck sessions (one list, used by nox and CI)."""

from __future__ import annotations

from ops.project import ROOT

TYPECHECK_TARGETS = ("app", "ops", "tests", "noxfile.py", "tasks.py")
WORKFLOWS = ROOT / ".github" / "workflows"
SHELL_SCRIPTS = (".ci/run",)


def lint_commands() -> list[list[str]]:
    """Every linter invocation, in the order the lint session runs them."""
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
