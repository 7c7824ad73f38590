"""The ``licenses`` gate: the runtime dependencies' licences against an allowlist.

The policy is ``[tool.trading.licenses]`` in pyproject.toml: ``allowed`` lists
SPDX ids (or a classifier name where metadata says no more, e.g. "BSD License");
``exceptions`` maps a package to the reviewed reason it is accepted whatever its
metadata says. pip-licenses reads the locked runtime environment (built as for
the SBOM, or ``--python``). An SPDX expression is judged as written (``A OR B``
needs one allowed, ``A AND B`` both); several classifiers are alternatives. A
package whose licence is unknown or not allowed fails, named with its licence.
The inventory goes to ``reports/security/licenses.json``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ops.core.commands import check, find_executable
from ops.project import PYPROJECT, normalize, pyproject
from ops.security import scanner
from ops.security.dependencies import line_of, runtime_python
from ops.security.findings import Finding, Severity

NAME = "licenses"
TOOL = "pip-licenses"
UNKNOWN = frozenset({"", "unknown", "none", "unlicensed", "other/proprietary license"})
ALIASES = {
    "mit license": "MIT",
    "apache software license": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "python software foundation license": "PSF-2.0",
    "isc license (iscl)": "ISC",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "the unlicense (unlicense)": "Unlicense",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu affero general public license v3": "AGPL-3.0-only",
}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


@dataclass(frozen=True, slots=True)
class Policy:
    """Allowed licences (lower-cased) and per-package reviewed exceptions."""

    allowed: frozenset[str]
    exceptions: dict[str, str] = field(default_factory=dict)


def policy(config: dict[str, Any]) -> Policy:
    """The policy from the parsed pyproject.toml; ScanError when it is missing or malformed."""
    section = config.get("tool", {}).get("trading", {}).get("licenses")
    if not isinstance(section, dict) or not isinstance(section.get("allowed"), list):
        raise scanner.ScanError("pyproject.toml has no [tool.trading.licenses] allowed = [...]")
    exceptions = section.get("exceptions", {})
    if not all(isinstance(reason, str) and reason.strip() for reason in exceptions.values()):
        raise scanner.ScanError("[tool.trading.licenses.exceptions]: every entry needs a reason")
    allowed = frozenset(str(name).lower() for name in section["allowed"])
    return Policy(allowed, {normalize(name): reason for name, reason in exceptions.items()})


def canonical(name: str) -> str:
    """An SPDX id for a common classifier name; other names unchanged."""
    return ALIASES.get(name.strip().lower(), name.strip())


def permitted(license_text: str, allowed: frozenset[str]) -> bool | None:
    """True or False for a licence statement; None when it names no licence at all."""
    alternatives = [part.strip() for part in license_text.split(";") if part.strip()]
    known = [part for part in alternatives if part.lower() not in UNKNOWN]
    if not known:
        return None
    return any(_expression(part, allowed) for part in known)


def _allowed(name: str, allowed: frozenset[str]) -> bool:
    return name.lower() in allowed or canonical(name).lower() in allowed


def _expression(text: str, allowed: frozenset[str]) -> bool:
    tokens = _TOKEN.findall(text)
    if not {"AND", "OR", "WITH", "(", ")"} & set(tokens):
        return _allowed(text, allowed)
    value, rest = _or(tokens, allowed)
    return value and not rest


def _or(tokens: list[str], allowed: frozenset[str]) -> tuple[bool, list[str]]:
    return _chain("OR", _and, any, tokens, allowed)


def _and(tokens: list[str], allowed: frozenset[str]) -> tuple[bool, list[str]]:
    return _chain("AND", _atom, all, tokens, allowed)


_Parse = Callable[[list[str], frozenset[str]], tuple[bool, list[str]]]


def _chain(
    operator: str,
    operand: _Parse,
    combine: Callable[[list[bool]], bool],
    tokens: list[str],
    allowed: frozenset[str],
) -> tuple[bool, list[str]]:
    """``operand (operator operand)*``, its values combined (``any`` for OR, ``all`` for AND)."""
    value, tokens = operand(tokens, allowed)
    values = [value]
    while tokens[:1] == [operator]:
        value, tokens = operand(tokens[1:], allowed)
        values.append(value)
    return combine(values), tokens


def _atom(tokens: list[str], allowed: frozenset[str]) -> tuple[bool, list[str]]:
    if not tokens:
        return False, []
    if tokens[0] == "(":
        value, rest = _or(tokens[1:], allowed)
        return value, rest[1:] if rest[:1] == [")"] else rest
    value = _allowed(tokens[0], allowed)
    rest = tokens[1:]
    if rest[:1] == ["WITH"]:  # an exception (e.g. LLVM-exception) only adds permissions
        rest = rest[2:]
    return value, rest


def judge(packages: Sequence[dict[str, Any]], rules: Policy, lock_text: str) -> list[Finding]:
    """Findings for every package whose licence is unknown or not allowed (a pure function)."""
    findings = []
    for package in packages:
        name, version = str(package["Name"]), str(package.get("Version", ""))
        license_text = str(package.get("License", ""))
        if normalize(name) in rules.exceptions:
            continue
        verdict = permitted(license_text, rules.allowed)
        if verdict:
            continue
        rule = "license-unknown" if verdict is None else "license-not-allowed"
        problem = "declares no licence" if verdict is None else f"is licensed {license_text}"
        message = f"{name} {version} {problem}, not in [tool.trading.licenses] allowed"
        line = line_of(lock_text, normalize(name))
        findings.append(Finding(NAME, rule, Severity.HIGH, message, "uv.lock", line))
    return findings


def command(pip_licenses: str, python: str) -> list[str]:
    """pip-licenses over another interpreter's environment, as JSON."""
    return [pip_licenses, "--python", python, "--from", "mixed", "--format", "json"]


def scan(options: scanner.Options) -> scanner.ScanResult:
    """List the runtime environment's licences and judge them against the policy."""
    rules = policy(pyproject(PYPROJECT))
    pip_licenses = find_executable(TOOL, hint=scanner.HINT, env=options.env)
    with runtime_python(options) as python:
        done = check(command(pip_licenses, python), cwd=options.root, env=options.env)
    packages = scanner.json_output(done, TOOL)
    (options.reports / "licenses.json").write_text(json.dumps(packages, indent=2) + "\n")
    lock_text = options.lock.read_text(encoding="utf-8") if options.lock.exists() else ""
    findings = judge(packages, rules, lock_text)
    notes = [f"{len(packages)} runtime packages; inventory in licenses.json"]
    version = scanner.package_version(TOOL)
    return scanner.ScanResult(NAME, TOOL, version, findings, notes=notes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.licenses [--python PY] [--uv UV] [options]``."""
    return scanner.main(NAME, TOOL, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
