"""The commands behind the lint and typecheck sessions (one list, used by nox and CI).

The monitoring configuration (``deploy/monitoring/``) is checked by Prometheus' and
Alertmanager's own tools, which come from Debian's ``prometheus`` and
``prometheus-alertmanager`` packages rather than from the lock: the session runs
:func:`monitoring_commands` when :func:`missing_monitoring_tools` finds none missing,
fails under CI when some are, and skips them with :data:`MONITORING_HINT` elsewhere.

The Kubernetes manifests (``deploy/kubernetes/overlays/<env>``) are checked by
:func:`check_manifests`: each overlay rendered by ``kubectl kustomize`` (kubectl, like the
monitoring tools, comes from outside the lock: :func:`missing_kubernetes_tools`), the
rendered objects validated against the Kubernetes OpenAPI schemas of
:data:`KUBERNETES_VERSION` offline (``kubernetes-validate --strict``, lint group), and
scanned by ``trivy config`` (the security group's binary), which fails on a HIGH or
CRITICAL misconfiguration and on any of :data:`REQUIRED_CHECKS`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.core.commands import CommandError, Completed, Runner, failure_line, lines, run
from ops.core.exits import one_line
from ops.project import ROOT

TYPECHECK_TARGETS = ("app", "ops", "tests", "benchmarks", "noxfile.py", "tasks.py")
WORKFLOWS = ROOT / ".github" / "workflows"
SHELL_SCRIPTS = (".ci/run",)
MONITORING = "deploy/monitoring"
MONITORING_TOOLS = ("promtool", "amtool")
RULE_TESTS = ("rules.test.yml", "rules.backups.test.yml")  # minutes; hours and days
MONITORING_HINT = "apt-get install -y prometheus prometheus-alertmanager"
OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"
KUBERNETES_TOOLS = ("kubectl",)
KUBERNETES_HINT = (
    "install kubectl 1.32 (it includes kustomize): https://kubernetes.io/docs/tasks/tools/"
)
# The clusters' version (kubectl's own, v1.32); kubernetes-validate bundles its schemas.
KUBERNETES_VERSION = "1.32.0"
TRIVY_CACHE = ROOT / ".trivycache"  # shared with the security gate (ops/security/trivy.py)
FAILING_SEVERITIES = ("HIGH", "CRITICAL")
# What the platform team requires of every pod, whatever severity trivy gives it.
REQUIRED_CHECKS = {
    "KSV-0001": "allowPrivilegeEscalation: false",
    "KSV-0003": "capabilities drop ALL",
    "KSV-0011": "a CPU limit",
    "KSV-0012": "runAsNonRoot: true",
    "KSV-0014": "readOnlyRootFilesystem: true",
    "KSV-0015": "a CPU request",
    "KSV-0016": "a memory request",
    "KSV-0018": "a memory limit",
    "KSV-0020": "a non-system user (uid > 10000)",
    "KSV-0021": "a non-system group (gid > 10000)",
    "KSV-0030": "seccompProfile RuntimeDefault",
    "KSV-0104": "a seccomp profile",
    "KSV-0106": "capabilities drop ALL (adding at most NET_BIND_SERVICE)",
}
# kubectl's own log line: E1201 22:32:53.795016  24682 run.go:72] "command failed" err="..."
_KLOG = re.compile(r'^[EWIF]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err="(?P<reason>.*?)"?$')
_VALIDATE_ERROR = re.compile(
    r"^ERROR (?P<file>\S+) did not validate for resource (?P<resource>\S+) against version "
    r"\S+: (?P<reason>.*)$"
)


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


def missing_kubernetes_tools(env: Mapping[str, str]) -> list[str]:
    """The tools from outside the lock that :func:`check_manifests` needs (kubectl), when
    they are not on ``env``'s ``PATH``."""
    path = env.get("PATH", "")
    return [tool for tool in KUBERNETES_TOOLS if not path or shutil.which(tool, path=path) is None]


def unavailable_checks(env: Mapping[str, str]) -> dict[str, str]:
    """The checks whose tools from outside the lock are missing from ``env``'s ``PATH``,
    each with what is missing and how to install it."""
    missing = {
        "monitoring": (missing_monitoring_tools(env), MONITORING_HINT),
        "Kubernetes": (missing_kubernetes_tools(env), KUBERNETES_HINT),
    }
    return {
        checks: f"{', '.join(tools)} not found: {hint}"
        for checks, (tools, hint) in missing.items()
        if tools
    }


@dataclass
class ManifestCheck:
    """What :func:`check_manifests` found: one line per step, and the failures (each names
    the overlay and the object)."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no gate failed."""
        return not self.failures


def overlays(directory: Path = OVERLAYS) -> list[Path]:
    """Every overlay (a directory holding a ``kustomization.yaml``), by name."""
    return sorted(path.parent for path in directory.glob("*/kustomization.yaml"))


def render_command(overlay: Path, output: Path) -> list[str]:
    """``kubectl kustomize`` of one overlay into ``output`` (offline)."""
    return ["kubectl", "kustomize", str(overlay), "--output", str(output)]


def validate_command(executable: str, files: Sequence[Path]) -> list[str]:
    """``kubernetes-validate --strict`` of rendered files against :data:`KUBERNETES_VERSION`."""
    version = ["--kubernetes-version", KUBERNETES_VERSION]
    return [executable, "--strict", "--quiet", *version, *map(str, files)]


def trivy_command(executable: str, directory: Path, report: Path) -> list[str]:
    """``trivy config`` of the rendered files, every severity, as JSON (judged by
    :func:`trivy_verdict`), offline with the built-in checks."""
    return [
        executable, "config", "--format", "json", "--output", str(report), "--quiet",
        "--cache-dir", str(TRIVY_CACHE), "--skip-check-update", "--skip-version-check",
        str(directory),
    ]  # fmt: skip


def validation_failures(done: Completed) -> list[str]:
    """kubernetes-validate's complaints, one line each naming the overlay and the object;
    a kind it has no schema for (a misspelt apiVersion passes silently otherwise) fails."""
    failures = []
    for line in lines(done.stdout + "\n" + done.stderr):
        match = _VALIDATE_ERROR.match(line)
        if match:
            overlay = Path(match["file"]).stem
            failures.append(f"{overlay}: {match['resource']}: {match['reason']}")
        elif line.startswith(("ERROR", "WARN")):
            failures.append(_named_file(line.split(" ", 1)[1]))
    if done.code != 0 and not failures:
        failures.append(failure_line(done.stderr, done.stdout, program="kubernetes-validate"))
    return failures


def _named_file(message: str) -> str:
    """``/tmp/x/staging.yaml says`` as ``staging: says``."""
    path, _, rest = message.partition(" ")
    return f"{Path(path).stem}: {rest}" if path.endswith(".yaml") else message


def trivy_verdict(report: Any) -> tuple[list[str], list[str]]:
    """Failures (HIGH, CRITICAL, or one of :data:`REQUIRED_CHECKS`) and notes (the rest)
    of a ``trivy config`` JSON report, one line each naming the overlay and the object."""
    failures: list[str] = []
    notes: list[str] = []
    results = (report.get("Results") or []) if isinstance(report, dict) else []
    for result in results:
        overlay = Path(str(result.get("Target", ""))).stem
        for item in result.get("Misconfigurations") or []:
            if item.get("Status", "FAIL") != "FAIL":
                continue
            check, severity = str(item.get("ID")), str(item.get("Severity"))
            line = f"{overlay}: {check} ({severity}): {item.get('Message') or item.get('Title')}"
            failing = severity in FAILING_SEVERITIES or check in REQUIRED_CHECKS
            (failures if failing else notes).append(line)
    return failures, notes


def check_manifests(
    bin_dir: Path,
    workdir: Path,
    env: Mapping[str, str],
    directory: Path = OVERLAYS,
    runner: Runner = run,
) -> ManifestCheck:
    """Render every overlay under ``directory`` into ``workdir``, validate the objects and
    scan them with trivy; kubernetes-validate and trivy come from ``bin_dir`` (the session's
    environment), kubectl from ``env``'s ``PATH``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("*.yaml"):  # an overlay removed since the last run
        stale.unlink()
    result = ManifestCheck()
    rendered = [
        f for f in (_render(o, workdir, env, runner, result) for o in overlays(directory)) if f
    ]
    if not rendered:
        result.failures.append(f"no overlay rendered under {_shown(directory)}")
        return result
    # The two gates are independent, and each mostly waits for its program: side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        validated = pool.submit(_validate, bin_dir, rendered, env, runner)
        scanned = pool.submit(_scan, bin_dir, workdir, env, runner)
        for gate in (validated.result(), scanned.result()):
            result.lines += gate.lines
            result.failures += gate.failures
    return result


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _render(
    overlay: Path, workdir: Path, env: Mapping[str, str], runner: Runner, result: ManifestCheck
) -> Path | None:
    output = workdir / f"{overlay.name}.yaml"
    try:
        done = runner(render_command(overlay, output), env=env, cwd=ROOT)
        reason = "" if done.ok else failure_line(done.stderr, done.stdout, program="kubectl")
    except CommandError as error:
        reason = one_line(error)
    if reason:
        klog = _KLOG.match(reason)
        failure = klog["reason"] if klog else reason.removeprefix("Error: ")
        result.failures.append(f"{overlay.name}: kubectl kustomize {_shown(overlay)}: {failure}")
        return None
    text = output.read_text(encoding="utf-8")
    kinds = re.findall(r"^kind: (\S+)$", text, re.MULTILINE)
    result.lines.append(f"{overlay.name}: rendered {len(kinds)} objects ({', '.join(kinds)})")
    return output


def _validate(
    bin_dir: Path, files: list[Path], env: Mapping[str, str], runner: Runner
) -> ManifestCheck:
    result = ManifestCheck()
    command = validate_command(str(bin_dir / "kubernetes-validate"), files)
    try:
        failures = validation_failures(runner(command, env=env, cwd=ROOT))
    except CommandError as error:
        failures = [one_line(error)]
    result.failures += [f"kubernetes-validate: {failure}" for failure in failures]
    if not failures:
        result.lines.append(
            f"kubernetes-validate --strict: valid against Kubernetes {KUBERNETES_VERSION}"
        )
    return result


def _scan(bin_dir: Path, workdir: Path, env: Mapping[str, str], runner: Runner) -> ManifestCheck:
    result = ManifestCheck()
    report = workdir.parent / f"{workdir.name}-trivy.json"
    TRIVY_CACHE.mkdir(exist_ok=True)
    try:
        runner(trivy_command(str(bin_dir / "trivy"), workdir, report), env=env, cwd=ROOT).checked()
        failures, notes = trivy_verdict(json.loads(report.read_text(encoding="utf-8")))
    except (CommandError, OSError, ValueError) as error:
        failures, notes = [f"could not scan: {one_line(error)}"], []
    result.failures += [f"trivy config: {failure}" for failure in failures]
    result.lines += [f"trivy config (not failing): {note}" for note in notes]
    if not failures:
        severities = "/".join(FAILING_SEVERITIES)
        result.lines.append(f"trivy config: no {severities} finding, every required check passed")
    return result
