"""What the image tasks do: connect to an engine, then make the base, build, or check.

Every expected failure is one line with its exit code: no engine and none can be
started, a missing tool, an image that is not there -- exit 2; a gate of
``image.check`` that fails -- exit 1; a gate that could not be made (PostgreSQL not
reachable, trivy's database offline) -- exit 3, named in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops.core.console import Console, human_size
from ops.deploy.version import resolve_version
from ops.environments import environments_dir, load_environment
from ops.image import base, registry
from ops.image.build import OFFICIAL_BASE, REPOSITORY, BuiltImage, build, default_base, inspect
from ops.image.engine import connected, server_version

LOCAL_TAG = f"{REPOSITORY}:local"


def base_local(env: Mapping[str, str], console: Console, *, rebuild: bool = False) -> str:
    """Make (or keep) the stand-in base image; returns what was done."""
    with connected(env) as engine:
        done = base.make(engine, say=console.say, rebuild=rebuild)
        console.say(done)
        console.result(
            {
                "image": base.TAG,
                "done": done,
                "description": base.DESCRIPTION,
                "engine": server_version(engine),
            }
        )
    return done


def build_image(
    env: Mapping[str, str],
    console: Console,
    *,
    base_image: str | None = None,
    tag: str | None = None,
    version: str | None = None,
) -> BuiltImage:
    """Build ``deploy/Dockerfile`` as ``tag`` (default ``trading-api:local``) and as
    ``trading-api:<version>``; report what was built."""
    label = resolve_version(version)
    with connected(env) as engine:
        chosen = base_image or default_base(engine)
        if chosen == base.TAG and not engine.has_image(base.TAG):
            console.say(f"no {base.TAG} yet: making it first")
            base.make(engine, say=console.say)
        name = tag or LOCAL_TAG
        console.say(f"building {name} ({label}) on {chosen}")
        built = build(engine, tag=name, version=label, base_image=chosen)
        engine.docker("tag", name, f"{REPOSITORY}:{label}", timeout=60)
    note = "" if chosen == OFFICIAL_BASE else " (stand-in base: never push this image)"
    console.say(f"built {name}: {human_size(built.size_bytes)}, {built.id[:19]}{note}")
    console.result({**built.to_dict(), "version": label, "also_tagged": f"{REPOSITORY}:{label}"})
    return built


def check_image(
    env: Mapping[str, str],
    console: Console,
    image: str | None,
    environment: str,
    reports_dir: str | None = None,
) -> dict[str, Any]:
    """Run the image's gates (:mod:`ops.image.checks`); exit code as the verdict says."""
    from ops.image import checks  # the checks' own dependencies, only for a check

    definition = load_environment(environment, environments_dir(env))
    places = checks.Places.under(Path(reports_dir)) if reports_dir else checks.Places()
    with connected(env) as engine:
        built = inspect(engine, image or LOCAL_TAG)
        return checks.run(engine, built, definition, console, env, places)


def push_image(
    env: Mapping[str, str],
    console: Console,
    repository: str,
    image: str | None = None,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Push the image as ``REPOSITORY:<version>`` and report its digest reference --
    status, plan, apply, verify (the digest pulled back is the same image)."""
    with connected(env) as engine:
        built = inspect(engine, image or LOCAL_TAG)
        chosen = registry.plan(built, repository)
        console.say(f"push {built.tag} ({built.id[:19]}) as {chosen.target}")
        if dry_run:
            console.say("dry run: nothing pushed")
            result = {**chosen.to_dict(), "dry_run": True}
            console.result(result)
            return result
        reference = registry.push(engine, chosen)
        registry.verify(engine, reference, built.id)
    console.say(f"pushed {reference}")
    result = {
        **chosen.to_dict(),
        "dry_run": False,
        "digest_reference": reference,
        "digest": reference.rsplit("@", 1)[1],
    }
    console.result(result)
    return result
