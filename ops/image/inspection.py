"""The gates read from the image itself, without running it: the user it runs as, what
its own layers leave behind (package manager caches, build tools), and its size."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ops.core.console import human_size
from ops.image import archive
from ops.image.build import BuiltImage
from ops.image.engine import Engine
from ops.image.outcome import Outcome

ROOT_USERS = frozenset({"", "root", "0"})
MIB = 1024 * 1024
# Caches an installer leaves: pip's and uv's, apt's downloaded packages and lists, npm's.
CACHES = (
    (re.compile(r"(^|/)\.cache/(pip|uv|pypoetry)/"), "a pip/uv cache"),
    (re.compile(r"^var/cache/apt/archives/[^/]+\.deb$"), "a downloaded .deb"),
    (re.compile(r"^var/lib/apt/lists/(?!lock$|partial/)[^/]+$"), "apt's package lists"),
    (re.compile(r"(^|/)\.npm/_cacache/"), "an npm cache"),
)
# What builds software but never runs it.
BUILD_TOOLS = re.compile(
    r"(^|/)s?bin/(uv|uvx|gcc(-\d+)?|g\+\+(-\d+)?|cc|c\+\+|make|cmake|cargo|rustc|go|ld)$"
)
LISTED = 5


def user(built: BuiltImage) -> Outcome:
    """Passed when the image declares a user other than root."""
    outcome = Outcome("user", figures={"user": built.user or "root"})
    name = built.user.split(":", 1)[0]
    if name in ROOT_USERS:
        declared = f"USER {built.user}" if built.user else "no USER instruction"
        outcome.fail(
            "image-root-user",
            f"the image runs as root ({declared}): run as a non-root user (USER 10001:10001)",
        )
    return outcome


def base_layers(engine: Engine, built: BuiltImage) -> tuple[str, ...]:
    """The layers of the image's base (from its ``base.name`` label), or none when the
    engine does not hold the base."""
    from ops.image.build import inspect  # one level down: build imports nothing of this

    if not built.base_image or not engine.has_image(built.base_image):
        return ()
    return inspect(engine, built.base_image).layers


def leftovers(saved: Path, base: tuple[str, ...]) -> Outcome:
    """Failed on a package manager cache or a build tool in the image's own layers."""
    own = archive.own_layers(archive.layers(saved), base)
    present = archive.files(saved, own)
    outcome = Outcome("leftovers", figures={"own_layers": len(own), "files": len(present)})
    if not base:
        outcome.notes.append("base layers unknown: every layer was inspected")
    _report(outcome, "image-package-cache", "package manager cache", _caches(present))
    tools = sorted(path for path in present if BUILD_TOOLS.search(path))
    _report(outcome, "image-build-tool", "build tool", dict.fromkeys(tools, "a build tool"))
    return outcome


def _caches(present: Mapping[str, int]) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(present):
        for pattern, what in CACHES:
            if pattern.search(path):
                found[path] = what
                break
    return found


def _report(outcome: Outcome, rule: str, kind: str, found: Mapping[str, str]) -> None:
    if not found:
        return
    listed = ", ".join(f"/{path}" for path in list(found)[:LISTED])
    more = f" and {len(found) - LISTED} more" if len(found) > LISTED else ""
    outcome.fail(
        rule,
        f"{len(found)} {kind} file(s) left in the runtime layers: {listed}{more}"
        " -- remove them in the layer that made them, or build them in the builder"
        " stage",
    )


def size(built: BuiltImage, budget_mib: float) -> Outcome:
    """Failed when the image is larger than the environment's budget."""
    mib = built.size_bytes / MIB
    figures = {"size_bytes": built.size_bytes, "size_mib": round(mib, 1), "budget_mib": budget_mib}
    outcome = Outcome("size", figures=figures)
    outcome.notes.append(f"{human_size(built.size_bytes)} of a {budget_mib:g} MiB budget")
    if mib > budget_mib:
        outcome.fail(
            "image-over-budget",
            f"the image is {mib:.1f} MiB, over its budget of "
            f"{budget_mib:g} MiB ([image] size_budget_mb)",
        )
    return outcome
