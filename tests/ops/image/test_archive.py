"""The saved image's layers and the files its own layers leave, whiteouts applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.core.exits import CannotRun
from ops.image import archive
from tests.ops.image.fakes import FakeEngine, LayerFiles, diff_id, layer_tar, saved_image

BASE = {"usr/bin/python3": b"elf", "etc/os-release": b"bookworm"}
APP = {"opt/venv/bin/python": b"link", "app/main.py": b"app = 1"}


def test_the_layers_come_bottom_first_with_their_digests(tmp_path: Path) -> None:
    saved = saved_image(tmp_path / "image.tar", [BASE, APP])
    found = archive.layers(saved)
    assert [layer.member for layer in found] == ["00/layer.tar", "01/layer.tar"]
    assert [layer.diff_id for layer in found] == [diff_id(layer_tar(BASE)), diff_id(layer_tar(APP))]


def test_an_archive_of_two_images_cannot_be_read(tmp_path: Path) -> None:
    saved = saved_image(tmp_path / "two.tar", [BASE], images=2)
    with pytest.raises(CannotRun, match=r"^two\.tar: expected one image in the archive$"):
        archive.layers(saved)


def test_a_manifest_and_config_that_disagree_cannot_be_read(tmp_path: Path) -> None:
    saved = saved_image(tmp_path / "odd.tar", [BASE], diff_ids=["sha256:a", "sha256:b"])
    with pytest.raises(CannotRun, match=r"odd\.tar: the manifest and the config disagree"):
        archive.layers(saved)


def test_own_layers_are_those_above_a_matching_base(tmp_path: Path) -> None:
    found = archive.layers(saved_image(tmp_path / "image.tar", [BASE, APP]))
    assert archive.own_layers(found, [found[0].diff_id]) == found[1:]


@pytest.mark.parametrize("base", [[], ["sha256:another-base"]], ids=["no base", "unknown base"])
def test_without_a_known_base_every_layer_is_the_images_own(
    tmp_path: Path, base: list[str]
) -> None:
    found = archive.layers(saved_image(tmp_path / "image.tar", [BASE, APP]))
    assert archive.own_layers(found, base) == found


def files_of(tmp_path: Path, *layers: LayerFiles) -> dict[str, int]:
    """The files every layer of an archive of ``layers`` leaves."""
    saved = saved_image(tmp_path / "image.tar", list(layers))
    return archive.files(saved, archive.layers(saved))


def test_files_are_the_regular_files_with_their_sizes(tmp_path: Path) -> None:
    found = files_of(tmp_path, {"app/": None, "./app/main.py": b"app = 1"}, {"etc/x": b""})
    assert found == {"app/main.py": 7, "etc/x": 0}


def test_a_whiteout_deletes_a_file_of_an_earlier_layer(tmp_path: Path) -> None:
    found = files_of(
        tmp_path,
        {"root/.cache/pip/wheel": b"x", "root/keep": b"k"},
        {"root/.cache/pip/.wh.wheel": b""},
    )
    assert found == {"root/keep": 1}


def test_a_whiteout_deletes_a_directory_of_an_earlier_layer(tmp_path: Path) -> None:
    earlier = {"root/.cache/uv/a": b"1", "root/.cache/uv/b/c": b"2", "root/.cache/uvx": b"3"}
    found = files_of(tmp_path, earlier, {"root/.cache/.wh.uv": b""})
    assert found == {"root/.cache/uvx": 1}


def test_an_opaque_whiteout_clears_a_directory_but_keeps_what_its_layer_adds(
    tmp_path: Path,
) -> None:
    earlier = {"var/lib/apt/lists/a_Packages": b"1", "var/lib/apt/lists/sub/b": b"2"}
    later = {
        "var/lib/apt/lists/": None,
        "var/lib/apt/lists/.wh..wh..opq": b"",
        "var/lib/apt/lists/lock": b"",
    }
    assert files_of(tmp_path, earlier, later) == {"var/lib/apt/lists/lock": 0}


def test_a_whiteout_at_the_top_deletes_a_top_level_path(tmp_path: Path) -> None:
    found = files_of(tmp_path, {"build/x.o": b"o", "app.py": b""}, {".wh.build": b""})
    assert found == {"app.py": 0}


# ops/image/archive.py lets these escape as KeyError / tarfile.ReadError, which the
# gates' guard (only OpsError) does not catch: image.check would end in a traceback.


def test_an_archive_without_a_manifest_cannot_be_read(tmp_path: Path) -> None:
    saved = tmp_path / "image.tar"
    saved.write_bytes(layer_tar({"config.json": b"{}"}))
    with pytest.raises(CannotRun, match=r"no manifest\.json"):
        archive.layers(saved)


def test_a_file_that_is_no_archive_cannot_be_read(tmp_path: Path) -> None:
    saved = tmp_path / "image.tar"
    saved.write_text("not a tar\n")
    with pytest.raises(CannotRun, match=r"image\.tar"):
        archive.layers(saved)


def test_a_layer_missing_from_the_archive_cannot_be_read(tmp_path: Path) -> None:
    saved = saved_image(tmp_path / "image.tar", [BASE])
    with pytest.raises(CannotRun, match=r"no layer 09/layer\.tar"):
        archive.files(saved, [archive.Layer("09/layer.tar", "sha256:x")])


def test_saving_replaces_a_stale_archive(tmp_path: Path) -> None:
    target = tmp_path / "image" / "image.tar"
    target.parent.mkdir()
    target.write_text("the image of an earlier run")
    engine = FakeEngine()
    assert archive.save(engine, "trading-api:1", target) == target
    assert engine.calls == [("save", "--output", str(target), "trading-api:1")]
    assert not target.exists()
