"""SlideImage region reads on generated TIFF pyramids and a real JPEG; blank detection."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from tissue_mib.errors import InputError
from tissue_mib.io import SlideImage
from tissue_mib.io.images import is_blank, load_rgb


@pytest.fixture(scope="module")
def img():
    return np.random.default_rng(0).integers(0, 255, (1024, 768, 3), dtype=np.uint8)


def _check_regions(slide: SlideImage, img: np.ndarray) -> None:
    assert slide.shape == (1024, 768)
    np.testing.assert_array_equal(slide.read_region(100, 50, 30, 20), img[50:70, 100:130])
    np.testing.assert_array_equal(slide.read_region(100, 50, 30, 20, level=1), img[::2, ::2][25:45, 50:80])
    edge = slide.read_region(-10, 1010, 30, 20)  # partly outside: zero-padded
    np.testing.assert_array_equal(edge[:14, 10:], img[1010:, :20])
    assert edge[14:].max() == 0 and edge[:, :10].max() == 0
    thumb, scale = slide.thumbnail(200)
    assert thumb.shape == (200, 150, 3) and scale == pytest.approx(200 / 1024)
    assert abs(float(thumb.mean()) - float(img.mean())) < 5


def test_tiled_pyramid_pages_via_openslide(tmp_path, img):
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, tile=(256, 256), photometric="rgb")
        tw.write(img[::2, ::2], tile=(256, 256), photometric="rgb", subfiletype=1)
    with SlideImage(path) as slide:
        assert slide._slide is not None and slide.level_downsamples == (1.0, 2.0)
        _check_regions(slide, img)


def test_subifd_pyramid_falls_back_to_tifffile(tmp_path, img):
    path = tmp_path / "subifds.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, subifds=2, tile=(256, 256), photometric="rgb", resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
        tw.write(img[::2, ::2], subfiletype=1, tile=(256, 256), photometric="rgb")
        tw.write(img[::4, ::4], subfiletype=1, tile=(256, 256), photometric="rgb")
    with SlideImage(path) as slide:
        assert slide._slide is None and slide.level_downsamples == (1.0, 2.0, 4.0)
        assert slide.microns_per_pixel == pytest.approx(0.5)
        assert slide.best_level(3.0) == 1
        _check_regions(slide, img)


def test_plain_jpeg(shared_data):
    path = shared_data / "visium-fixture-squidpy" / "test_img.jpg"
    full = load_rgb(path)
    with SlideImage(path) as slide:
        assert slide.shape == full.shape[:2] == (1717, 950)
        np.testing.assert_array_equal(slide.read_region(400, 700, 64, 48), full[700:748, 400:464])
        assert np.isnan(slide.microns_per_pixel)


def test_bad_image_files(tmp_path):
    with pytest.raises(InputError, match=r"missing\.tif: image file not found"):
        SlideImage(tmp_path / "missing.tif")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match=r"broken\.jpg: cannot read image"):
        SlideImage(broken)
    bad_tif = tmp_path / "broken.tif"
    bad_tif.write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match=r"broken\.tif: cannot read TIFF"):
        SlideImage(bad_tif)


def test_blank_detection(shared_data):
    spatial = shared_data / "visium-fixture-scanpy" / "1.0.0" / "spatial"
    assert is_blank(load_rgb(spatial / "tissue_hires_image.png"))
    assert not is_blank(load_rgb(spatial / "tissue_lowres_image.png"))
    assert is_blank(np.full((5, 5, 3), 255, np.uint8))


def test_jpeg_levels_decode_at_reduced_scale(shared_data):
    big = shared_data / "her2st" / "images" / "C2_5714_HE_BT_C2.jpg"  # 9274 x 9911 px
    with SlideImage(big) as slide:
        assert slide.shape == (9911, 9274) and slide.level_downsamples[1:] == pytest.approx((2, 4, 8), rel=1e-3)
        assert slide.best_level(4.5) == 2
        assert slide.read_region(4000, 4000, 50, 40, level=3).shape == (40, 50, 3)
        assert slide._decoded[1].shape == (1239, 1160, 3)  # only the 1/8 level was decoded
    with SlideImage(shared_data / "visium-fixture-squidpy" / "test_img.jpg") as slide:
        fine = slide.read_region(400, 800, 256, 192, level=0)
        coarse = slide.read_region(400, 800, 64, 48, level=2)
        small = fine.reshape(48, 4, 64, 4, 3).mean(axis=(1, 3))
        assert np.corrcoef(small.ravel(), coarse.ravel())[0, 1] > 0.85  # the same place at 1/4 scale
        shifted = slide.read_region(400 + 8, 800, 64, 48, level=2)  # 2 px off at this level
        assert np.corrcoef(small.ravel(), shifted.ravel())[0, 1] < 0.7
