"""h5ad input on squidpy's real test_data.h5ad and small edited copies."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from tissue_mib import io
from tissue_mib.errors import InputError

LIB = "V1_Adult_Mouse_Brain"


@pytest.fixture(scope="module")
def squidpy_h5ad(shared_data):
    return shared_data / "visium-fixture-squidpy" / "test_data.h5ad"


def test_squidpy_test_data_is_recorded_as_normalised(squidpy_h5ad):
    a = io.read(squidpy_h5ad, image=squidpy_h5ad.parent / "test_img.jpg")
    assert a.shape == (49, 1999)
    assert sp.isspmatrix_csr(a.X) and a.X.dtype == np.float32
    assert set(a.obs["library_id"]) == {LIB} and set(a.obs["section"]) == {LIB}
    md = a.uns["spatial"][LIB]["metadata"]
    assert md["is_normalised"] is True and md["layout"] == "h5ad" and md["grid"] == "none"
    assert md["fullres_image"].endswith("test_img.jpg")
    assert md["software_version"] == "spaceranger-1.0.0"  # the file's own metadata is kept
    # the embedded hires is a 100x100 crop that cannot hold the spots: dropped, not used for patches
    assert "hires" not in a.uns["spatial"][LIB]["images"]
    assert a.uns["spatial"][LIB]["scalefactors"]["microns_per_pixel"] == pytest.approx(55 / 89.44476048022638)
    assert a.var["gene_ids"].iloc[1] == "ENSMUSG00000033740" and a.var["gene_symbols"].iloc[1] == "St18"
    assert a.obs["array_row"].eq(-1).all()  # not in the file


def test_layer_picks_raw_counts_and_roundtrip(squidpy_h5ad, tmp_path):
    src = ad.read_h5ad(squidpy_h5ad)
    counts = np.rint(np.expm1(src.X.toarray())).astype(np.float32)
    src.layers["counts"] = sp.csr_matrix(counts)
    path = tmp_path / "with_counts.h5ad"
    src.write_h5ad(path)
    a = io.read(path, layer="counts")
    assert a.uns["spatial"][LIB]["metadata"]["is_normalised"] is False
    np.testing.assert_array_equal(a.X.toarray(), counts)
    with pytest.raises(InputError, match=r"with_counts\.h5ad: no layer 'raw'"):
        io.read(path, layer="raw")
    # what io.read returns, written and read again, keeps its layout
    out = tmp_path / "out.h5ad"
    a.write_h5ad(out)
    b = io.read(out)
    assert b.uns["spatial"][LIB]["metadata"]["layout"] == "h5ad"
    np.testing.assert_array_equal(b.obsm["spatial"], a.obsm["spatial"])


def test_no_spatial_coordinates(squidpy_h5ad, tmp_path):
    a = ad.read_h5ad(squidpy_h5ad)
    del a.obsm["spatial"]
    path = tmp_path / "nospatial.h5ad"
    a.write_h5ad(path)
    with pytest.raises(InputError, match=r"nospatial\.h5ad: has no obsm\['spatial'\]"):
        io.read(path)


def test_corrupt_h5ad(squidpy_h5ad, tmp_path):
    path = tmp_path / "broken.h5ad"
    path.write_bytes(squidpy_h5ad.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"broken\.h5ad: cannot read h5ad"):
        io.read(path)


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (-1.0, "negative")])
def test_nan_or_negative_values(squidpy_h5ad, tmp_path, bad, message):
    a = ad.read_h5ad(squidpy_h5ad)
    X = np.asarray(a.X.toarray() if sp.issparse(a.X) else a.X).copy()
    X[3, 5] = bad
    a.X = X
    path = tmp_path / "bad.h5ad"
    a.write_h5ad(path)
    with pytest.raises(InputError, match=rf"bad\.h5ad: expression matrix holds {message}"):
        io.read(path)


def test_empty_section(squidpy_h5ad, tmp_path):
    a = ad.read_h5ad(squidpy_h5ad)[:0].copy()
    path = tmp_path / "empty.h5ad"
    a.write_h5ad(path)
    with pytest.raises(InputError, match=r"empty\.h5ad: empty section \(0 spots"):
        io.read(path)


def test_cellxgene_style_raw_and_feature_names(squidpy_h5ad, tmp_path):
    src = ad.read_h5ad(squidpy_h5ad)
    counts = np.rint(np.expm1(src.X.toarray())).astype(np.float32)
    cx = ad.AnnData(X=src.X, obs=src.obs, obsm={"spatial": src.obsm["spatial"]}, uns={"spatial": src.uns["spatial"]})
    cx.var_names = src.var["gene_ids"].to_numpy()
    cx.var["feature_name"] = src.var_names.to_numpy()
    cx.raw = ad.AnnData(X=sp.csr_matrix(counts), var=cx.var.copy())
    path = tmp_path / "cellxgene.h5ad"
    cx.write_h5ad(path)
    a = io.read(path, layer="raw")
    np.testing.assert_array_equal(a.X.toarray(), counts)
    assert a.var_names[1] == "St18" and a.var["gene_ids"].iloc[1] == "ENSMUSG00000033740"
    assert a.uns["spatial"][LIB]["metadata"]["is_normalised"] is False
    assert io.read(path).uns["spatial"][LIB]["metadata"]["is_normalised"] is True
