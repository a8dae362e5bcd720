"""Bad values and malformed tables in section files are one-line InputErrors, not guesses."""

from __future__ import annotations

import json
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from tissue_mib import io
from tissue_mib.errors import InputError
from tissue_mib.io.legacy_st import read_labels

from .conftest import write_10x_h5


def _edit_scalefactors(outs, **changes):
    path = outs / "spatial" / "scalefactors_json.json"
    sf = json.loads(path.read_text())
    path.write_text(json.dumps({**sf, **changes}))


def _positions(outs) -> tuple[pd.DataFrame, object]:
    path = outs / "spatial" / "tissue_positions_list.csv"
    return pd.read_csv(path, header=None, dtype=str), path


def _error(outs) -> str:
    with pytest.raises(InputError) as err:
        io.read(outs)
    return str(err.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"spot_diameter_fullres": -89.4}, "scalefactors_json.json: spot_diameter_fullres = -89.4: must be a finite number > 0"),
        ({"spot_diameter_fullres": "89"}, "scalefactors_json.json: spot_diameter_fullres = '89': must be a finite number > 0"),
        ({"tissue_hires_scalef": 0}, "scalefactors_json.json: tissue_hires_scalef = 0: must be a finite number > 0"),
        ({"tissue_lowres_scalef": float("nan")}, "scalefactors_json.json: tissue_lowres_scalef = nan: must be a finite number > 0"),
        ({"fiducial_diameter_fullres": float("inf")}, "scalefactors_json.json: fiducial_diameter_fullres = inf: must be a finite number > 0"),
        ({"spot_diameter_fullres": 894.3}, "scalefactors_json.json: spot_diameter_fullres = 894.3 px but spots are 137.0 px apart; "
                                           "must be between 0.1 and 2 times the spacing (13.7 to 274.0 px)"),
        ({"spot_diameter_fullres": 8.9}, "spot_diameter_fullres = 8.9 px but spots are 137.0 px apart"),
    ],
)
def test_bad_scalefactors(visium_copy, changes, expected):
    outs = visium_copy()
    _edit_scalefactors(outs, **changes)
    message = _error(outs)
    assert expected in message and str(outs / "spatial" / "scalefactors_json.json") in message


def test_scalefactors_that_are_not_an_object_or_json(visium_copy):
    outs = visium_copy()
    path = outs / "spatial" / "scalefactors_json.json"
    path.write_text("[1, 2]")
    assert _error(outs).endswith("scalefactors_json.json: must hold a JSON object, got list")
    path.write_text('{"spot_diameter_fullres": 1' + "0" * 5000 + "}")
    assert "scalefactors_json.json: not valid JSON (ValueError" in _error(outs)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (1, "2", "in_tissue = '2' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be 0 or 1"),
        (2, "-1", "array_row = '-1' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be an integer in [0, 100000]"),
        (3, "100001", "array_col = '100001' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be an integer in [0, 100000]"),
        (2, "1.5", "array_row = '1.5' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be an integer in [0, 100000]"),
        (4, "inf", "pxl_row_in_fullres = 'inf' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be a finite number"),
        (5, "", "pxl_col_in_fullres = '' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be a finite number"),
        (5, "left", "pxl_col_in_fullres = 'left' for barcode 'ACGCCTGACACGCGCT-1' (1 bad rows): must be a finite number"),
    ],
)
def test_bad_position_values(visium_copy, column, value, expected):
    outs = visium_copy()
    table, path = _positions(outs)
    table.iloc[0, column] = value
    table.to_csv(path, header=False, index=False)
    assert _error(outs) == f"{path}: {expected}"


def test_duplicated_barcode_in_positions(visium_copy):
    outs = visium_copy()
    table, path = _positions(outs)
    table.iloc[1, 0] = table.iloc[0, 0]
    table.to_csv(path, header=False, index=False)
    assert _error(outs) == f"{path}: duplicated barcode 'ACGCCTGACACGCGCT-1' (2 rows; 1 duplicated in all); each must appear once"


def test_two_barcodes_on_one_grid_position(visium_copy):
    outs = visium_copy()
    table, path = _positions(outs)
    table.iloc[1, 2:4] = table.iloc[0, 2:4].to_numpy()
    table.to_csv(path, header=False, index=False)
    assert _error(outs) == (f"{path}: barcodes 'ACGCCTGACACGCGCT-1' and 'TACCGATCCAACACTT-1' share grid position "
                            "(row, col) = (0,0); each spot needs its own")  # fmt: skip


@pytest.mark.parametrize("header", [False, True])
def test_wrong_column_count(visium_copy, header):
    outs = visium_copy()
    table, path = _positions(outs)
    table[6] = "0"
    if header:
        path.unlink()
        path = outs / "spatial" / "tissue_positions.csv"
        table.columns = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres", "extra"]
    table.to_csv(path, header=header, index=False)
    assert _error(outs) == (f"{path}: expected 6 columns (barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,"
                            "pxl_col_in_fullres), found 7")  # fmt: skip


def test_positions_covering_part_of_the_matrix(visium_copy, caplog):
    outs = visium_copy()
    table, path = _positions(outs)
    matrix = io.read_matrix(outs / "filtered_feature_bc_matrix.h5")
    in_matrix = table[0].isin(matrix.obs_names)
    table.drop(index=table.index[in_matrix][:5]).to_csv(path, header=False, index=False)
    assert _error(outs) == (f"{path}: 5 of the 100 barcodes of {outs / 'filtered_feature_bc_matrix.h5'} (5.0%) have no position; "
                            "at most 1% may be missing (wrong positions file?)")  # fmt: skip
    table.drop(index=table.index[in_matrix][:1]).to_csv(path, header=False, index=False)
    assert io.read(outs).n_obs == 99 and "1 of 100 barcodes" in caplog.text


def test_duplicated_barcodes_in_a_10x_matrix(tmp_path):
    path = tmp_path / "m.h5"
    write_10x_h5(path, np.ones((3, 2)), ["A-1", "B-1", "A-1"], ["ENSG1", "ENSG2"], ["G1", "G2"])
    with pytest.raises(InputError) as err, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        io.read_matrix(path)
    assert str(err.value) == f"{path}: duplicated barcode 'A-1' (2 rows; 1 duplicated in all); each must appear once"
    assert not [w for w in seen if "not unique" in str(w.message)]  # the error alone, no anndata warning before it


def test_h5ad_duplicated_spots_and_bad_scalefactors(shared_data, tmp_path):
    a = ad.read_h5ad(shared_data / "visium-fixture-squidpy" / "test_data.h5ad")
    lib = next(iter(a.uns["spatial"]))
    dup = a.copy()
    dup.obs_names = [a.obs_names[0], *a.obs_names[:-1]]
    dup.write_h5ad(tmp_path / "dup.h5ad")
    with pytest.raises(InputError, match=r"dup\.h5ad: duplicated spot name \(obs_names\) '.*' \(2 rows; 1 duplicated in all\)"):
        io.read(tmp_path / "dup.h5ad")
    a.uns["spatial"][lib]["scalefactors"]["spot_diameter_fullres"] = -1.0
    a.write_h5ad(tmp_path / "neg.h5ad")
    with pytest.raises(InputError, match=r"neg\.h5ad scalefactors spot_diameter_fullres = -1\.0: must be a finite number > 0"):
        io.read(tmp_path / "neg.h5ad")


def _legacy_folder(tmp_path, *, counts_index=None, label_rows=None):
    """A 3 x 3 legacy ST section "S1" (her2st layout) with counts, spot selection and labels."""
    folder = tmp_path / "st"
    for sub in ("counts", "spotfiles", "pathologist_labels"):
        (folder / sub).mkdir(parents=True)
    xs, ys = np.meshgrid(np.arange(1, 4), np.arange(1, 4))
    names = [f"{x}x{y}" for x, y in zip(xs.ravel(), ys.ravel())]
    pd.DataFrame(np.ones((9, 2), dtype=int), index=counts_index or names, columns=["G1", "G2"]).to_csv(
        folder / "counts" / "S1.tsv.gz", sep="\t")
    pd.DataFrame({"x": xs.ravel(), "y": ys.ravel(), "new_x": xs.ravel(), "new_y": ys.ravel(),
                  "pixel_x": 100.0 * xs.ravel(), "pixel_y": 100.0 * ys.ravel(), "selected": 1}).to_csv(
        folder / "spotfiles" / "S1_selection.tsv", sep="\t", index=False)  # fmt: skip
    rows = label_rows or [(1.02, 1.0, "invasive cancer"), (2.0, 2.01, "fat")]
    pd.DataFrame(rows, columns=["x", "y", "label"]).to_csv(folder / "pathologist_labels" / "S1_labeled_coordinates.tsv", sep="\t", index=False)
    return folder


def test_legacy_st_duplicates(tmp_path):
    good = io.read(_legacy_folder(tmp_path / "good"), section="S1")
    assert good.n_obs == 9 and good.obs["pathologist_label"].notna().sum() == 2
    names = ["1x1", "2x1", "3x1", "1x2", "2x2", "3x2", "1x3", "2x3", "1x1"]
    folder = _legacy_folder(tmp_path / "dup", counts_index=names)
    with pytest.raises(InputError, match=r"S1\.tsv\.gz: duplicated spot name '1x1' \(2 rows"):
        io.read(folder, section="S1")
    folder = _legacy_folder(tmp_path / "lab", label_rows=[(1.02, 1.0, "fat"), (0.98, 1.1, "invasive cancer")])
    with pytest.raises(InputError, match=r"S1_labeled_coordinates\.tsv: duplicated spot '1x1' \(2 rows"):
        io.read(folder, section="S1")


def test_label_table_values(tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("x\ty\tlabel\n1.2\t3\tfat\n\t4\tnone\n")
    assert read_labels(path).to_dict() == {"1x3": "fat"}  # a row without coordinates is left out
    path.write_text("x\ty\tlabel\n1.2\tthree\tfat\n")
    with pytest.raises(InputError) as err:
        read_labels(path)
    assert str(err.value) == f"{path}: y = 'three' in row 1: must be a number in [0, 100000]"


@pytest.mark.parametrize(("column", "value", "allowed"), [("array_row", np.nan, r"an integer in \[-1, 100000\]"),
                                                          ("array_col", -2, r"an integer in \[-1, 100000\]"),
                                                          ("in_tissue", 3, "0 or 1")])  # fmt: skip
def test_h5ad_spot_columns(shared_data, tmp_path, column, value, allowed):
    a = ad.read_h5ad(shared_data / "visium-fixture-squidpy" / "test_data.h5ad")
    a.obs[column] = 1
    a.obs.loc[a.obs_names[0], column] = value
    a.write_h5ad(tmp_path / "bad.h5ad")
    with pytest.raises(InputError, match=rf"bad\.h5ad obs: {column} = .* for barcode '{a.obs_names[0]}' \(1 bad rows\): must be {allowed}"):
        io.read(tmp_path / "bad.h5ad")
