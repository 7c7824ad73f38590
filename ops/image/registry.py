"""Pushing the checked image to a registry, and naming it by digest: what CI pushes for
main is what CD deploys (``REPOSITORY@sha256:...``), never a tag that can move.

An image built on the stand-in base is for machines without registry access and is
never pushed to a real registry; a registry on this machine's loopback (a test's, a
developer's) may take it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ops.core.exits import CannotRun, CheckFailed
from ops.image import base
from ops.image.build import BuiltImage
from ops.image.engine import Engine

REPOSITORY = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$")
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True)
class PushPlan:
    """What a push does: the local image, the tag it gets, where it goes."""

    image: BuiltImage
    repository: str
    version: str

    @property
    def target(self) -> str:
        """The tag pushed."""
        return f"{self.repository}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"image": self.image.tag, "id": self.image.id, "target": self.target}


def is_loopback(repository: str) -> bool:
    """True when the registry host is this machine's loopback."""
    host = repository.split("/", 1)[0].rsplit(":", 1)[0]
    return host in LOOPBACK


def plan(image: BuiltImage, repository: str) -> PushPlan:
    """The push of ``image`` to ``repository``; CannotRun (one line) when it must not be."""
    if not REPOSITORY.match(repository):
        raise CannotRun(
            f"--repository {repository!r}: expected REGISTRY/NAME, lower case, "
            "no tag (e.g. ghcr.io/OWNER/trading-api)"
        )
    if image.base_image == base.TAG and not is_loopback(repository):
        raise CannotRun(
            f"{image.tag} is built on the stand-in base ({base.TAG}): it is never "
            "pushed to a real registry; build on the official base"
        )
    version = image.labels.get(VERSION_LABEL, "")
    if not version:
        raise CannotRun(
            f"{image.tag} has no {VERSION_LABEL} label: build it with invoke image.build"
        )
    return PushPlan(image, repository, version)


def push(engine: Engine, chosen: PushPlan) -> str:
    """Tag, push, and return the pushed reference by digest (``REPOSITORY@sha256:...``)."""
    engine.docker("tag", chosen.image.tag, chosen.target, timeout=60)
    engine.docker("push", chosen.target, timeout=1800)
    return digest_reference(engine, chosen)


def digest_reference(engine: Engine, chosen: PushPlan) -> str:
    """The registry's digest of what was pushed, as the engine recorded it."""
    output = engine.docker(
        "image", "inspect", "--format", "{{json .RepoDigests}}", chosen.target, timeout=60
    )
    for reference in json.loads(output) or []:
        if str(reference).startswith(f"{chosen.repository}@sha256:"):
            return str(reference)
    raise CheckFailed(f"pushed {chosen.target}, but the engine recorded no digest for it")


def verify(engine: Engine, reference: str, image_id: str) -> None:
    """Pull the digest back and check it is the same image; CheckFailed otherwise."""
    engine.docker("pull", "--quiet", reference, timeout=1800)
    pulled = engine.docker("image", "inspect", "--format", "{{.Id}}", reference, timeout=60)
    if pulled.strip() != image_id:
        raise CheckFailed(
            f"{reference} is {pulled.strip()[:19]}, not the image pushed ({image_id[:19]})"
        )
