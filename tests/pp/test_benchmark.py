"""The benchmark functions run and report sane figures (tiny sizes; no timing assertions)."""

from __future__ import annotations

import numpy as np

from tissue_mib.pp.benchmark import perf_patches, perf_prepare, synthetic_section


def test_perf_patches_reports_a_rate():
    res = perf_patches(n_patches=300, image_px=400, side_px=30.0, repeats=1)
    assert res["n_patches"] == 300 and res["seconds"] > 0
    assert np.isclose(res["patches_per_s"], 300 / res["seconds"])


def test_perf_prepare_runs_the_whole_chain_and_the_cache():
    res = perf_prepare(n_sections=2, n_spots=60, n_genes=300)
    assert res["n_sections"] == 2 and 0 < res["n_panel_genes"] <= 300  # genes seen in < 10 spots are dropped
    assert res["seconds"] > 0 and res["seconds_cached"] > 0 and res["cache_mb"] > 0


def test_synthetic_section_follows_the_io_contract():
    adata = synthetic_section("S", n_spots=100, n_genes=50)
    assert adata.shape == (100, 50) and adata.obsm["spatial"].shape == (100, 2)
    meta = adata.uns["spatial"]["S"]["metadata"]
    assert meta["grid"] == "hex" and not meta["is_normalised"]
    assert np.all(np.asarray(adata.X.sum(axis=1)) > 0)
