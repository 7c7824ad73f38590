"""``invoke image.base-local``, ``image.build``, ``image.check``, ``image.push``: the
production image."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from ops.core import environ
from ops.tasks import DRY_RUN, OUTPUT_HELP, console, one_line_errors, required

IMAGE_HELP = "the image to check (default: the one image.build tags, trading-api:local)"


@task(
    name="base-local",
    help={"rebuild": "make it again even when cached", **OUTPUT_HELP},
)
def base_local(
    c: Context, rebuild: bool = False, json_: bool = False, report: str | None = None
) -> None:
    """Make the stand-in base from Debian's packages (no registry here; never pushed)."""
    from ops.image import operations

    with one_line_errors():
        operations.base_local(environ.current(), console(json_, report), rebuild=rebuild)


@task(
    help={
        "base-image": "the base (default: official on GitHub, the stand-in where it was made)",
        "tag": "the tag to give the image (default trading-api:local)",
        "version": "the version label (default: the commit, as deploys name releases)",
        **OUTPUT_HELP,
    }
)
def build(
    c: Context,
    base_image: str = "",
    tag: str = "",
    version: str = "",
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Build deploy/Dockerfile with the version, commit and OCI labels."""
    from ops.image import operations

    with one_line_errors():
        operations.build_image(
            environ.current(),
            console(json_, report),
            base_image=base_image or None,
            tag=tag or None,
            version=version or None,
        )


@task(
    help={
        "image": IMAGE_HELP,
        "env": "the environment whose [image] budget applies (default production)",
        "reports-dir": "where the reports and the saved image go (default reports/)",
        **OUTPUT_HELP,
    }
)
def check(
    c: Context,
    image: str = "",
    env: str = "production",
    reports_dir: str = "",
    json_: bool = False,
    report: str | None = None,
) -> None:
    """The image's gates: user, leftovers, size, boot, drain, settings guard, trivy, SBOM."""
    from ops.image import operations

    with one_line_errors():
        operations.check_image(
            environ.current(), console(json_, report), image or None, env, reports_dir or None
        )


@task(
    help={
        "repository": "where to push: REGISTRY/NAME, no tag (e.g. ghcr.io/OWNER/trading-api)",
        "image": IMAGE_HELP,
        "dry-run": DRY_RUN,
        **OUTPUT_HELP,
    }
)
def push(
    c: Context,
    repository: str = "",
    image: str = "",
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Push the checked image as REPOSITORY:<version>; report its digest (what CD deploys)."""
    from ops.image import operations

    with one_line_errors():
        name = required(repository, "--repository", "REGISTRY/NAME to push to")
        operations.push_image(
            environ.current(), console(json_, report), name, image or None, dry_run=dry_run
        )


image = Collection("image", base_local, build, check, push)
