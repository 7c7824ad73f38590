"""The saved image (``docker save``): its layers, and the files the image's own layers
add on top of its base -- what the leftovers gate and trivy read.

A layer's whiteouts (``.wh.NAME``, ``.wh..wh..opq``) are applied in order, so a
file one layer adds and a later one deletes is not reported as shipped.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ops.core.exits import CannotRun, one_line
from ops.image.engine import Engine

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Layer:
    """One layer of a saved image: its member in the archive and its content digest."""

    member: str
    diff_id: str


def save(engine: Engine, reference: str, target: Path) -> Path:
    """``docker save`` of ``reference`` to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    engine.docker("save", "--output", str(target), reference, timeout=900)
    return target


def layers(archive: Path) -> list[Layer]:
    """The layers of the one image in a ``docker save`` archive, bottom first."""
    try:
        with tarfile.open(archive) as saved:
            manifest = _json_member(saved, "manifest.json")
            if not isinstance(manifest, list) or len(manifest) != 1:
                raise CannotRun(f"{archive.name}: expected one image in the archive")
            config = _json_member(saved, str(manifest[0]["Config"]))
        members = [str(name) for name in manifest[0]["Layers"]]
        diff_ids = [str(digest) for digest in config["rootfs"]["diff_ids"]]
    except tarfile.TarError as error:
        raise CannotRun(f"{archive.name}: not a docker save archive: {one_line(error)}") from None
    except (KeyError, TypeError) as error:
        raise CannotRun(f"{archive.name}: the manifest or config lacks {error}") from None
    if len(members) != len(diff_ids):
        raise CannotRun(f"{archive.name}: the manifest and the config disagree on the layers")
    return [Layer(member, digest) for member, digest in zip(members, diff_ids, strict=True)]


def _member(saved: tarfile.TarFile, name: str, what: str) -> IO[bytes]:
    try:
        handle = saved.extractfile(name)
    except KeyError:
        handle = None
    if handle is None:
        raise CannotRun(f"the saved image has no {what}")
    return handle


def _json_member(saved: tarfile.TarFile, name: str) -> Any:
    with _member(saved, name, name) as handle:
        return json.load(handle)


def own_layers(all_layers: Sequence[Layer], base_diff_ids: Sequence[str]) -> list[Layer]:
    """The layers above the base: all of them when the base's layers are not a prefix
    (an unknown base), so nothing is assumed to come from it."""
    prefix = list(base_diff_ids)
    if prefix and [layer.diff_id for layer in all_layers[: len(prefix)]] == prefix:
        return list(all_layers[len(prefix) :])
    return list(all_layers)


def files(archive: Path, chosen: Iterable[Layer]) -> dict[str, int]:
    """Every regular file or link the ``chosen`` layers leave (path to size), their
    whiteouts applied in order."""
    present: dict[str, int] = {}
    with tarfile.open(archive) as saved:
        for layer in chosen:
            with _member(saved, layer.member, f"layer {layer.member}") as handle:
                _apply(present, _entries(handle))
    return present


def _entries(stream: IO[bytes]) -> Iterator[tarfile.TarInfo]:
    with tarfile.open(fileobj=stream, mode="r|") as layer:
        yield from layer


def _apply(present: dict[str, int], entries: Iterable[tarfile.TarInfo]) -> None:
    for entry in entries:
        path = entry.name.removeprefix("./")
        directory, _, name = path.rpartition("/")
        if name == OPAQUE:
            _forget(present, directory)
        elif name.startswith(WHITEOUT):
            _forget(present, f"{directory}/{name.removeprefix(WHITEOUT)}".lstrip("/"))
        elif not entry.isdir():
            present[path] = entry.size


def _forget(present: dict[str, int], path: str) -> None:
    for known in [p for p in present if p == path or p.startswith(f"{path}/")]:
        del present[known]
