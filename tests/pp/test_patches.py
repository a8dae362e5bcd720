"""Histology patches: centring, physical scale across resolutions, padding, image choice, her2st."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from tissue_mib import pp
from tissue_mib.errors import InputError
from tissue_mib.io.images import SlideImage
from tissue_mib.pp.patches import extract_from_slide, extract_patches


def red_centroid(patch: np.ndarray) -> np.ndarray:
    redness = np.clip(patch[..., 0].astype(float) - patch[..., 1], 0, None)
    ys, xs = np.indices(redness.shape)
    return np.array([(xs * redness).sum(), (ys * redness).sum()]) / redness.sum()


def tissue(x_um: np.ndarray, y_um: np.ndarray) -> np.ndarray:
    """A smooth synthetic 'tissue' (uint8 RGB) as a function of physical position, periods >= 30 µm.

    Patches round each centre to the nearest output pixel (<= 0.86 µm off at 55 µm / 32 px),
    so two renderings agree to correlation > 0.95 only for structure coarser than ~30 µm.
    """
    r = 150 + 50 * np.sin(x_um / 5.0) * np.cos(y_um / 7.0) + 30 * np.sin((x_um + y_um) / 10.0)
    g = 110 + 60 * np.cos(x_um / 6.0 + np.sin(y_um / 8.0))
    b = 170 + 40 * np.sin(y_um / 5.0 + x_um / 12.0)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def render(width_um: float, um_per_px: float, *, coarseness: float = 1.0) -> np.ndarray:
    """`tissue` sampled at pixel centres; `coarseness` stretches its structure."""
    n = int(round(width_um / um_per_px))
    centres = (np.arange(n) + 0.5) * um_per_px / coarseness
    return tissue(centres[None, :], centres[:, None])


def test_a_dot_at_a_spot_lands_in_the_patch_centre(make_section, hex_grid):
    coords, _ = hex_grid(5, 6, pitch=100.0)
    coords = coords + 80.0  # full-res px, 1 µm/px
    hires = np.full((600, 700, 3), 230, dtype=np.uint8)
    target = 13
    cx, cy = coords[target] * 0.5  # hires at half resolution
    hires[int(round(cy)) - 2:int(round(cy)) + 3, int(round(cx)) - 2:int(round(cx)) + 3] = (220, 20, 20)
    adata = make_section("DOT", coords, images={"hires": hires}, scalefactors={"tissue_hires_scalef": 0.5})
    pp.patches(adata, patch_um=55.0, size=32)
    P = adata.obsm["tissue_mib_patches"]
    assert P.shape == (30, 32, 32, 3) and P.dtype == np.uint8
    np.testing.assert_allclose(red_centroid(P[target]), [15.5, 15.5], atol=0.75)
    others = np.delete(P, target, axis=0)
    assert (others[..., 0].astype(int) - others[..., 1]).max() < 30  # no other patch sees the dot
    rec = adata.uns["tissue_mib_patches"]
    assert rec["source_image"] == {"DOT": "hires"} and rec["size"] == 32
    assert rec["side_px"]["DOT"] == pytest.approx(27.5)
    assert not adata.obs["tissue_mib_patch_padded"].any()


def test_same_tissue_at_two_resolutions_gives_the_same_patches(make_section):
    spots_um = np.random.default_rng(0).uniform(60, 540, size=(40, 2))
    fine = render(600, 0.5)  # 1200 px, 0.5 µm/px
    coarse = render(600, 2.0)  # 300 px, 2 µm/px
    # section A: full-res frame 0.5 µm/px, hires = full-res; section B: full-res 1 µm/px, hires at 0.5x
    a = make_section("A", spots_um / 0.5, images={"hires": fine},
                     scalefactors={"microns_per_pixel": 0.5, "tissue_hires_scalef": 1.0, "spot_diameter_fullres": 110})
    b = make_section("B", spots_um / 1.0, images={"hires": coarse},
                     scalefactors={"microns_per_pixel": 1.0, "tissue_hires_scalef": 0.5, "spot_diameter_fullres": 55})
    pp.patches(a, size=32)
    pp.patches(b, size=32)
    assert a.uns["tissue_mib_patches"]["patch_um"]["A"] == b.uns["tissue_mib_patches"]["patch_um"]["B"] == 55.0
    assert a.uns["tissue_mib_patches"]["side_px"]["A"] == pytest.approx(110.0)
    assert b.uns["tissue_mib_patches"]["side_px"]["B"] == pytest.approx(27.5)
    pa = a.obsm["tissue_mib_patches"].astype(float)
    pb = b.obsm["tissue_mib_patches"].astype(float)
    corr = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(pa, pb)]
    assert np.mean(corr) > 0.97 and min(corr) > 0.93  # worst case: centres rounded 1 output px apart
    # and a patch of the wrong physical size does not match
    pp.patches(b, patch_um=80.0, size=32)
    wrong = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(pa, b.obsm["tissue_mib_patches"].astype(float))]
    assert np.median(wrong) < 0.8


def test_patches_leaving_the_image_are_padded_white_and_flagged(make_section):
    img = np.full((200, 300, 3), 120, dtype=np.uint8)
    coords = np.array([[150.0, 100.0], [5.0, 100.0], [295.0, 195.0], [-500.0, 50.0]])
    adata = make_section("EDGE", coords, images={"hires": img})
    pp.patches(adata, patch_um=40.0, size=20)
    P = adata.obsm["tissue_mib_patches"]
    assert adata.obs["tissue_mib_patch_padded"].tolist() == [False, True, True, True]
    assert np.all(P[0] == 120)
    assert np.all(P[1][:, :5] == 255) and np.all(P[1][:, 12:] == 120)  # left part outside the image
    assert np.all(P[3] == 255)


def test_full_resolution_file_is_preferred_and_read_in_tiles(make_section, tmp_path):
    full = render(800, 1.0)
    path = tmp_path / "fullres.png"
    Image.fromarray(full).save(path)
    coords = np.random.default_rng(1).uniform(-10, 810, size=(120, 2))
    hires = np.zeros((400, 400, 3), dtype=np.uint8) + 40  # a different picture, must not be used
    adata = make_section("F", coords, images={"hires": hires}, fullres_image=str(path),
                         scalefactors={"tissue_hires_scalef": 0.5})
    pp.patches(adata, patch_um=55.0, size=32)
    assert adata.uns["tissue_mib_patches"]["source_image"]["F"] == "fullres"
    direct, padded = extract_patches(full, coords, side_px=55.0, size=32)
    np.testing.assert_array_equal(adata.obs["tissue_mib_patch_padded"].to_numpy(), padded)
    with SlideImage(path) as slide:  # tiles much smaller than the picture give the same patches
        tiled, tiled_padded = extract_from_slide(slide, coords, side_px=55.0, size=32, tile=100)
    np.testing.assert_array_equal(adata.obsm["tissue_mib_patches"], direct)  # one tile covers the picture
    # each small tile is resized on its own pixel grid, so centres round differently (<= 1 output px)
    corr = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(tiled.astype(float), direct.astype(float))]
    assert np.mean(corr) > 0.97 and min(corr) > 0.9
    np.testing.assert_array_equal(tiled_padded, padded)


def test_blank_hires_falls_back_to_lowres_and_no_image_means_genes_only(make_section, caplog):
    lowres = render(400, 2.0)
    adata = make_section("L", np.array([[200.0, 200.0], [400.0, 300.0]]),
                         images={"hires": np.zeros((400, 400, 3), np.uint8), "lowres": lowres})
    adata.uns["spatial"]["L"]["metadata"]["blank_images"] = ["hires"]
    pp.patches(adata, patch_um=55.0)
    assert adata.uns["tissue_mib_patches"]["source_image"]["L"] == "lowres"
    none = make_section("N", np.array([[10.0, 10.0]]))
    with caplog.at_level(logging.WARNING):
        pp.patches(none)
    assert "tissue_mib_patches" not in none.obsm
    assert none.uns["tissue_mib_patches"]["source_image"] == {"N": ""}
    assert "N has no usable image: genes only" in caplog.text


def test_visium_hd_needs_an_explicit_patch_size(make_section, square_grid):
    hd = make_section("HD", square_grid(3, 3, pitch=8.0), grid="square", layout="visium_hd", spot_diameter_um=8.0,
                      images={"hires": render(100, 1.0)})
    with pytest.raises(InputError, match="HD is Visium HD: pass patch_um="):
        pp.patches(hd)
    pp.patches(hd, patch_um=24.0, size=16)
    assert hd.obsm["tissue_mib_patches"].shape == (9, 16, 16, 3)


def test_her2st_a1_and_c2_patches_cover_the_same_physical_area(shared_data):
    from tissue_mib import io

    a1 = io.read(shared_data / "her2st", section="A1")  # hires PNG, 3.18 µm/px
    c2 = io.read(shared_data / "her2st", section="C2")  # full-res JPEG, 0.689 µm/px
    for adata, mpp, source in ((a1, 3.18, "hires"), (c2, 0.689, "fullres")):
        pp.patches(adata, size=32)
        rec = adata.uns["tissue_mib_patches"]
        lib = adata.obs["library_id"].iloc[0]
        assert rec["patch_um"][lib] == pytest.approx(100.0)
        assert rec["source_image"][lib] == source
        assert rec["side_px"][lib] == pytest.approx(100.0 / mpp, abs=1.0)
        P = adata.obsm["tissue_mib_patches"].reshape(adata.n_obs, -1, 3).astype(float)
        assert P.std(axis=1).mean(axis=1).min() > 5  # textured, not blank
        assert np.median(P.mean(axis=(1, 2))) < 200  # stained tissue, not white background
        assert not adata.obs["tissue_mib_patch_padded"].any()


def test_non_finite_centres_are_an_input_error(make_section):
    adata = make_section("NAN", np.array([[10.0, 10.0], [np.nan, 5.0]]), images={"hires": render(100, 1.0)})
    with pytest.raises(InputError, match="section NAN: obsm\\['spatial'\\] has non-finite spot centres"):
        pp.patches(adata, patch_um=20.0)
    with pytest.raises(InputError, match="section NAN: obsm"):
        pp.spatial_graph(adata)


def test_images_of_other_types_become_uint8_rgb():
    from tissue_mib.pp.patches import as_rgb_uint8

    grey16 = np.full((4, 5), 65535, np.uint16)
    rgba_float = np.concatenate([np.full((4, 5, 3), 0.5, np.float32), np.ones((4, 5, 1), np.float32)], axis=2)
    np.testing.assert_array_equal(as_rgb_uint8(grey16), np.full((4, 5, 3), 255, np.uint8))
    np.testing.assert_array_equal(as_rgb_uint8(rgba_float), np.full((4, 5, 3), 128, np.uint8))
    assert as_rgb_uint8(np.full((2, 2, 3), 200.0)).max() == 200


def write_pyramid(path, full: np.ndarray) -> None:
    """A tiled TIFF with SubIFD levels at 1/2 and 1/4 (block means), as tifffile writes them."""
    import tifffile

    n = full.shape[0]
    levels = [full.reshape(n // k, k, n // k, k, 3).mean(axis=(1, 3)).round().astype(np.uint8) for k in (2, 4)]
    with tifffile.TiffWriter(path) as tif:
        tif.write(full, subifds=2, tile=(256, 256), photometric="rgb")
        for level in levels:
            tif.write(level, subfiletype=1, tile=(256, 256), photometric="rgb")


def test_pyramidal_tiff_is_read_at_the_level_needed(tmp_path):
    full = render(1024, 1.0, coarseness=3.0)  # 128 µm patches at 4 µm per output pixel: structure >= 90 µm
    write_pyramid(tmp_path / "slide.tif", full)
    coords = np.random.default_rng(2).uniform(100, 924, size=(50, 2))
    with SlideImage(tmp_path / "slide.tif") as slide:
        assert slide.level_count == 3 and slide.best_level(128 / 32) == 2
        got, padded = extract_from_slide(slide, coords, side_px=128.0, size=32, tile=300)
    direct, _ = extract_patches(full, coords, side_px=128.0, size=32)
    corr = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(got.astype(float), direct.astype(float))]
    assert min(corr) > 0.95 and not padded.any()


def test_pyramid_levels_keep_the_dot_in_the_centre(tmp_path):
    full = np.full((1024, 1024, 3), 200, np.uint8)
    full[403:407, 603:607] = (230, 10, 10)  # a dot centred on level-0 (x, y) = (604.5, 404.5)
    write_pyramid(tmp_path / "dot.tif", full)
    with SlideImage(tmp_path / "dot.tif") as slide:
        got, _ = extract_from_slide(slide, np.array([[604.5, 404.5]]), side_px=128.0, size=32)
    # at level 2 the dot sits at (604.5 + 0.5) / 4 - 0.5 = 150.75, so rounding leaves it 0.25 px off
    # centre; taking 604.5 / 4 (pixel corners, not centres) would put it 0.75 px off
    np.testing.assert_allclose(red_centroid(got[0]), [15.75, 15.75], atol=0.1)


def test_patches_gathered_in_chunks_equal_one_gather(monkeypatch):
    from tissue_mib.settings import settings

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    centres = rng.uniform(-20, 420, size=(50, 2))
    whole, whole_padded = extract_patches(image, centres, side_px=40.0, size=8)
    monkeypatch.setattr(settings, "chunk_spots", 7)
    chunked, chunked_padded = extract_patches(image, centres, side_px=40.0, size=8)
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(chunked_padded, whole_padded)
    assert chunked.flags["C_CONTIGUOUS"] and chunked.shape == (50, 8, 8, 3)
