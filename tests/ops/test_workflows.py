"""Workflows only call sessions and tasks that exist, and follow the hardening rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.workflows import (
    WORKFLOW_DIR,
    Inventory,
    Reference,
    all_references,
    granting,
    inventory,
    load,
    references_in,
    workflow_files,
)

# GitHub's self-repository syntax for this repository's own actions and workflows
# (zizmor's self-repository audit asks for it instead of "./").
SELF = "$/"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
WORKFLOWS = [p for p in workflow_files() if p.parent.name == "workflows"]


def test_every_reference_exists() -> None:
    references = all_references()
    assert references, "the workflows call nox"
    missing = inventory().missing(references)
    assert missing == [], "\n".join(f"{r.where}: no {r.kind} {r.name!r}" for r in missing)


def test_a_reference_to_nothing_is_reported() -> None:
    known = Inventory(frozenset({"tests", "tests-3.11"}), frozenset({"ci"}), frozenset({"dev"}))
    script = (
        "nox -s tests lnit -t ci cee\n"
        'nox -s "${SESSION}"\n'
        "invoke dev --port 1 && invoke deploy --env staging\n"
        "echo $(nox --json -l -s nothing | jq .)"
    )
    missing = known.missing(references_in(script, "x"))
    assert missing == [
        Reference("session", "lnit", "x"),
        Reference("tag", "cee", "x"),
        Reference("task", "deploy", "x"),
        Reference("session", "nothing", "x"),
    ]


def test_invoke_under_uv_run_is_recognised() -> None:
    script = (
        'uv run --locked invoke backup.db --env "$ENV" --verify\n'
        "uv run --group ops --locked inv restore --env x\n"
        "uv run --locked pytest -q\n"
        "uv run\n"
        "uv pip list"
    )
    assert references_in(script, "x") == [
        Reference("task", "backup.db", "x"),
        Reference("task", "restore", "x"),
    ]


def test_inventory_knows_parametrized_sessions_tags_and_tasks() -> None:
    known = inventory()
    assert {"tests", "tests-3.11", "lint", "coverage"} <= known.sessions
    assert {"ci", "services"} <= known.tags
    assert {"dev", "db.migrate", "db.seed"} <= known.tasks


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_hardening(path: Path) -> None:
    data = load(path)
    assert data.get("permissions") == {}, "permissions: {} at the top"
    jobs_with_groups = all("concurrency" in job for job in data["jobs"].values())
    assert "concurrency" in data or jobs_with_groups, "a concurrency group"
    for job_id, job in data["jobs"].items():
        assert "permissions" in job, f"{job_id}: least-privilege permissions per job"
        if "uses" in job:  # a reusable workflow call
            continue
        assert isinstance(job.get("timeout-minutes"), int), f"{job_id}: timeout-minutes"
        for step in job.get("steps", []):
            uses = step.get("uses")
            if not uses:
                continue
            assert uses.startswith(SELF) or PINNED.match(uses), f"{job_id}: {uses} not pinned"
            if uses.startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, job_id


def test_only_the_feedback_job_may_write_to_pull_requests() -> None:
    writers = [f"{p.name}:{job}" for p in WORKFLOWS for job in granting(load(p), "pull-requests")]
    assert writers == ["ci.yml:feedback"]
    feedback = load(WORKFLOW_DIR / "ci.yml")["jobs"]["feedback"]
    assert feedback["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_a_pull_request_writer_anywhere_else_is_found() -> None:
    mistaken = {
        "permissions": {},
        "jobs": {
            "feedback": {"permissions": {"pull-requests": "write"}},
            "tests": {"permissions": {"contents": "read", "pull-requests": "write"}},
            "lint": {"permissions": "write-all"},
            "docs": {"permissions": {"pull-requests": "read"}},
        },
    }
    assert granting(mistaken, "pull-requests") == ["feedback", "tests", "lint"]
    inherited = {"permissions": {"pull-requests": "write"}, "jobs": {"any": {}}}
    assert granting(inherited, "pull-requests") == ["any"], "the workflow's default counts"


def test_local_actions_and_workflows_use_the_self_repository_syntax() -> None:
    from ops.project import ROOT

    for path in WORKFLOWS:
        data = load(path)
        for job_id, job in data["jobs"].items():
            targets = [job["uses"]] if "uses" in job else []
            targets += [step["uses"] for step in job.get("steps", []) if "uses" in step]
            for uses in targets:
                if "@" in uses:
                    continue
                where = f"{path.name}:{job_id}: {uses}"
                assert uses.startswith(SELF), f"{where}: a local reference starts with {SELF}"
                assert (ROOT / uses.removeprefix(SELF)).exists(), f"{where} does not exist"


def test_local_actions_pin_their_actions() -> None:
    for path in workflow_files():
        if path.name != "action.yml":
            continue
        for step in load(path)["runs"]["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{path}: {step['uses']}"
