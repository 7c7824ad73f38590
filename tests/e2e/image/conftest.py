"""A real Docker engine, the image ``invoke image.build`` makes, and bad images built
from it for the tests: each breaks one thing a gate must catch."""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ops.core.console import Console
from ops.core.exits import OpsError
from ops.image import archive
from ops.image.build import BuiltImage, inspect
from ops.image.engine import Engine, connected
from ops.image.operations import LOCAL_TAG, build_image
from tests.support.needs import missing

BAD_PREFIX = "trading-api-bad"
BuildBad = Callable[[str, str], BuiltImage]


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The engine: ``DOCKER_HOST``, the default socket, or a private dockerd."""
    try:
        with connected(os.environ) as reachable:
            yield reachable
    except OpsError as error:
        missing(f"no Docker engine: {error}")


@pytest.fixture(scope="session")
def good_image(engine: Engine) -> BuiltImage:
    """``trading-api:local`` as ``invoke image.build`` makes it (built when missing)."""
    if engine.has_image(LOCAL_TAG):
        return inspect(engine, LOCAL_TAG)
    return build_image(os.environ, Console(env=os.environ), version="e2e")


@pytest.fixture(scope="session")
def build_bad(
    engine: Engine, good_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuildBad]:
    """``build_bad(name, instructions)``: the good image plus Dockerfile ``instructions``
    (removed at the end of the session)."""
    made: list[str] = []

    def make(name: str, instructions: str) -> BuiltImage:
        context = tmp_path_factory.mktemp(name)
        (context / "Dockerfile").write_text(f"FROM {good_image.tag}\n{instructions}\n")
        tag = f"{BAD_PREFIX}:{name}"
        engine.docker("build", "--quiet", "--tag", tag, str(context), timeout=600)
        made.append(tag)
        return inspect(engine, tag)

    yield make
    if made:
        engine.run("image", "rm", "--force", *made, timeout=120)


def as_root(*commands: str) -> str:
    """Dockerfile lines running ``commands`` as root, then back to the app's user."""
    return "\n".join(["USER root", *(f"RUN {command}" for command in commands), "USER 10001:10001"])


def fake_access_key() -> str:
    """An AWS-shaped access key id made now (never a literal in the tree)."""
    alphabet = string.ascii_uppercase + "234567"
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def saved(engine: Engine, image: BuiltImage, directory: Path) -> Path:
    """``docker save`` of ``image`` into ``directory``."""
    return archive.save(engine, image.tag, directory / "image.tar")
