"""Building ``deploy/Dockerfile``: the version and commit as build arguments and as OCI
labels (source, revision, version, created), on the official base on GitHub Actions and
on the stand-in base where no registry can be reached."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.core.exits import CannotRun
from ops.core.git import head_commit, is_checkout
from ops.image import base
from ops.image.engine import Engine
from ops.project import ROOT, pyproject

DOCKERFILE = Path("deploy") / "Dockerfile"
OFFICIAL_BASE = "python:3.11-slim-bookworm"
REPOSITORY = "trading-api"


@dataclass(frozen=True)
class BuiltImage:
    """An image the engine holds: its tag, id, size and labels."""

    tag: str
    id: str
    size_bytes: int
    labels: dict[str, str]
    base_image: str
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    layers: tuple[str, ...] = ()

    @property
    def user(self) -> str:
        """The user the image runs as (``""``: root)."""
        return str(self.config.get("User") or "")

    @property
    def stop_signal(self) -> str:
        """The signal ``docker stop`` sends (SIGTERM unless the image says otherwise)."""
        return str(self.config.get("StopSignal") or "SIGTERM")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tag": self.tag,
            "id": self.id,
            "size_bytes": self.size_bytes,
            "labels": self.labels,
            "base_image": self.base_image,
            "user": self.user,
        }


def default_base(engine: Engine) -> str:
    """The base to build on: the official one on GitHub Actions, or wherever the engine
    holds it or can pull it; else the stand-in (which the caller makes if missing)."""
    if engine.env.get("GITHUB_ACTIONS") == "true" or engine.has_image(OFFICIAL_BASE):
        return OFFICIAL_BASE
    if engine.has_image(base.TAG) or not engine.run("pull", OFFICIAL_BASE, timeout=120).ok:
        return base.TAG
    return OFFICIAL_BASE


def source_url(env: Mapping[str, str]) -> str:
    """The repository the image is built from (GitHub's, when building there)."""
    if env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}"
    return str(pyproject()["project"].get("urls", {}).get("Source", "unknown"))


def revision(source: Path, env: Mapping[str, str]) -> str:
    """The commit built (``GITHUB_SHA`` on GitHub), or ``unknown`` outside a checkout."""
    if env.get("GITHUB_SHA"):
        return env["GITHUB_SHA"]
    return head_commit(source) if is_checkout(source) else "unknown"


def labels(
    version: str, commit: str, env: Mapping[str, str], now: datetime, base_image: str
) -> dict[str, str]:
    """The OCI image labels (the base's name and description are replaced: an image
    inherits its base's labels)."""
    prefix = "org.opencontainers.image"
    stand_in = " -- built on the stand-in base: never push it" if base_image == base.TAG else ""
    return {
        f"{prefix}.source": source_url(env),
        f"{prefix}.revision": commit,
        f"{prefix}.version": version,
        f"{prefix}.created": now.isoformat(timespec="seconds"),
        f"{prefix}.title": REPOSITORY,
        f"{prefix}.description": f"The trading API{stand_in}",
        f"{prefix}.base.name": base_image,
    }


def build(
    engine: Engine,
    *,
    tag: str,
    version: str,
    base_image: str,
    source: Path = ROOT,
    dockerfile: Path = DOCKERFILE,
    now: datetime | None = None,
) -> BuiltImage:
    """``docker build`` of ``dockerfile`` (relative to ``source``) as ``tag``."""
    if not (source / dockerfile).is_file():
        raise CannotRun(f"{source / dockerfile}: no such Dockerfile")
    commit = revision(source, engine.env)
    wanted = labels(version, commit, engine.env, now or datetime.now(UTC), base_image)
    args = [
        "build",
        "--network=host",
        "--file",
        str(source / dockerfile),
        "--tag",
        tag,
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--build-arg",
        f"APP_VERSION={version}",
        "--build-arg",
        f"GIT_SHA={commit}",
    ]
    args += [part for key, value in wanted.items() for part in ("--label", f"{key}={value}")]
    engine.docker(*args, str(source), timeout=1800)
    return inspect(engine, tag, base_image)


def inspect(engine: Engine, reference: str, base_image: str = "") -> BuiltImage:
    """What the engine knows of ``reference``."""
    if not engine.has_image(reference):
        raise CannotRun(f"no image {reference} in the engine: build it first (invoke image.build)")
    data = json.loads(engine.docker("image", "inspect", reference, timeout=60))[0]
    config = data.get("Config") or {}
    found = dict(config.get("Labels") or {})
    base_image = base_image or found.get("org.opencontainers.image.base.name", "")
    layers = tuple(data.get("RootFS", {}).get("Layers") or ())
    return BuiltImage(reference, data["Id"], int(data["Size"]), found, base_image, config, layers)
