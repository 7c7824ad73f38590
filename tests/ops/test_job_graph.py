"""The workflows' job graphs, read as GitHub would run them: a push to main delivers only
after every CI job passed, a dispatch reaches the environment it names, a failed staging
stops production, and the quality gate fails on a skipped job. Each mistake the checks
look for is shown caught in a fixture workflow of its own (tests/ops/fixtures/workflows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.job_graph import (
    Event,
    deploys_on_its_own,
    evaluate,
    needs_without_status,
    simulate,
    step_runs,
)
from tests.support.workflows import WORKFLOW_DIR, load

FIXTURES = Path(__file__).parent / "fixtures" / "workflows"
PUSH_MAIN, PUSH_BRANCH = Event("push"), Event("push", ref="refs/heads/feature")
GATE_STEP = "Fail when a test job did not pass"


def dispatch(**inputs: str) -> Event:
    return Event("workflow_dispatch", inputs={"action": "deploy", **inputs})


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOW_DIR / name)


def fixture(name: str) -> dict[str, Any]:
    return load(FIXTURES / name)


def test_a_green_push_to_main_delivers_the_image_ci_built() -> None:
    ci = workflow("ci.yml")
    assert simulate(ci, PUSH_MAIN)["deliver"] == "success"
    assert ci["jobs"]["deliver"]["with"]["image"] == "${{ needs.image.outputs.digest-reference }}"


@pytest.mark.parametrize("red", ["quality", "tests", "dependencies", "image"])
def test_a_red_ci_never_delivers(red: str) -> None:
    assert simulate(workflow("ci.yml"), PUSH_MAIN, {red: "failure"})["deliver"] == "skipped"


def test_a_branch_or_a_pull_request_is_tested_but_never_delivered() -> None:
    assert simulate(workflow("ci.yml"), PUSH_BRANCH)["deliver"] == "skipped"
    assert simulate(workflow("ci.yml"), Event("pull_request"))["deliver"] == "skipped"
    assert "**" in workflow("ci.yml")["on"]["push"]["branches"]


def test_pull_requests_get_feedback_whatever_the_tests_did_and_pushes_none() -> None:
    ci = workflow("ci.yml")
    assert simulate(ci, Event("pull_request"))["feedback"] == "success"
    red = simulate(ci, Event("pull_request"), {"tests": "failure", "security": "failure"})
    assert red["feedback"] == "success", "a failed job is what the comment is for"
    assert simulate(ci, PUSH_BRANCH)["feedback"] == "skipped"
    assert simulate(ci, PUSH_MAIN)["feedback"] == "skipped"
    assert set(ci["jobs"]["feedback"]["needs"]) == {"quality", "tests", "security"}


def test_the_security_gates_run_on_pull_requests_and_main_not_every_branch() -> None:
    ci = workflow("ci.yml")
    assert simulate(ci, Event("pull_request"))["security"] == "success"
    assert simulate(ci, PUSH_MAIN)["security"] == "success"
    assert simulate(ci, Event("push", ref="refs/heads/develop"))["security"] == "success"
    assert simulate(ci, PUSH_BRANCH)["security"] == "skipped"
    assert ci["jobs"]["security"]["uses"].endswith("/.github/workflows/security.yml")
    assert "workflow_call" in workflow("security.yml")["on"]


def test_delivery_goes_to_staging_then_production_and_a_failed_staging_stops_it() -> None:
    cd = workflow("cd.yml")
    called = Event("push", inputs={"image": "ghcr.io/o/r@sha256:1"})  # as CI calls it
    results = simulate(cd, called)
    assert [results[job] for job in ("staging", "production", "rollback")] == [
        "success", "success", "skipped",
    ]  # fmt: skip
    assert (results["monitor-staging"], results["monitor-production"]) == ("success", "success")
    failed = simulate(cd, called, {"staging": "failure"})
    assert (failed["production"], failed["monitor-staging"]) == ("skipped", "skipped")


@pytest.mark.parametrize(("environment", "other"), [("staging", "production"),
                                                     ("production", "staging")])  # fmt: skip
def test_a_dispatch_reaches_the_environment_it_names_and_only_that(
    environment: str, other: str
) -> None:
    results = simulate(workflow("cd.yml"), dispatch(environment=environment))
    assert (results[environment], results[other]) == ("success", "skipped")
    assert results[f"monitor-{environment}"] == "success"
    assert results["rollback"] == "skipped"


def test_a_rollback_dispatch_runs_only_the_rollback() -> None:
    results = simulate(workflow("cd.yml"), dispatch(action="rollback", environment="production"))
    assert {job for job, result in results.items() if result != "skipped"} == {"rollback"}


def test_cd_waits_for_ci() -> None:
    assert deploys_on_its_own(workflow("cd.yml")) == []
    assert "push" not in workflow("cd.yml")["on"]
    assert deploys_on_its_own(fixture("cd_on_push.yml")) == [
        "staging runs invoke deploy on push: CD must wait for CI "
        "(workflow_call after CI's jobs, or workflow_run)"
    ]


def test_every_job_that_needs_a_skippable_job_says_what_it_wants() -> None:
    for path in sorted(WORKFLOW_DIR.glob("*.yml")):
        assert needs_without_status(load(path)) == [], path.name
    assert needs_without_status(fixture("monitor_needs_skippable.yml")) == [
        "monitor-staging needs staging, which can be skipped, and its if: has no status "
        "function (always(), !cancelled(), success(), failure())"
    ]


def test_the_mistake_of_a_production_job_skipped_with_staging_is_caught() -> None:
    mistaken = fixture("dispatch_skips_production.yml")
    assert simulate(mistaken, dispatch(environment="production"))["production"] == "skipped"
    assert needs_without_status(mistaken)[0].startswith("production needs staging")


@pytest.mark.parametrize(
    ("needed", "fails"),
    [
        ({"unit": "success"}, False),
        ({"unit": "failure"}, True),
        ({"unit": "cancelled"}, True),
        ({"plan": "failure"}, True),  # the matrix is skipped: still a failure
    ],
)
def test_the_quality_gate_fails_on_a_failed_cancelled_or_skipped_job(
    needed: dict[str, str], fails: bool
) -> None:
    testing = workflow("testing.yml")
    event = Event("workflow_call")
    results = simulate(testing, event, needed)
    assert results["quality-gate"] != "skipped"
    assert step_runs(testing, "quality-gate", GATE_STEP, event, results) is fails


def test_the_mistake_of_a_gate_that_ignores_skipped_jobs_is_caught() -> None:
    mistaken = fixture("gate_ignores_skipped.yml")
    event = Event("workflow_call")
    results = simulate(mistaken, event, {"plan": "failure"})
    assert results["unit"] == "skipped"
    assert step_runs(mistaken, "quality-gate", GATE_STEP, event, results) is False


def test_scheduled_backups_never_wait_for_the_deploy_approval() -> None:
    backup = workflow("backup.yml")
    for job_id in ("backup", "drill"):
        environment = backup["jobs"][job_id]["environment"]
        assert environment == "${{ matrix.environment }}-backups", job_id


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("${{ github.event_name == 'PUSH' }}", True),
        ("!cancelled() && (inputs.a == 'x' || inputs.b == 'y')", True),
        ("contains(needs.*.result, 'skipped')", True),
        ("needs.staging.result == 'success' && false", False),
        ("startsWith(github.ref, 'refs/heads/')", True),
    ],
)
def test_the_expression_reader_follows_githubs_rules(expression: str, value: bool) -> None:
    needs = {"staging": {"result": "success"}, "unit": {"result": "skipped"}}
    context = {"github": {"event_name": "push", "ref": "refs/heads/main"},
               "inputs": {"a": "z", "b": "y"}, "needs": needs}  # fmt: skip
    assert evaluate(expression, context) is value


def test_an_expression_it_cannot_read_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="cannot read the expression"):
        evaluate("inputs.a === 'x'", {})
