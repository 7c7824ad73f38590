"""The deploy suite's bad releases still break the code they name (checked without a
deploy: a refactor of the app would otherwise surface only in the slow deploy session)."""

from __future__ import annotations

import pytest

from ops.project import ROOT
from tests.e2e.deploy.breakages import ALL, Breakage


@pytest.mark.parametrize("breakage", ALL, ids=lambda breakage: breakage.path)
def test_each_bad_release_still_matches_the_code_it_breaks(breakage: Breakage) -> None:
    source = (ROOT / breakage.path).read_text()
    assert breakage.apply(source) != source


def test_a_pattern_that_no_longer_matches_is_named() -> None:
    stale = Breakage("app/api/routes/orders.py", r"order = await legacy\.cancel\(", "x")
    with pytest.raises(AssertionError, match=r"orders\.py no longer matches"):
        stale.apply((ROOT / stale.path).read_text())
