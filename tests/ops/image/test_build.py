"""Building the image: the OCI labels, where the source and commit come from, the base
chosen, the build's arguments, and what the engine says of an image."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops.core.exits import CannotRun
from ops.image import base, build
from ops.project import ROOT
from tests.ops.image.fakes import FakeEngine

NOW = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
OCI = "org.opencontainers.image"
GITHUB = {"GITHUB_REPOSITORY": "example/trading", "GITHUB_SHA": "f" * 40}


def inspected(user: str = "10001:10001", **labels: str) -> dict[str, Any]:
    """``docker image inspect``'s entry for an image."""
    return {
        "Id": "sha256:" + "cd" * 32,
        "Size": 455 * 1024 * 1024,
        "Config": {"User": user, "Labels": labels, "StopSignal": None},
        "RootFS": {"Type": "layers", "Layers": ["sha256:1", "sha256:2"]},
    }


def test_the_labels_are_the_oci_ones_and_replace_the_bases() -> None:
    found = build.labels("1.4.0", "abc123", GITHUB, NOW, build.OFFICIAL_BASE)
    assert found == {
        f"{OCI}.source": "https://github.com/example/trading",
        f"{OCI}.revision": "abc123",
        f"{OCI}.version": "1.4.0",
        f"{OCI}.created": "2026-03-01T12:30:05+00:00",
        f"{OCI}.title": "trading-api",
        f"{OCI}.description": "The trading API",
        f"{OCI}.base.name": build.OFFICIAL_BASE,
    }


def test_an_image_on_the_stand_in_base_says_never_to_push_it() -> None:
    found = build.labels("1.4.0", "abc123", GITHUB, NOW, base.TAG)
    assert found[f"{OCI}.description"] == (
        "The trading API -- built on the stand-in base: never push it"
    )
    assert found[f"{OCI}.base.name"] == base.TAG


def test_the_source_is_githubs_repository_when_building_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build.source_url(GITHUB) == "https://github.com/example/trading"
    enterprise = {**GITHUB, "GITHUB_SERVER_URL": "https://git.example.com"}
    assert build.source_url(enterprise) == "https://git.example.com/example/trading"
    monkeypatch.setattr(build, "pyproject", lambda: {"project": {"urls": {"Source": "https://s"}}})
    assert build.source_url({}) == "https://s"
    monkeypatch.setattr(build, "pyproject", lambda: {"project": {}})
    assert build.source_url({}) == "unknown"


def test_the_revision_is_githubs_commit_else_the_checkouts(tmp_path: Path) -> None:
    assert build.revision(ROOT, GITHUB) == "f" * 40
    assert build.revision(tmp_path, {}) == "unknown"
    if (ROOT / ".git").exists():
        commit = build.revision(ROOT, {})
        assert len(commit) == 40
        assert set(commit) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    ("env", "held", "pullable", "chosen"),
    [
        ({"GITHUB_ACTIONS": "true"}, {base.TAG}, set(), build.OFFICIAL_BASE),
        ({}, {build.OFFICIAL_BASE, base.TAG}, set(), build.OFFICIAL_BASE),
        ({}, {base.TAG}, {build.OFFICIAL_BASE}, base.TAG),
        ({}, set(), {build.OFFICIAL_BASE}, build.OFFICIAL_BASE),
        ({}, set(), set(), base.TAG),
    ],
    ids=["github", "official held", "stand-in held", "official pulled", "no registry"],
)
def test_the_default_base(
    env: dict[str, str], held: set[str], pullable: set[str], chosen: str
) -> None:
    images = {name: inspected() for name in held}
    engine = FakeEngine(env=env, images=images, pullable=frozenset(pullable))
    assert build.default_base(engine) == chosen
    pulled = [call for call in engine.calls if call[0] == "pull"]
    assert pulled == ([("pull", build.OFFICIAL_BASE)] if not held and not env else [])


def test_the_build_passes_version_commit_base_and_labels(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "Dockerfile").write_text("FROM scratch\n")
    engine = FakeEngine(env=GITHUB, images={"trading-api:1": inspected()})
    image = build.build(
        engine, tag="trading-api:1", version="1.4.0", base_image=base.TAG, source=tmp_path, now=NOW
    )
    [call] = [args for args in engine.calls if args[0] == "build"]
    arguments = [call[i + 1] for i, arg in enumerate(call) if arg == "--build-arg"]
    assert arguments == [f"BASE_IMAGE={base.TAG}", "APP_VERSION=1.4.0", f"GIT_SHA={'f' * 40}"]
    assert f"{OCI}.revision={'f' * 40}" in call
    assert call[-1] == str(tmp_path)
    assert image.base_image == base.TAG
    assert image.tag == "trading-api:1"


def test_a_missing_dockerfile_cannot_be_built(tmp_path: Path) -> None:
    engine = FakeEngine()
    with pytest.raises(CannotRun, match=r"deploy/Dockerfile: no such Dockerfile$"):
        build.build(engine, tag="t:1", version="1", base_image=base.TAG, source=tmp_path)
    assert engine.calls == []


def test_what_the_engine_says_of_an_image() -> None:
    labels = {f"{OCI}.base.name": base.TAG}
    engine = FakeEngine(images={"trading-api:1": inspected("app", **labels)})
    image = build.inspect(engine, "trading-api:1")
    assert (image.user, image.stop_signal, image.base_image) == ("app", "SIGTERM", base.TAG)
    assert image.size_bytes == 455 * 1024 * 1024
    assert image.layers == ("sha256:1", "sha256:2")
    assert image.to_dict()["user"] == "app"
    assert build.inspect(engine, "trading-api:1", "other:base").base_image == "other:base"


def test_an_image_the_engine_does_not_hold_is_named_with_how_to_build_it() -> None:
    with pytest.raises(CannotRun, match=r"^no image t:1 in the engine: build it first \(invoke"):
        build.inspect(FakeEngine(), "t:1")
