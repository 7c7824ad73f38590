"""Repository facts read from pyproject.toml and uv.lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.project import dependency_groups, locked_versions, normalize, supported_pythons


def test_supported_pythons_come_from_the_classifiers() -> None:
    assert supported_pythons() == ["3.11", "3.12", "3.13"]


def test_missing_classifiers_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\nclassifiers = []\n')
    with pytest.raises(ValueError, match="no 'Programming Language"):
        supported_pythons(path)


def test_groups_and_locked_versions() -> None:
    assert {"test", "lint", "typecheck", "ops", "coverage", "nox"} <= set(dependency_groups())
    versions = locked_versions()
    assert versions["fastapi"]
    assert normalize("Pre_Commit.Hooks") == "pre-commit-hooks"
