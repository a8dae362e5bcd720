"""Space Ranger folders and 10x matrices on scanpy's real fixtures."""

from __future__ import annotations

import gzip

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import tifffile
from scipy.io import mmwrite

from tissue_mib import io
from tissue_mib.errors import InputError


@pytest.fixture(scope="module")
def v1(shared_data):
    return io.read(shared_data / "visium-fixture-scanpy" / "1.0.0")


def test_visium_1_0_0_layout(v1, shared_data):
    a = v1
    assert a.shape == (100, 100)
    assert sp.isspmatrix_csr(a.X) and a.X.dtype == np.float32
    assert a.X.sum() == 932  # PROVENANCE: 932 UMIs in all
    assert a.obsm["spatial"].dtype == np.float64 and a.obsm["spatial"].shape == (100, 2)
    lib = "1.0.0"
    assert list(a.uns["spatial"]) == [lib]
    assert a.obs["library_id"].dtype == "category" and set(a.obs["library_id"]) == {lib}
    assert set(a.obs["section"]) == {lib}
    assert a.obs["in_tissue"].eq(1).all()
    entry = a.uns["spatial"][lib]
    assert entry["images"]["hires"].shape == (2000, 2000, 3) and entry["images"]["lowres"].shape == (600, 600, 3)
    assert entry["images"]["lowres"].dtype == np.uint8
    md = entry["metadata"]
    assert md["blank_images"] == ["hires"]  # the hires PNG is an all-black placeholder
    assert md["layout"] == "visium" and md["grid"] == "hex" and md["spot_diameter_um"] == 55.0
    assert md["is_normalised"] is False and md["fullres_image"] == ""
    sf = entry["scalefactors"]
    assert sf["tissue_hires_scalef"] == pytest.approx(0.150015)
    assert sf["microns_per_pixel"] == pytest.approx(55 / 89.42751063343188)
    # x, y = pxl_col, pxl_row of the headerless positions file
    pos = pd.read_csv(shared_data / "visium-fixture-scanpy/1.0.0/spatial/tissue_positions_list.csv", header=None, index_col=0)
    row = pos.loc[a.obs_names[0]]
    assert a.obsm["spatial"][0].tolist() == [row[5], row[4]]
    assert a.obs["array_row"].iloc[0] == row[2] and a.obs["array_col"].iloc[0] == row[3]
    # Ensembl IDs only in this file: both columns kept
    assert a.var["gene_ids"].str.startswith("ENSG").all()


def test_headed_positions_file_reads_the_same(v1, visium_copy):
    outs = visium_copy()
    old = outs / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(old, header=None)
    table.columns = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
    table.to_csv(outs / "spatial" / "tissue_positions.csv", index=False)
    old.unlink()
    a = io.read(outs.parent)  # the folder holding outs/ works too
    assert a.shape == (100, 100)
    assert list(a.uns["spatial"]) == ["sample"]
    np.testing.assert_array_equal(a.obsm["spatial"], v1.obsm["spatial"])
    np.testing.assert_array_equal(a.obs["array_row"], v1.obs["array_row"])


def test_probe_matrix_reads_as_matrix_and_read_names_missing_spatial(shared_data):
    folder = shared_data / "visium-fixture-scanpy" / "2.1.0"
    m = io.read_matrix(folder / "raw_probe_bc_matrix.h5")
    assert m.shape == (4987, 1000)
    assert m.var["probe_ids"].str.contains("|", regex=False).all()
    assert m.var_names[0] == "Itgb2l" and m.var["gene_ids"].iloc[0].endswith("ENSMUSG00000000157")
    assert io.read_matrix(folder).shape == (4987, 1000)
    with pytest.raises(InputError, match=r"2\.1\.0: no spatial data \(spatial/tissue_positions") as exc:
        io.read(folder)
    assert "\n" not in str(exc.value)


def test_mtx_folder(tmp_path, v1):
    mtx = tmp_path / "outs" / "filtered_feature_bc_matrix"
    mtx.mkdir(parents=True)
    X = v1.X[:5].toarray()
    mmwrite(str(mtx / "matrix.mtx"), sp.coo_matrix(X.T.astype(np.int64)))
    pd.DataFrame({"id": v1.var["gene_ids"], "name": [f"SYM{i}" for i in range(v1.n_vars)], "t": "Gene Expression"}).to_csv(
        mtx / "features.tsv", sep="\t", header=False, index=False
    )
    pd.Series(v1.obs_names[:5]).to_csv(mtx / "barcodes.tsv", sep="\t", header=False, index=False)
    for f in list(mtx.iterdir()):  # Space Ranger writes gzipped files
        f.with_name(f.name + ".gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    m = io.read_matrix(mtx)
    assert m.shape == (5, v1.n_vars)
    assert m.var_names[3] == "SYM3" and m.var["gene_ids"].iloc[3] == v1.var["gene_ids"].iloc[3]
    np.testing.assert_array_equal(m.X.toarray(), X)


def test_fullres_tiff_is_recorded_not_loaded(visium_copy):
    outs = visium_copy()
    tif = outs.parent / "fullres.tif"
    tile = np.full((512, 512, 3), 200, np.uint8)  # 12288 px square, written tile by tile
    tifffile.imwrite(tif, (tile for _ in range(24 * 24)), shape=(12288, 12288, 3), dtype="uint8", tile=(512, 512), photometric="rgb", compression="zlib")
    a = io.read(outs, image=tif)
    md = a.uns["spatial"]["sample"]["metadata"]
    assert md["fullres_image"] == str(tif.resolve())
    assert "fullres" not in a.uns["spatial"]["sample"]["images"]


def test_image_smaller_than_coordinates(visium_copy):
    outs = visium_copy()
    tif = outs.parent / "small.tif"
    tifffile.imwrite(tif, np.zeros((500, 500, 3), np.uint8))
    with pytest.raises(InputError, match=r"small\.tif: image is 500x500 px but the spot coordinates reach"):
        io.read(outs, image=tif)
    png = outs / "spatial" / "tissue_lowres_image.png"
    from PIL import Image

    Image.fromarray(np.full((100, 100, 3), 128, np.uint8)).save(png)
    with pytest.raises(InputError, match=r"tissue_lowres_image\.png: image is 100x100 px"):
        io.read(outs)


def test_positions_matching_no_barcodes(visium_copy):
    outs = visium_copy()
    pos = outs / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(pos, header=None)
    table[0] = "X" + table[0]
    table.to_csv(pos, header=False, index=False)
    with pytest.raises(InputError, match=r"tissue_positions_list\.csv: positions match none of the 100 barcodes of .*filtered_feature_bc_matrix\.h5"):
        io.read(outs)


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match=r"nowhere: no such file or folder"):
        io.read(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"empty: not a recognised layout"):
        io.read(empty)


def test_corrupt_h5(visium_copy):
    outs = visium_copy()
    h5 = outs / "filtered_feature_bc_matrix.h5"
    h5.write_bytes(h5.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"filtered_feature_bc_matrix\.h5: cannot read 10x HDF5 matrix"):
        io.read(outs)


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (-3, "negative")])
def test_nan_or_negative_counts(visium_copy, bad, message):
    outs = visium_copy()
    h5 = outs / "filtered_feature_bc_matrix.h5"
    with h5py.File(h5, "r+") as f:
        data = f["matrix/data"][:].astype(np.float32)
        data[0] = bad
        del f["matrix/data"]
        f["matrix/data"] = data
    with pytest.raises(InputError, match=rf"filtered_feature_bc_matrix\.h5: expression matrix holds {message}"):
        io.read(outs)


def test_options_that_do_not_apply_are_errors(shared_data):
    with pytest.raises(InputError, match=r"1\.0\.0: option section= does not apply to this layout"):
        io.read(shared_data / "visium-fixture-scanpy" / "1.0.0", section="B1")
    with pytest.raises(InputError, match=r"BC-A\.\.B: names 2 sections"):
        io.read("BC-A..B")


def test_missing_scalefactors_and_bare_matrix_file(visium_copy):
    outs = visium_copy()
    with pytest.raises(InputError, match=r"filtered_feature_bc_matrix\.h5: unsupported file type.*use tissue_mib\.io\.read_matrix"):
        io.read(outs / "filtered_feature_bc_matrix.h5")
    (outs / "spatial" / "scalefactors_json.json").unlink()
    with pytest.raises(InputError, match=r"spatial: scalefactors_json\.json is missing"):
        io.read(outs)
