"""``invoke image.push`` to a real registry on loopback: pushed by digest, the digest
pulled back is the same image; a stand-in image never goes to a real registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.image.build import BuiltImage
from tests.e2e.image.test_image_check import engine_env
from tests.support.invoke import run_invoke
from tests.support.registry import Registry, running_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A docker-registry for this module's tests."""
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


def test_the_image_is_pushed_and_named_by_digest(
    registry: Registry, good_image: BuiltImage, tmp_path: Path
) -> None:
    repository = f"{registry.host}/trading/trading-api"
    report = tmp_path / "push.json"
    done = run_invoke(
        "image.push",
        "--repository",
        repository,
        "--report",
        str(report),
        env=engine_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    version = good_image.labels["org.opencontainers.image.version"]
    assert result["target"] == f"{repository}:{version}"
    assert result["digest_reference"] == f"{repository}@{result['digest']}"
    assert result["digest"].startswith("sha256:")
    assert registry.repositories() == ["trading/trading-api"]


def test_a_dry_run_pushes_nothing(registry: Registry, good_image: BuiltImage) -> None:
    repository = f"{registry.host}/dry/trading-api"
    done = run_invoke(
        "image.push", "--repository", repository, "--dry-run", "--json", env=engine_env()
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dry_run"] is True
    assert "dry/trading-api" not in registry.repositories()


@pytest.mark.parametrize(
    ("repository", "said"),
    [
        ("ghcr.io/example/trading-api", "is never pushed to a real registry"),
        ("ghcr.io/Example/trading-api:v1", "expected REGISTRY/NAME, lower case, no tag"),
    ],
)
def test_a_push_that_must_not_happen_is_refused(
    good_image: BuiltImage, repository: str, said: str
) -> None:
    if "is never pushed" in said and good_image.base_image != "trading-base:bookworm-local":
        pytest.skip("the image is built on the official base here")
    done = run_invoke("image.push", "--repository", repository, env=engine_env())
    assert done.returncode == 2
    assert said in done.stderr
    assert done.stderr.count("\n") == 1
