"""Pixel and memory limits checked from headers before anything is decoded or loaded."""

from __future__ import annotations

import shutil
import struct
import sys
import zlib

import pytest
from PIL import ImageFile

from tissue_mib import io
from tissue_mib.cli import main
from tissue_mib.errors import InputError
from tissue_mib.io import guard
from tissue_mib.io.images import SlideImage, load_rgb
from tissue_mib.settings import settings


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb_png(path, width: int = 40_000, height: int = 40_000) -> None:
    """A valid PNG header declaring a width x height 1-bit canvas, with a few KB of compressed rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width // 8) * 200, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b""))


@pytest.fixture(autouse=True)
def _limits(monkeypatch):
    """Each test starts from the defaults (no setting, no environment variable)."""
    monkeypatch.delenv(guard.PIXELS_ENV, raising=False)
    monkeypatch.delenv(guard.MEMORY_ENV, raising=False)
    monkeypatch.setattr(settings, "max_image_pixels", None)
    monkeypatch.setattr(settings, "max_memory", None)


@pytest.fixture
def no_decoding(monkeypatch):
    """Any attempt to decode pixel data fails the test."""

    def refuse(self):
        raise AssertionError("image data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_png_bomb_is_refused_from_its_header(tmp_path, no_decoding):
    path = tmp_path / "bomb.png"
    write_bomb_png(path)
    assert path.stat().st_size < 10_000
    expected = (f"{path}: image declares 40000 x 40000 = 1600 Mpx, above the limit of 1000 Mpx "
                "(TISSUE_MIB_MAX_IMAGE_PIXELS); a decompression bomb or a whole slide to read as TIFF/SVS")  # fmt: skip
    with pytest.raises(InputError) as err:
        load_rgb(path)
    assert str(err.value) == expected
    with pytest.raises(InputError, match="1600 Mpx"):
        SlideImage(path)


def test_png_bomb_in_a_section_exits_2(visium_copy, monkeypatch, capsys, tmp_path):
    outs = visium_copy()
    write_bomb_png(outs / "spatial" / "tissue_hires_image.png")
    monkeypatch.setattr(sys, "argv", ["tissue-mib", "-q", "train", "--normal", str(outs), "--out", str(tmp_path / "m")])
    with pytest.raises(SystemExit) as code:
        main.app()
    err = capsys.readouterr().err
    assert code.value.code == 2 and err.count("\n") == 1 and "tissue_hires_image.png: image declares 40000 x 40000" in err
    assert not (tmp_path / "m").exists()


def test_her2st_jpeg_of_92_megapixels_loads(shared_data):
    with SlideImage(shared_data / "her2st" / "images" / "B4_BT10737_D2_HE.jpg") as slide:
        assert slide.shape == (9923, 9272)
        thumb, scale = slide.thumbnail(400)
    assert max(thumb.shape[:2]) == 400 and scale == pytest.approx(400 / 9923, rel=0.01)


def test_pixel_limit_from_setting_and_environment(shared_data, monkeypatch):
    hires = shared_data / "visium-fixture-scanpy" / "1.0.0" / "spatial" / "tissue_hires_image.png"
    assert load_rgb(hires).shape == (2000, 2000, 3)
    monkeypatch.setenv(guard.PIXELS_ENV, "1000000")
    with pytest.raises(InputError, match=r"2000 x 2000 = 4 Mpx, above the limit of 1 Mpx"):
        load_rgb(hires)
    monkeypatch.setattr(settings, "max_image_pixels", 5_000_000)  # the setting wins
    assert load_rgb(hires).shape == (2000, 2000, 3)
    monkeypatch.setattr(settings, "max_image_pixels", None)
    monkeypatch.setenv(guard.PIXELS_ENV, "lots")
    with pytest.raises(InputError, match=r"TISSUE_MIB_MAX_IMAGE_PIXELS = 'lots': must be an integer >= 1"):
        load_rgb(hires)


@pytest.mark.parametrize(("text", "size"), [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5T", int(1.5 * 2**40)),
                                            ("64k", 65536), ("100", 100), ("8GiB", 8 * 2**30), ("2 gb", 2 * 2**30)])  # fmt: skip
def test_parse_size(text, size):
    assert guard.parse_size(text) == size


@pytest.mark.parametrize("text", ["-1", "abc", "0", "8X", ""])
def test_parse_size_rejects(text):
    with pytest.raises(InputError, match=rf"TISSUE_MIB_MAX_MEMORY = '{text}': must be a size > 0 such as 8G"):
        guard.parse_size(text)


def test_default_memory_limit_is_80_percent_of_ram():
    assert guard.max_memory() == int(0.8 * guard.available_memory()) > 0


def test_memory_guard_refuses_matrices_and_images(shared_data, tmp_path, monkeypatch):
    fixture = shared_data / "visium-fixture-scanpy" / "1.0.0"
    h5ad = shared_data / "visium-fixture-squidpy" / "test_data.h5ad"
    monkeypatch.setenv(guard.MEMORY_ENV, "8k")
    with pytest.raises(InputError, match=r"filtered_feature_bc_matrix\.h5: loading 100 spots x \d+ genes needs about .* "
                                         r"above the memory limit of 8\.0 KiB \(TISSUE_MIB_MAX_MEMORY; default 80% of RAM\)"):  # fmt: skip
        io.read_matrix(fixture / "filtered_feature_bc_matrix.h5")
    with pytest.raises(InputError, match=r"test_data\.h5ad: loading \d+ spots x \d+ genes needs about"):
        io.read(h5ad)
    mtx = tmp_path / "mtx"
    mtx.mkdir()
    (mtx / "matrix.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n%\n30000 5000 9000000\n")
    with pytest.raises(InputError, match=r"matrix\.mtx: loading 5000 spots x 30000 genes \(9000000 entries\) needs about 274\.7 MiB"):
        io.read_matrix(mtx)
    monkeypatch.setattr(settings, "max_memory", "8M")  # the setting wins over the environment
    with pytest.raises(InputError, match=r"tissue_hires_image\.png: loading a 2000 x 2000 image needs about 11\.4 MiB, above the memory limit of 8\.0 MiB"):
        load_rgb(fixture / "spatial" / "tissue_hires_image.png")
    monkeypatch.setattr(settings, "max_memory", "1G")
    assert io.read(h5ad).n_obs > 0


def test_memory_guard_at_the_command_line(shared_data, tmp_path, monkeypatch, capsys):
    section = tmp_path / "s"
    shutil.copytree(shared_data / "visium-fixture-scanpy" / "1.0.0", section)
    monkeypatch.setenv(guard.MEMORY_ENV, "100k")
    monkeypatch.setattr(sys, "argv", ["tissue-mib", "-q", "train", "--normal", str(section), "--genes-only", "--out", str(tmp_path / "m")])
    with pytest.raises(SystemExit) as code:
        main.app()
    err = capsys.readouterr().err
    assert code.value.code == 2 and err.startswith("error: ") and "above the memory limit of 100.0 KiB" in err and err.count("\n") == 1
