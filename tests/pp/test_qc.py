"""QC, normalisation and HVG clamping on the real Visium fixtures."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from tissue_mib import io, pp


@pytest.fixture
def scanpy_visium(shared_data):
    return io.read(shared_data / "visium-fixture-scanpy" / "1.0.0")


@pytest.fixture
def squidpy_h5ad(shared_data):
    return io.read(shared_data / "visium-fixture-squidpy" / "test_data.h5ad")


def test_qc_keeps_genes_seen_in_ten_spots_and_hvg_clamps(scanpy_visium):
    seen = np.asarray((scanpy_visium.X > 0).sum(axis=0)).ravel()
    pp.qc(scanpy_visium, min_spots=10)
    assert scanpy_visium.n_vars == int((seen >= 10).sum()) == 20  # "only about 20 of its 100 genes pass QC"
    assert scanpy_visium.n_obs == 100
    assert scanpy_visium.uns["tissue_mib_qc"]["n_genes_dropped"] == 80
    pp.normalize(scanpy_visium)
    panel = pp.select_panel(scanpy_visium, n_top_genes=3000)
    assert len(panel) == 20
    assert list(panel.gene_ids) == list(scanpy_visium.var["gene_ids"])


def test_qc_drops_spots_without_counts(scanpy_visium):
    keep = np.ones(scanpy_visium.n_obs, dtype=np.float32)
    keep[:5] = 0
    scanpy_visium.X = sp.csr_matrix(sp.diags(keep) @ scanpy_visium.X)
    pp.qc(scanpy_visium, min_spots=0)
    assert scanpy_visium.n_obs == 95 and scanpy_visium.n_vars == 100


def test_normalize_is_library_size_then_log1p_and_idempotent(scanpy_visium):
    raw = scanpy_visium.X.toarray()
    pp.normalize(scanpy_visium)
    X = scanpy_visium.X.toarray()
    np.testing.assert_allclose(np.expm1(X).sum(axis=1), 1e4, rtol=1e-4)
    np.testing.assert_allclose(X, np.log1p(raw / raw.sum(axis=1, keepdims=True) * 1e4), rtol=1e-5)
    pp.normalize(scanpy_visium)  # flagged as normalised now: no second log1p
    np.testing.assert_array_equal(scanpy_visium.X.toarray(), X)


def test_no_double_normalisation_of_the_squidpy_fixture(squidpy_h5ad):
    assert squidpy_h5ad.uns["spatial"]["V1_Adult_Mouse_Brain"]["metadata"]["is_normalised"]  # the reader's flag
    before = squidpy_h5ad.X.copy()
    pp.normalize(squidpy_h5ad)
    assert squidpy_h5ad.uns["tissue_mib_normalize"]["skipped"] == ["V1_Adult_Mouse_Brain"]
    np.testing.assert_array_equal(np.asarray(squidpy_h5ad.X.todense()), np.asarray(before.todense()))


def test_unflagged_non_integer_data_is_taken_as_normalised(squidpy_h5ad):
    del squidpy_h5ad.uns["spatial"]["V1_Adult_Mouse_Brain"]["metadata"]["is_normalised"]
    before = squidpy_h5ad.X.copy()
    pp.normalize(squidpy_h5ad)
    np.testing.assert_array_equal(np.asarray(squidpy_h5ad.X.todense()), np.asarray(before.todense()))


def test_mixed_cohort_normalises_only_raw_libraries(make_section, square_grid):
    raw = make_section("RAW", square_grid(4, 5))
    done = make_section("DONE", square_grid(4, 5), is_normalised=True)
    counts = raw.X.toarray()
    cohort = ad.concat([raw, done], index_unique="-")
    cohort.uns["spatial"] = {**raw.uns["spatial"], **done.uns["spatial"]}
    pp.normalize(cohort)
    X = cohort.X.toarray()
    np.testing.assert_allclose(X[:20], np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4), rtol=1e-5)
    np.testing.assert_array_equal(X[20:], done.X.toarray())
    assert cohort.uns["tissue_mib_normalize"]["normalised"] == ["RAW"]


def test_prepare_on_the_squidpy_fixture_keeps_its_values(squidpy_h5ad):
    adata, panel = pp.prepare(squidpy_h5ad, use_cache=False)
    source = squidpy_h5ad[:, list(panel.genes)].X.toarray()
    np.testing.assert_array_equal(adata.X, source)  # already log-normalised: passed through, not normalised twice
    assert adata.uns["tissue_mib_prep"]["libraries"]["V1_Adult_Mouse_Brain"]["was_normalised"]


def test_scaled_normalised_data_keeps_spots_with_negative_totals(make_section, square_grid):
    X = np.random.default_rng(0).normal(-0.5, 1.0, size=(20, 12)).astype(np.float32)  # centred values
    X[3] = 0
    adata = make_section("Z", square_grid(4, 5), X=X, is_normalised=True)
    pp.qc(adata, min_spots=10)
    assert adata.n_obs == 19 and adata.n_vars == 12  # only the all-zero spot goes
