"""SARIF 2.1.0: write one run per gate, read findings back, merge runs, check the shape.

Every gate writes its findings through :func:`build_run`, whatever its tool's own
format, so the summary and GitHub code scanning see one scale: each result
carries ``properties.severity`` (critical, high, medium, low, info), the matching
``level`` and, on its rule, the ``security-severity`` score code scanning sorts by.
Suppressed findings stay in the file with an ``external`` suppression and its reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ops.core.console import to_json, write_atomically
from ops.security.findings import Finding, Severity, severity_of
from ops.security.suppressions import Assessment

VERSION = "2.1.0"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}
_VALID_LEVELS = {"none", "note", "warning", "error"}

Json = dict[str, Any]


def document(runs: Sequence[Json]) -> Json:
    """A SARIF log holding ``runs``."""
    return {"$schema": SCHEMA, "version": VERSION, "runs": list(runs)}


def build_run(
    gate: str,
    tool: str,
    version: str,
    assessments: Sequence[Assessment],
    properties: Json | None = None,
) -> Json:
    """One run: the gate's tool, a rule per rule id, a result per finding."""
    rules = _rules(gate, [item.finding for item in assessments])
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    driver: Json = {"name": tool, "rules": rules}
    if version:
        driver["version"] = version
    return {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"security/{gate}/"},
        "results": [_result(item, index) for item in assessments],
        "properties": {"gate": gate, **(properties or {})},
    }


def _rules(gate: str, findings: Sequence[Finding]) -> list[Json]:
    worst: dict[str, Finding] = {}
    for finding in findings:
        known = worst.get(finding.rule_id)
        if known is None or finding.severity.rank > known.severity.rank:
            worst[finding.rule_id] = finding
    return [
        {
            "id": rule_id,
            "name": rule_id,
            "shortDescription": {"text": _first_line(finding.message)},
            "properties": {
                "security-severity": SECURITY_SEVERITY[finding.severity],
                "tags": ["security", gate],
            },
        }
        for rule_id, finding in sorted(worst.items())
    ]


def _result(assessment: Assessment, index: dict[str, int]) -> Json:
    finding = assessment.finding
    result: Json = {
        "ruleId": finding.rule_id,
        "ruleIndex": index[finding.rule_id],
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message or finding.rule_id},
        "partialFingerprints": {"findingHash/v1": _fingerprint(finding)},
        "properties": {"severity": finding.severity.value},
    }
    if finding.path:
        location: Json = {"artifactLocation": {"uri": finding.path}}
        if finding.line:
            location["region"] = {"startLine": finding.line}
        result["locations"] = [{"physicalLocation": location}]
    if assessment.suppression is not None:
        entry = assessment.suppression
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": (
                    f"{entry.reason} (reviewed by {entry.reviewed_by}, expires {entry.expires})"
                ),
            }
        ]
    return result


def _fingerprint(finding: Finding) -> str:
    key = "|".join((finding.gate, finding.rule_id, finding.path, finding.message))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "finding"
    return line[:200]


def write(path: Path, log: Json) -> None:
    """Write a SARIF log as indented JSON (atomically: never half a file)."""
    write_atomically(path, to_json(log) + "\n")


def read(path: Path) -> Json:
    """A SARIF log from disk; ValueError (one line) when it is not one."""
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path.name}: not readable SARIF: {error}") from None
    problems = validate(log)
    if problems:
        raise ValueError(f"{path.name}: not valid SARIF 2.1.0: {problems[0]}")
    return dict(log)


def results(log: Json) -> Iterator[tuple[Json, Json]]:
    """(run, result) for every result of every run."""
    for run in log.get("runs", []):
        for result in run.get("results", []) or []:
            yield run, result


def location(result: Json) -> tuple[str, int | None]:
    """The first physical location of a result as (repository path, line)."""
    for place in result.get("locations", []) or []:
        physical = place.get("physicalLocation", {})
        uri = str(physical.get("artifactLocation", {}).get("uri", ""))
        line = physical.get("region", {}).get("startLine")
        return _relative_uri(uri), int(line) if isinstance(line, int) else None
    return "", None


def _relative_uri(uri: str) -> str:
    for prefix in ("file://", "./"):
        uri = uri.removeprefix(prefix)
    return uri


def findings(log: Json) -> list[Finding]:
    """Findings back from a log this module wrote (gate from each run's properties)."""
    found = []
    for run, result in results(log):
        gate = str(run.get("properties", {}).get("gate", run["tool"]["driver"]["name"]))
        path, line = location(result)
        severity = severity_of(str(result.get("properties", {}).get("severity", "")))
        found.append(
            Finding(gate, str(result["ruleId"]), severity, result["message"]["text"], path, line)
        )
    return found


def merge(logs: Iterable[Json]) -> Json:
    """One log with every run of ``logs``, in order."""
    return document([run for log in logs for run in log.get("runs", [])])


def validate(log: Any) -> list[str]:
    """Problems with the SARIF 2.1.0 shape this pipeline and code scanning rely on."""
    if not isinstance(log, dict):
        return ["the log is not a JSON object"]
    problems = []
    if log.get("version") != VERSION:
        problems.append(f"version is {log.get('version')!r}, not {VERSION!r}")
    if not isinstance(log.get("$schema"), str):
        problems.append("$schema is missing")
    runs = log.get("runs")
    if not isinstance(runs, list):
        return [*problems, "runs is not an array"]
    for number, run in enumerate(runs):
        problems += [f"runs[{number}]: {problem}" for problem in _run_problems(run)]
    return problems


def _run_problems(run: Any) -> list[str]:
    if not isinstance(run, dict):
        return ["not an object"]
    driver = run.get("tool", {}).get("driver", {}) if isinstance(run.get("tool"), dict) else {}
    if not isinstance(driver, dict) or not driver.get("name"):
        return ["tool.driver.name is missing"]
    rules = driver.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) and r.get("id") for r in rules):
        return ["tool.driver.rules must be objects with an id"]
    results_ = run.get("results", [])
    if not isinstance(results_, list):
        return ["results is not an array"]
    rule_ids = [rule["id"] for rule in rules]
    problems = []
    for number, result in enumerate(results_):
        problems += [f"results[{number}]: {p}" for p in _result_problems(result, rule_ids)]
    return problems


def _result_problems(result: Any, rule_ids: list[str]) -> list[str]:
    if not isinstance(result, dict):
        return ["not an object"]
    problems = []
    message = result.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        problems.append("message.text is missing")
    if rule_ids and result.get("ruleId") not in rule_ids:
        problems.append(f"ruleId {result.get('ruleId')!r} is not a rule of the run")
    index = result.get("ruleIndex")
    if index is not None and not _points_at(index, rule_ids, result.get("ruleId")):
        problems.append("ruleIndex does not point at ruleId")
    if result.get("level", "warning") not in _VALID_LEVELS:
        problems.append(f"level {result.get('level')!r} is not one of {sorted(_VALID_LEVELS)}")
    problems += _location_problems(result.get("locations", []))
    for suppression in result.get("suppressions", []) or []:
        if not isinstance(suppression, dict) or suppression.get("kind") not in (
            "inSource",
            "external",
        ):
            problems.append("a suppression's kind must be inSource or external")
    return problems


def _points_at(index: Any, rule_ids: list[str], rule_id: Any) -> bool:
    return isinstance(index, int) and 0 <= index < len(rule_ids) and rule_ids[index] == rule_id


def _location_problems(locations: Any) -> list[str]:
    if not isinstance(locations, list):
        return ["locations is not an array"]
    problems = []
    for place in locations:
        physical = place.get("physicalLocation", {}) if isinstance(place, dict) else None
        uri = physical.get("artifactLocation", {}).get("uri") if physical else None
        if not isinstance(uri, str) or not uri:
            problems.append("a location has no artifactLocation.uri")
            continue
        line = physical.get("region", {}).get("startLine", 1) if physical else 1
        if not isinstance(line, int) or line < 1:
            problems.append(f"{uri}: region.startLine must be a positive integer")
    return problems
