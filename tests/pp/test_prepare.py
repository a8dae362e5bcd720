"""`prepare`: the whole chain on several sections, the gene panel in scoring mode, and the cache."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp

import importlib
from tissue_mib import pp
from tissue_mib.errors import InputError


@pytest.fixture
def cohort(make_section, hex_grid):
    coords, array = hex_grid(6, 8, pitch=100.0)
    rng = np.random.default_rng(0)
    image = rng.integers(60, 220, size=(700, 900, 3), dtype=np.uint8)
    sections = []
    for lib in ("NB-A", "NB-B"):
        X = rng.poisson(0.5, size=(len(coords), 40)).astype(np.float32)  # mostly zeros, like real counts
        X[:, 5] = 0  # a gene nobody expresses: dropped by QC
        sections.append(make_section(lib, coords + 50, X=X, array=array, images={"hires": image},
                                     scalefactors={"tissue_hires_scalef": 1.0}))
    return sections


def test_prepare_fits_the_panel_and_builds_every_modality(cohort, cache_dir):
    adata, panel = pp.prepare(cohort, config=pp.PrepConfig(n_top_genes=3000))
    assert len(panel) == 39 and "G5" not in panel.genes  # clamped to the 39 genes passing QC
    assert adata.shape == (96, 39) and isinstance(adata.X, np.ndarray) and adata.X.dtype == np.float32
    assert list(adata.var_names) == list(panel.genes)
    assert adata.obs["library_id"].cat.categories.tolist() == ["NB-A", "NB-B"]
    assert adata.obs_names[0] == "NB-A_s0"  # barcodes repeat across sections: prefixed
    conn = adata.obsp["spatial_connectivities"].tocoo()
    libs = adata.obs["library_id"].to_numpy()
    assert np.all(libs[conn.row] == libs[conn.col])
    assert adata.obsm["tissue_mib_patches"].shape == (96, 32, 32, 3)
    prep = adata.uns["tissue_mib_prep"]
    assert prep["config"]["patch_um"] == 55.0 and pp.PrepConfig.from_dict(prep["config"]).patch_um == 55.0
    assert prep["panel"]["hash"] == panel.hash == adata.uns["tissue_mib_panel"]["hash"]
    assert prep["cache_path"].startswith(str(cache_dir))
    np.testing.assert_allclose(np.expm1(adata.X).sum(axis=1), 1e4, rtol=1e-3)  # log-normalised over 39 of 40 genes


def test_scoring_mode_applies_a_given_panel(cohort, make_section, hex_grid, cache_dir):
    _, panel = pp.prepare(cohort, use_cache=False)
    coords, _ = hex_grid(3, 3)
    new = make_section("BC-A", coords, X=np.ones((9, 36), np.float32), genes=[f"G{i}" for i in range(4, 40)])
    adata, same = pp.prepare(new, panel=panel, use_cache=False)
    assert same is panel and list(adata.var_names) == list(panel.genes)
    assert adata.uns["tissue_mib_panel"]["n_missing"] == 4  # G0..G3 zero-filled
    np.testing.assert_array_equal(adata[:, ["G0", "G1"]].X, 0)
    assert "tissue_mib_patches" not in adata.obsm  # no image: genes only
    assert not list(cache_dir.glob("*.h5ad"))  # use_cache=False writes nothing


def test_second_call_loads_the_cache_and_parameters_change_the_key(cohort, cache_dir, monkeypatch):
    first, panel = pp.prepare(cohort)
    files = list(cache_dir.glob("*.h5ad"))
    assert len(files) == 1
    with h5py.File(files[0]) as f:  # mostly-zero X is stored sparse
        assert f["X"].attrs["encoding-type"] == "csr_matrix"

    def fail(*args, **kwargs):
        raise AssertionError("preprocessing ran again instead of loading the cache")

    monkeypatch.setattr(importlib.import_module("tissue_mib.pp.prepare"), "normalize", fail)
    again, panel_again = pp.prepare(cohort)
    assert panel_again == panel
    assert again.uns["tissue_mib_prep"]["cache_path"] == str(files[0])
    assert isinstance(again.X, np.ndarray) and again.X.dtype == np.float32
    np.testing.assert_array_equal(again.X, first.X)
    np.testing.assert_array_equal(again.obsm["tissue_mib_patches"], first.obsm["tissue_mib_patches"])
    assert (again.obsp["spatial_connectivities"] != first.obsp["spatial_connectivities"]).nnz == 0
    with pytest.raises(AssertionError, match="ran again"):
        pp.prepare(cohort, config=pp.PrepConfig(patch_size=16))  # another parameter: another key
    changed = [c.copy() for c in cohort]
    changed[0].X = changed[0].X + sp.csr_matrix(([1.0], ([0], [0])), shape=changed[0].shape)
    with pytest.raises(AssertionError, match="ran again"):
        pp.prepare(changed)  # other counts: another key
    relabelled = [c.copy() for c in cohort]
    relabelled[1].obs["pathologist_label"] = "invasive cancer"
    with pytest.raises(AssertionError, match="ran again"):
        pp.prepare(relabelled)  # obs columns travel to the output: another key


def test_prepare_rejects_bad_input(cohort, make_section, hex_grid):
    empty = make_section("E", hex_grid(2, 2)[0], X=np.zeros((4, 3), np.float32))
    with pytest.raises(InputError, match="section E: no spot has any counts"):
        pp.prepare(empty, use_cache=False)
    with pytest.raises(InputError, match="library ids repeat"):
        pp.prepare([cohort[0], cohort[0]], use_cache=False)
    with pytest.raises(InputError, match="batch_correction must be None or 'combat'"):
        pp.PrepConfig(batch_correction="harmony")
    with pytest.raises(InputError, match="unknown field"):
        pp.PrepConfig.from_dict({"n_top_gene": 10})
    assert pp.PrepConfig.from_dict({"batch_correction": None, "patch_um": "80"}) == pp.PrepConfig(patch_um=80.0)


def test_combat_corrects_training_sections_and_aligns_new_ones(cohort, make_section, hex_grid):
    shifted = cohort[1].copy()
    X = shifted.X.toarray()
    X[:, :10] *= 3  # a batch effect on ten genes
    shifted.X = sp.csr_matrix(X)
    config = pp.PrepConfig(batch_correction="combat")

    def batch_gap(adata):  # per-gene gap between the sections' means, for the nine shifted panel genes
        libs = adata.obs["library_id"].to_numpy()
        shifted_genes = [int(g[1:]) < 10 for g in adata.var_names]
        return np.abs(adata.X[libs == "NB-A"].mean(0) - adata.X[libs == "NB-B"].mean(0))[shifted_genes]

    raw, _ = pp.prepare([cohort[0], shifted], use_cache=False)
    adata, panel = pp.prepare([cohort[0], shifted], config=config, use_cache=False)
    assert len(panel.reference_mean) == len(panel)
    expected = raw.copy()
    sc.pp.combat(expected, key="library_id")  # prepare applies scanpy's ComBat to the panel genes
    np.testing.assert_allclose(adata.X, expected.X, rtol=1e-5, atol=1e-5)
    before, after = batch_gap(raw), batch_gap(adata)
    assert before.min() > 0.2 and np.all(after < before) and after.mean() < 0.8 * before.mean()
    new = make_section("NEW", hex_grid(4, 4)[0], X=np.random.default_rng(3).poisson(9.0, (16, 40)).astype(np.float32))
    scored, _ = pp.prepare(new, panel=panel, config=config, use_cache=False)
    np.testing.assert_allclose(scored.X.mean(axis=0), panel.reference_mean, atol=1e-4)
    with pytest.raises(InputError, match="fitted without batch correction"):
        pp.prepare(new, panel=pp.prepare(cohort, use_cache=False)[1], config=config, use_cache=False)


def test_one_anndata_with_several_libraries_is_split_per_section(cohort):
    from tissue_mib import io

    stacked = io.concat(cohort)
    adata, panel = pp.prepare(stacked, use_cache=False)
    assert list(adata.obs_names) == list(stacked.obs_names)  # already unique: kept as they are
    separate, separate_panel = pp.prepare(cohort, use_cache=False)
    assert panel == separate_panel
    np.testing.assert_allclose(adata.X, separate.X)
    np.testing.assert_array_equal(adata.obsm["tissue_mib_patches"], separate.obsm["tissue_mib_patches"])


def test_prepare_is_deterministic(cohort):
    config = pp.PrepConfig(stain_normalization="macenko", n_top_genes=20)
    a, panel_a = pp.prepare(cohort, config=config, use_cache=False)
    b, panel_b = pp.prepare(cohort, config=config, use_cache=False)
    assert panel_a == panel_b and len(panel_a) == 20
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.obsm["tissue_mib_patches"], b.obsm["tissue_mib_patches"])
    assert (a.obsp["spatial_connectivities"] != b.obsp["spatial_connectivities"]).nnz == 0
