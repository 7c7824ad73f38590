"""Stand-ins for the image tests that need no Docker engine: an engine answering from a
table, a built image, and ``docker save``-shaped archives made in a test's directory."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.core.commands import Completed
from ops.image.build import BuiltImage
from ops.image.engine import Engine

VERSION = "20.10.24+dfsg1"
# A layer: path to content; None makes a directory entry.
LayerFiles = Mapping[str, bytes | None]


@dataclass(frozen=True)
class FakeEngine(Engine):
    """An engine that answers ``docker`` commands from its fields instead of a daemon."""

    host: str = "unix:///nowhere/docker.sock"
    env: Mapping[str, str] = field(default_factory=dict)
    images: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    pullable: frozenset[str] = frozenset()
    run_output: str = ""
    run_code: int = 0
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 900, stdin: str | bytes | None = None) -> Completed:
        """What the real engine would print for ``docker ARGS``."""
        self.calls.append(args)
        command = ("docker", *args)
        if args[:2] == ("image", "inspect"):
            found = self.images.get(args[2])
            if found is None:
                return Completed(command, 1, stderr=f"Error: No such image: {args[2]}\n")
            return Completed(command, 0, stdout=json.dumps([found]))
        if args[0] == "pull":
            pulled = args[1] in self.pullable
            return Completed(command, 0 if pulled else 1, stderr="dial tcp: no such host\n")
        if args[0] == "version":
            return Completed(command, 0, stdout=f"{VERSION}\n")
        if args[0] in {"build", "save"}:
            return Completed(command, 0, stdout="Successfully built 0123456789ab\n")
        if args[0] == "run":
            return Completed(command, self.run_code, stdout=self.run_output, stderr="boom\n")
        raise AssertionError(f"the fake engine does not know docker {' '.join(args)}")


def built(user: str = "10001:10001", size_bytes: int = 100 * 1024 * 1024) -> BuiltImage:
    """A built image as :func:`ops.image.build.inspect` would describe it."""
    config = {"User": user}
    return BuiltImage("trading-api:test", "sha256:" + "ab" * 32, size_bytes, {}, "", config)


def layer_tar(files: LayerFiles) -> bytes:
    """One layer's tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for path, content in files.items():
            entry = tarfile.TarInfo(path)
            if content is None:
                entry.type = tarfile.DIRTYPE
                layer.addfile(entry)
            else:
                entry.size = len(content)
                layer.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def diff_id(layer: bytes) -> str:
    """The content digest of an uncompressed layer."""
    return "sha256:" + hashlib.sha256(layer).hexdigest()


def saved_image(
    path: Path,
    layers: Sequence[LayerFiles],
    *,
    images: int = 1,
    diff_ids: Sequence[str] | None = None,
) -> Path:
    """A ``docker save`` archive at ``path``: ``manifest.json`` (``images`` entries naming
    the config and the layers), the config with ``rootfs.diff_ids`` (default: the layers'
    digests) and one ``<n>/layer.tar`` per layer."""
    tars = [layer_tar(files) for files in layers]
    members = [f"{index:02d}/layer.tar" for index in range(len(tars))]
    digests = list(diff_ids) if diff_ids is not None else [diff_id(tar) for tar in tars]
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": digests}}).encode()
    manifest = [{"Config": "config.json", "RepoTags": ["trading-api:test"], "Layers": members}]
    contents = {"manifest.json": json.dumps(manifest * images).encode(), "config.json": config}
    contents.update(zip(members, tars, strict=True))
    path.write_bytes(layer_tar(contents))
    return path


def fake_trivy(directory: Path, report: Mapping[str, Any]) -> Path:
    """A ``trivy`` that writes ``report`` to its ``--output`` and exits 0."""
    script = directory / "trivy"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "target = sys.argv[sys.argv.index('--output') + 1]\n"
        f"open(target, 'w').write({json.dumps(report)!r})\n"
    )
    script.chmod(0o755)
    return script
