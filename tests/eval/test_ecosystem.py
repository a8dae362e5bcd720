"""A scored AnnData plots with squidpy and scanpy and survives an h5ad round trip."""

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import squidpy as sq

from tissue_mib.calibration import bh_qvalues, conformal_pvalues, label_at, score_threshold
from tissue_mib.export.geojson import regions_geojson
from tissue_mib.tl.regions import flagged_regions, gene_reference, rank_deviating_genes, region_genes

OBS_KEYS = ["tissue_mib_score", "tissue_mib_pvalue", "tissue_mib_qvalue", "tissue_mib_label",
            "tissue_mib_score_genes", "tissue_mib_score_histology", "tissue_mib_region"]


def _scored_fixture(shared_data, library_id=None, seed=0):
    a = ad.read_h5ad(shared_data / "visium-fixture-squidpy" / "test_data.h5ad")
    lib = next(iter(a.uns["spatial"]))
    if library_id is not None:
        a.uns["spatial"] = {library_id: a.uns["spatial"][lib]}
        a.obs_names = [f"{library_id}_{n}" for n in a.obs_names]
        lib = library_id
    a.obs["library_id"] = pd.Categorical([lib] * a.n_obs)
    rng = np.random.default_rng(seed)
    score = rng.gamma(2.0, size=a.n_obs)
    score[:6] += 20.0
    p = conformal_pvalues(score, rng.gamma(2.0, size=300))
    q = bh_qvalues(p)
    a.obs["tissue_mib_score"] = score
    a.obs["tissue_mib_pvalue"] = p
    a.obs["tissue_mib_qvalue"] = q
    a.obs["tissue_mib_label"] = label_at(q, 0.05)
    a.obs["tissue_mib_score_genes"] = score * 0.6
    a.obs["tissue_mib_score_histology"] = score * 0.4
    a.obsm["tissue_mib_latent"] = rng.normal(size=(a.n_obs, 8)).astype(np.float32)
    a.uns["tissue_mib"] = {"method": "omib", "threshold": {"rule": "bh", "fdr": 0.05, "score": score_threshold(score, q, 0.05)},
                           "panel_hash": "abc123", "model_path": "runs/x", "version": "0.0.0"}
    sq.gr.spatial_neighbors(a, coord_type="generic", n_neighs=6)
    assert 1 <= flagged_regions(a).notna().sum() < a.n_obs
    a.uns["tissue_mib_panel"] = {"hash": "abc123", "n_missing": 0, "frac_missing": 0.0}  # X is already normalised
    rank_deviating_genes(a, gene_reference(a[a.obs["tissue_mib_label"] == "normal"]), n_genes=5)
    return a


def test_squidpy_and_scanpy_plot_scored_output(shared_data, tmp_path):
    a = _scored_fixture(shared_data)
    sq.pl.spatial_scatter(a, color="tissue_mib_score", img=False)
    sq.pl.spatial_scatter(a, color=["tissue_mib_score", "tissue_mib_label"])
    sc.pl.spatial(a, color="tissue_mib_score", show=False)
    sc.pl.spatial(a, color="tissue_mib_label", img_key="hires", show=False)
    plt.close("all")

    path = tmp_path / "scored.h5ad"
    a.write_h5ad(path)
    back = ad.read_h5ad(path)
    for key in OBS_KEYS:
        assert key in back.obs
        pd.testing.assert_series_equal(back.obs[key], a.obs[key], check_categorical=False)
    assert list(back.obs["tissue_mib_label"].cat.categories) == ["normal", "anomalous"]
    np.testing.assert_array_equal(back.obsm["tissue_mib_latent"], a.obsm["tissue_mib_latent"])
    assert back.uns["tissue_mib"]["threshold"]["score"] == pytest.approx(a.uns["tissue_mib"]["threshold"]["score"])
    pd.testing.assert_frame_equal(region_genes(back), region_genes(a), check_dtype=False)
    assert regions_geojson(back) == regions_geojson(a)
    sq.pl.spatial_scatter(back, color="tissue_mib_score")
    plt.close("all")


def test_squidpy_plots_several_sections_with_library_key(shared_data, tmp_path):
    a, b = _scored_fixture(shared_data, "SEC-1", seed=0), _scored_fixture(shared_data, "SEC-2", seed=1)
    both = ad.concat([a, b], uns_merge="unique", pairwise=True)
    assert set(both.uns["spatial"]) == {"SEC-1", "SEC-2"}
    sq.pl.spatial_scatter(both, color="tissue_mib_score", library_key="library_id")
    plt.close("all")
    both.write_h5ad(tmp_path / "both.h5ad")
    back = ad.read_h5ad(tmp_path / "both.h5ad")
    sq.pl.spatial_scatter(back, color="tissue_mib_label", library_key="library_id")
    plt.close("all")
    assert back.obs["tissue_mib_label"].value_counts()["anomalous"] == (
        (a.obs["tissue_mib_label"] == "anomalous").sum() + (b.obs["tissue_mib_label"] == "anomalous").sum()
    )
