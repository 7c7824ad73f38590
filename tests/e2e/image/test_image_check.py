"""``invoke image.check`` as a user runs it: a bad image refused with its problems named,
and the one-line errors of what cannot run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ops.image.build import BuiltImage
from tests.e2e.image.conftest import BuildBad, as_root, fake_access_key
from tests.support.invoke import run_invoke


def engine_env(**extra: str) -> dict[str, str]:
    """What the task needs of this process's environment to reach the same engine."""
    keep = ("DOCKER_HOST", "HOME", "SSL_CERT_FILE", "CI")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, **extra}


def test_a_root_image_with_a_baked_secret_is_refused(build_bad: BuildBad, tmp_path: Path) -> None:
    key = fake_access_key()
    bad = build_bad(
        "root-secret",
        "\n".join(
            [
                f"ENV AWS_ACCESS_KEY_ID={key}",
                as_root(f"printf 'aws_access_key_id = {key}\\n' > /app/credentials"),
                "USER root",
            ]
        ),
    )
    report = tmp_path / "check.json"
    done = run_invoke(
        "image.check",
        "--image",
        bad.tag,
        "--reports-dir",
        str(tmp_path),
        "--report",
        str(report),
        env=engine_env(),
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: image check failed" in done.stderr
    result = json.loads(report.read_text())
    gates = {gate["gate"]: gate for gate in result["gates"]}
    assert gates["user"]["status"] == "failed"
    assert any("runs as root" in problem for problem in gates["user"]["problems"])
    assert gates["trivy"]["status"] == "failed"
    assert any("aws-access-key-id" in problem for problem in gates["trivy"]["problems"])
    assert key not in report.read_text() + done.stdout + done.stderr  # never the secret itself
    status = json.loads((tmp_path / "security" / "image.status.json").read_text())
    assert (status["gate"], status["status"]) == ("image", "failed")


def test_an_image_the_engine_does_not_hold_cannot_be_checked(good_image: BuiltImage) -> None:
    done = run_invoke("image.check", "--image", "trading-api:never-built", env=engine_env())
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: no image trading-api:never-built in the engine: build it first (invoke image.build)"
    )


def test_an_engine_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    host = f"unix://{tmp_path / 'nobody.sock'}"
    done = run_invoke("image.build", env=engine_env(DOCKER_HOST=host))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: the Docker engine at {host} does not answer: install Docker (Debian: "
        "apt-get install -y docker.io) or set DOCKER_HOST"
    )


def test_a_bad_reports_dir_option_is_not_a_traceback() -> None:
    done = run_invoke("image.check", "--env", "nowhere", env=engine_env())
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
