"""Streaming building blocks: byte transforms, a reader and a writer that apply them,
and a running sha256 with a byte count. Memory use is bounded by the chunk sizes."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from ops.storage.base import CHUNK


class Transform(Protocol):
    """Turns a byte stream into another, a piece at a time."""

    def update(self, data: bytes) -> bytes:
        """Output for the next piece of input (possibly empty)."""
        ...

    def finish(self) -> bytes:
        """The remaining output at the end of the input."""
        ...


class Digest:
    """sha256 and length of everything added."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def add(self, data: bytes) -> None:
        """Account for ``data``."""
        self._hash.update(data)
        self.size += len(data)

    @property
    def hexdigest(self) -> str:
        """The sha256 so far, hex."""
        return self._hash.hexdigest()


def _apply(transforms: Sequence[Transform], data: bytes, final: bool) -> bytes:
    for transform in transforms:
        data = transform.update(data)
        if final:
            data += transform.finish()
    return data


class _Transforming(io.RawIOBase):
    """A raw stream that passes bytes through ``transforms`` and counts them in ``digest``."""

    def __init__(self, transforms: Sequence[Transform], digest: Digest | None) -> None:
        super().__init__()
        self.transforms = list(transforms)
        self.digest = digest or Digest()


class TransformReader(_Transforming):
    """Reads ``source`` through ``transforms``; ``digest`` sees the output."""

    def __init__(
        self, source: BinaryIO, transforms: Sequence[Transform] = (), digest: Digest | None = None
    ) -> None:
        super().__init__(transforms, digest)
        self.source = source
        self.consumed = 0  # bytes read from the source
        self._buffer = bytearray()
        self._eof = False

    def readable(self) -> bool:
        """Always."""
        return True

    def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._eof:
            data = self.source.read(CHUNK)
            self.consumed += len(data)
            self._eof = not data
            out = _apply(self.transforms, data, final=self._eof)
            self.digest.add(out)
            self._buffer += out

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``target`` with transformed bytes; 0 at the end."""
        view = memoryview(target).cast("B")
        self._fill(len(view))
        count = min(len(view), len(self._buffer))
        view[:count] = self._buffer[:count]
        del self._buffer[:count]
        return count


class TransformWriter(_Transforming):
    """Writes through ``transforms`` into ``sink``; ``digest`` sees the input."""

    def __init__(
        self, sink: BinaryIO, transforms: Sequence[Transform] = (), digest: Digest | None = None
    ) -> None:
        super().__init__(transforms, digest)
        self.sink = sink

    def writable(self) -> bool:
        """Always."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Transform and pass on ``data``."""
        chunk = bytes(data)
        self.digest.add(chunk)
        self.sink.write(_apply(self.transforms, chunk, final=False))
        return len(chunk)

    def finish(self) -> None:
        """Flush what the transforms still hold (call once, at the end)."""
        self.sink.write(_apply(self.transforms, b"", final=True))
