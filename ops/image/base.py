"""The stand-in base image: Debian bookworm with Python 3.11, made from Debian's packages,
for machines that cannot pull ``python:3.11-slim-bookworm`` from a registry.

It is a base for such machines only -- never pushed, and labelled so: the image CI
builds and deploys uses the official base. It has what the Dockerfile expects of the
official one: ``python`` and ``pip`` on the PATH, pip allowed to install (no
``EXTERNALLY-MANAGED`` marker), and the machine's CA bundle -- TLS to the package
registries passes through a CA only that bundle holds -- with ``SSL_CERT_FILE``,
``PIP_CERT`` and ``UV_NATIVE_TLS`` pointing uv and pip at it.

``debootstrap`` takes about 45 s: its root file system is kept as a tarball under the
cache directory, keyed by the package list and the CA bundle, so a later run only
imports it (a few seconds); an engine that still holds the image skips both.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ops.core.commands import check, find_executable
from ops.core.environ import child_env
from ops.core.exits import CannotRun
from ops.image.engine import CACHE_DIR, Engine

TAG = "trading-base:bookworm-local"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUNDLE_IN_IMAGE = "/etc/ssl/certs/ca-certificates.crt"
DESCRIPTION = (
    "stand-in base for machines without registry access, made from Debian's packages; never pushed"
)
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    f"ENV SSL_CERT_FILE={BUNDLE_IN_IMAGE}",
    f"ENV PIP_CERT={BUNDLE_IN_IMAGE}",
    "ENV UV_NATIVE_TLS=1",
    "ENV LANG=C.UTF-8",
    f'LABEL org.opencontainers.image.description="{DESCRIPTION}"',
    'LABEL org.opencontainers.image.base.name="debian:bookworm (debootstrap --variant=minbase)"',
    'CMD ["python3"]',
)
LEFTOVERS = ("var/lib/apt/lists", "var/cache/apt", "var/log", "root/.cache", "tmp")
DEBOOTSTRAP_HINT = "install debootstrap (apt-get install -y debootstrap)"
Say = Callable[[str], None]


def ca_bundle(env: Mapping[str, str]) -> Path:
    """The machine's CA bundle (``SSL_CERT_FILE``, else Debian's)."""
    bundle = Path(env.get("SSL_CERT_FILE") or CA_BUNDLE)
    if not bundle.is_file():
        raise CannotRun(f"no CA bundle at {bundle}: set SSL_CERT_FILE to the machine's bundle")
    return bundle


def cache_key(bundle: Path) -> str:
    """What the cached root file system was made from: suite, packages, CA bundle."""
    digest = hashlib.sha256(" ".join((SUITE, MIRROR, *PACKAGES)).encode())
    digest.update(bundle.read_bytes())
    return digest.hexdigest()[:16]


def make(
    engine: Engine, *, say: Say, tag: str = TAG, cache: Path = CACHE_DIR, rebuild: bool = False
) -> str:
    """The stand-in base in ``engine`` as ``tag`` (made, imported or kept); what was done."""
    if engine.has_image(tag) and not rebuild:
        return f"{tag} already in the engine"
    bundle = ca_bundle(engine.env)
    tarball = cache / "image-base" / f"{SUITE}-{cache_key(bundle)}.tar"
    how = "imported the cached root file system"
    if rebuild or not tarball.is_file():
        root_filesystem(tarball, bundle, engine.env, say)
        how = "made from Debian's packages"
    changes = [part for change in IMAGE_CHANGES for part in ("--change", change)]
    engine.docker("import", *changes, str(tarball), tag, timeout=600)
    return f"{tag}: {how} ({DESCRIPTION})"


def root_filesystem(tarball: Path, bundle: Path, env: Mapping[str, str], say: Say) -> None:
    """debootstrap a minimal bookworm with Python into a temporary directory, make it
    behave as the official image, and keep it as ``tarball`` (written whole)."""
    debootstrap = find_executable("debootstrap", hint=DEBOOTSTRAP_HINT, env=env)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="image-base-") as directory:
        root = Path(directory) / "root"
        say(f"  debootstrap {SUITE} with {', '.join(PACKAGES)} (about 45 s)")
        command = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(root),
            MIRROR,
        ]
        check(command, env=child_env(env), timeout=1800)
        prepare(root, bundle)
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as archive:
            archive.add(root, arcname=".")
        partial.replace(tarball)


def prepare(root: Path, bundle: Path) -> None:
    """Make a debootstrapped root look like the official image where the Dockerfile
    relies on it, and leave no package manager caches in it."""
    python = root / "usr" / "bin" / "python"
    if not python.exists():
        python.symlink_to("python3")
    for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for leftover in LEFTOVERS:
        for path in (root / leftover).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    shutil.copyfile(bundle, root / BUNDLE_IN_IMAGE.lstrip("/"))
