"""Visium HD binned outputs, on a tiny folder generated in that layout (tests/io/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tissue_mib import io
from tissue_mib.errors import InputError


def test_visium_hd_square_bins(hd_folder):
    a = io.read(hd_folder)  # the sample folder: picks outs/binned_outputs/square_008um
    assert a.shape == (36, 5)
    assert list(a.uns["spatial"]) == ["hd"]
    entry = a.uns["spatial"]["hd"]
    md = entry["metadata"]
    assert md["layout"] == "visium_hd" and md["grid"] == "square" and md["spot_diameter_um"] == 8.0
    assert entry["scalefactors"]["microns_per_pixel"] == 0.25 and entry["scalefactors"]["bin_size_um"] == 8.0
    assert a.var_names.tolist() == ["G0", "G1", "G2", "G3", "G4"] and a.var["gene_ids"].iloc[0] == "ENSG00000000000"
    i = a.obs_names.get_loc("s_008um_00002_00003-1")
    assert (a.obs["array_row"].iloc[i], a.obs["array_col"].iloc[i]) == (2, 3)
    assert a.obsm["spatial"][i].tolist() == [200.0 + 3 * 32, 100.0 + 2 * 32]  # x = pxl_col, y = pxl_row
    # a bin folder given directly reads the same
    b = io.read(hd_folder / "outs" / "binned_outputs" / "square_008um")
    np.testing.assert_array_equal(b.X.toarray(), a.X.toarray())


def test_visium_hd_missing_parquet(hd_folder):
    bins = hd_folder / "outs" / "binned_outputs" / "square_008um"
    pos = pd.read_parquet(bins / "spatial" / "tissue_positions.parquet")
    (bins / "spatial" / "tissue_positions.parquet").unlink()
    with pytest.raises(InputError, match=r"square_008um: spatial/tissue_positions\.parquet is missing"):
        io.read(hd_folder)
    pos.assign(barcode="other-" + pos["barcode"]).to_parquet(bins / "spatial" / "tissue_positions.parquet")
    with pytest.raises(InputError, match=r"tissue_positions\.parquet: positions match none of the 36 barcodes"):
        io.read(hd_folder)
