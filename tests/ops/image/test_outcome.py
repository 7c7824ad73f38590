"""One gate's outcome: its status and its report form."""

from __future__ import annotations

from ops.image.outcome import Outcome
from ops.security.findings import Severity


def test_a_gate_that_could_not_run_says_so_whatever_it_found() -> None:
    outcome = Outcome("trivy", error="trivy: command not found", skipped="db offline")
    outcome.fail("image-secret", "a secret")
    assert outcome.status == "could not run"


def test_a_blocking_finding_fails_the_gate_even_when_part_was_skipped() -> None:
    outcome = Outcome("trivy", skipped="image vulnerabilities: offline")
    outcome.fail("image-secret", "a secret")
    assert outcome.status == "failed"


def test_a_skipped_gate_with_minor_findings_is_skipped() -> None:
    outcome = Outcome("boot-postgres", skipped="PostgreSQL not reachable")
    outcome.fail("image-note", "a note", Severity.LOW)
    assert outcome.status == "skipped"


def test_a_gate_with_only_minor_findings_passes() -> None:
    outcome = Outcome("trivy")
    outcome.fail("DS-0026", "No HEALTHCHECK defined", Severity.LOW)
    assert outcome.status == "passed"
    assert Outcome("size").status == "passed"


def test_the_report_form_names_problems_at_the_dockerfile_and_carries_figures() -> None:
    outcome = Outcome("size", notes=["455 MiB"], figures={"size_mib": 455.0})
    outcome.fail("image-over-budget", "the image is 455.0 MiB")
    assert outcome.to_dict() == {
        "gate": "size",
        "status": "failed",
        "problems": ["high image-over-budget at deploy/Dockerfile: the image is 455.0 MiB"],
        "skipped": "",
        "error": "",
        "notes": ["455 MiB"],
        "size_mib": 455.0,
    }
    assert outcome.findings[0].gate == "image"
