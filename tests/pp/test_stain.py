"""Macenko stain normalisation: two stainings of the same tissue become alike; as a prepare option."""

from __future__ import annotations

import numpy as np

from tissue_mib import pp
from tissue_mib.pp.stain import HE_REF, macenko_normalize, stain_vectors


def stained(concentrations: np.ndarray, he: np.ndarray) -> np.ndarray:
    """Beer-Lambert rendering of (..., 2) H and E concentrations with stain matrix `he` (3, 2)."""
    od = concentrations @ he.T
    return np.clip(240 * np.exp(-od), 0, 255).round().astype(np.uint8)


def tissue_concentrations(n: int = 64, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.gamma(2.0, 0.35, size=(n, size, size, 2))
    c[rng.random((n, size, size)) < 0.15] = 0  # some background
    return c


def unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=0, keepdims=True)


OTHER_STAIN = unit(np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]]))  # another lab's H&E


def test_stain_vectors_are_recovered():
    conc = tissue_concentrations()
    rgb = stained(conc, OTHER_STAIN)
    od = -np.log((rgb.reshape(-1, 3).astype(float) + 1) / 240)
    he = stain_vectors(od[(od > 0.15).all(axis=1)])
    assert np.abs(he - OTHER_STAIN).max() < 0.1


def test_macenko_maps_two_stainings_of_the_same_tissue_together():
    conc = tissue_concentrations()
    a, b = stained(conc, unit(HE_REF)), stained(conc, OTHER_STAIN)
    na, nb = macenko_normalize(a), macenko_normalize(b)
    assert na.dtype == np.uint8 and na.shape == a.shape
    before = np.abs(a.astype(int) - b).mean()
    after = np.abs(na.astype(int) - nb).mean()
    assert after < 0.35 * before
    np.testing.assert_array_equal(macenko_normalize(b), nb)  # deterministic


def test_blank_patches_are_left_alone():
    white = np.full((4, 8, 8, 3), 250, np.uint8)
    np.testing.assert_array_equal(macenko_normalize(white), white)


def test_prepare_option_normalises_each_section(make_section, hex_grid):
    coords, _ = hex_grid(5, 5, pitch=60.0)
    conc = tissue_concentrations(n=1, size=400, seed=1)[0]
    sec = make_section("S", coords + 60, images={"hires": stained(conc, OTHER_STAIN)},
                       scalefactors={"tissue_hires_scalef": 1.0})
    plain, _ = pp.prepare(sec, use_cache=False)
    normed, _ = pp.prepare(sec, config=pp.PrepConfig(stain_normalization="macenko"), use_cache=False)
    assert normed.uns["tissue_mib_prep"]["config"]["stain_normalization"] == "macenko"
    np.testing.assert_array_equal(normed.obsm["tissue_mib_patches"],
                                  macenko_normalize(plain.obsm["tissue_mib_patches"]))
    assert not np.array_equal(normed.obsm["tissue_mib_patches"], plain.obsm["tissue_mib_patches"])
