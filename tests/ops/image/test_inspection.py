"""The gates read from the image without running it: its user, what its own layers
leave behind, its size -- each failing with a message naming the problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ops.image import archive, inspection
from tests.ops.image.fakes import FakeEngine, built, saved_image

APP = {"app/main.py": b"app = 1", "opt/venv/bin/python": b"", "var/lib/apt/lists/lock": b""}


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:root"])
def test_root_fails_naming_root(user: str) -> None:
    outcome = inspection.user(built(user=user))
    assert outcome.status == "failed"
    [finding] = outcome.findings
    assert finding.rule_id == "image-root-user"
    assert finding.message.startswith("the image runs as root (")
    assert ("no USER instruction" if not user else f"USER {user}") in finding.message
    assert outcome.figures == {"user": user or "root"}


@pytest.mark.parametrize("user", ["10001:10001", "app"])
def test_a_non_root_user_passes(user: str) -> None:
    outcome = inspection.user(built(user=user))
    assert outcome.status == "passed"
    assert outcome.findings == []


CACHE = ("image-package-cache", "package manager cache")
TOOL = ("image-build-tool", "build tool")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("root/.cache/pip/http-v2/a/b", CACHE),
        ("root/.cache/uv/wheels-v1/x.whl", CACHE),
        ("var/cache/apt/archives/gcc-12_12.2.0_amd64.deb", CACHE),
        ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", CACHE),
        ("usr/local/bin/uv", TOOL),
        ("usr/bin/gcc-12", TOOL),
        ("usr/bin/make", TOOL),
    ],
)
def test_a_leftover_fails_naming_the_file(tmp_path: Path, path: str, kind: tuple[str, str]) -> None:
    rule, what = kind
    saved = saved_image(tmp_path / "image.tar", [{**APP, path: b"left behind"}])
    outcome = inspection.leftovers(saved, ())
    assert outcome.status == "failed"
    [finding] = outcome.findings
    assert finding.rule_id == rule
    assert finding.message.startswith(
        f"1 {what} file(s) left in the runtime layers: /{path} -- remove them in the layer"
    )


def test_a_clean_image_passes_and_says_its_base_was_unknown(tmp_path: Path) -> None:
    outcome = inspection.leftovers(saved_image(tmp_path / "image.tar", [APP]), ())
    assert outcome.status == "passed"
    assert outcome.figures == {"own_layers": 1, "files": 3}
    assert outcome.notes == ["base layers unknown: every layer was inspected"]


def test_a_cache_a_later_layer_deletes_is_not_shipped(tmp_path: Path) -> None:
    layers = [APP, {"root/.cache/pip/wheel": b"x"}, {"root/.cache/.wh.pip": b""}]
    outcome = inspection.leftovers(saved_image(tmp_path / "image.tar", layers), ())
    assert outcome.status == "passed"


def test_the_base_layers_are_not_inspected(tmp_path: Path) -> None:
    base = {"usr/bin/make": b"base's own make", "var/cache/apt/archives/python3.deb": b"deb"}
    saved = saved_image(tmp_path / "image.tar", [base, APP])
    base_ids = (archive.layers(saved)[0].diff_id,)
    outcome = inspection.leftovers(saved, base_ids)
    assert outcome.status == "passed"
    assert outcome.figures["own_layers"] == 1
    assert outcome.notes == []
    assert inspection.leftovers(saved, ("sha256:another-base",)).status == "failed"


def test_many_leftovers_are_listed_five_and_counted(tmp_path: Path) -> None:
    caches = {f"root/.cache/pip/{n}": b"x" for n in range(7)}
    outcome = inspection.leftovers(saved_image(tmp_path / "image.tar", [caches]), ())
    [finding] = outcome.findings
    assert finding.message.startswith("7 package manager cache file(s) left in the runtime")
    assert "/root/.cache/pip/4 and 2 more -- " in finding.message
    assert "/root/.cache/pip/5" not in finding.message


def test_an_image_over_its_budget_fails_naming_the_budget_key() -> None:
    outcome = inspection.size(built(size_bytes=455 * 1024 * 1024), 400)
    assert outcome.status == "failed"
    [finding] = outcome.findings
    assert finding.rule_id == "image-over-budget"
    assert finding.message == (
        "the image is 455.0 MiB, over its budget of 400 MiB ([image] size_budget_mb)"
    )


def test_an_image_within_its_budget_passes_and_reports_its_size() -> None:
    outcome = inspection.size(built(size_bytes=300 * 1024 * 1024), 400)
    assert outcome.status == "passed"
    assert outcome.figures == {
        "size_bytes": 300 * 1024 * 1024,
        "size_mib": 300.0,
        "budget_mib": 400,
    }
    assert outcome.notes == ["300.0 MiB of a 400 MiB budget"]


def test_the_base_layers_come_from_the_engine_when_it_holds_the_base() -> None:
    base = {"Id": "sha256:b", "Size": 1, "Config": {}, "RootFS": {"Layers": ["sha256:1"]}}
    holding = FakeEngine(images={"trading-base:bookworm-local": base})
    on_base = dataclasses.replace(built(), base_image="trading-base:bookworm-local")
    assert inspection.base_layers(holding, on_base) == ("sha256:1",)
    assert inspection.base_layers(FakeEngine(), on_base) == ()
    assert inspection.base_layers(holding, built()) == ()
