"""One version per tool: pre-commit, bootstrap and Dockerfile pins agree with uv.lock."""

from __future__ import annotations

import re

import yaml

from ops.project import ROOT, locked_versions, normalize

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)")


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            pins[normalize(match.group(1).split("[")[0])] = match.group(2)
    return pins


def bootstrap_pins() -> dict[str, str]:
    return _pins((ROOT / "requirements" / "bootstrap.txt").read_text().splitlines())


def test_pre_commit_hooks_use_the_locked_versions() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    locked = locked_versions()
    allowed = locked | {"uv": bootstrap_pins()["uv"]}
    checked = 0
    for repo in config["repos"]:
        assert repo["repo"] == "local", "hooks come from PyPI packages, pinned here"
        for hook in repo["hooks"]:
            for name, version in _pins(hook.get("additional_dependencies", [])).items():
                assert name in allowed, f"{hook['id']}: {name} is not in uv.lock"
                assert version == allowed[name], (
                    f"{hook['id']}: {name}=={version}, lock has {allowed[name]}"
                )
                checked += 1
    assert checked >= 10


def test_bootstrap_nox_matches_the_lock() -> None:
    assert bootstrap_pins()["nox"] == locked_versions()["nox"]


def test_dockerfile_uses_the_bootstrap_uv() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f'"uv=={bootstrap_pins()["uv"]}"' in dockerfile


def test_pin_parser_sees_through_markers_and_extras() -> None:
    assert _pins(["colorama==0.4.6 ; sys_platform == 'win32' \\", "x[y]==1", "# c", "z>=2"]) == {
        "colorama": "0.4.6",
        "x": "1",
    }
