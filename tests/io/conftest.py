"""Fixtures for the io tests: tiny 10x files written in their real layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp


def write_10x_h5(path: Path, X: np.ndarray, barcodes: list[str], ids: list[str], names: list[str]) -> None:
    """A 10x v3 HDF5 feature-barcode matrix (CSC of genes x barcodes, as Cell/Space Ranger write it)."""
    m = sp.csc_matrix(np.asarray(X).T)
    with h5py.File(path, "w") as f:
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2
        g = f.create_group("matrix")
        g["barcodes"] = np.array(barcodes, dtype="S")
        g["data"] = m.data.astype(np.int32)
        g["indices"] = m.indices.astype(np.int64)
        g["indptr"] = m.indptr.astype(np.int64)
        g["shape"] = np.array(m.shape, dtype=np.int32)
        feat = g.create_group("features")
        feat["id"] = np.array(ids, dtype="S")
        feat["name"] = np.array(names, dtype="S")
        feat["feature_type"] = np.array(["Gene Expression"] * len(ids), dtype="S")
        feat["genome"] = np.array(["GRCh38"] * len(ids), dtype="S")
        feat["_all_tag_keys"] = np.array(["genome"], dtype="S")


@pytest.fixture
def visium_copy(shared_data: Path, tmp_path: Path):
    """Factory: a writable copy of the scanpy 1.0.0 Space Ranger fixture."""

    def make(name: str = "sample") -> Path:
        dst = tmp_path / name / "outs"
        shutil.copytree(shared_data / "visium-fixture-scanpy" / "1.0.0", dst)
        for p in [dst, *dst.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        return dst

    return make


@pytest.fixture
def hd_folder(tmp_path: Path) -> Path:
    """A tiny Visium HD output: outs/binned_outputs/square_008um/ with a 10x h5 matrix,
    spatial/tissue_positions.parquet and scalefactors (0.25 µm/px, 8 µm bins = 32 px)."""
    rng = np.random.default_rng(0)
    n_side, n_genes = 6, 5
    rows, cols = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    barcodes = [f"s_008um_{r:05d}_{c:05d}-1" for r, c in zip(rows.ravel(), cols.ravel())]
    X = rng.poisson(3.0, size=(len(barcodes), n_genes))
    bins = tmp_path / "hd" / "outs" / "binned_outputs" / "square_008um"
    (bins / "spatial").mkdir(parents=True)
    (tmp_path / "hd" / "outs" / "binned_outputs" / "square_016um").mkdir()
    write_10x_h5(bins / "filtered_feature_bc_matrix.h5", X, barcodes, [f"ENSG{i:011d}" for i in range(n_genes)], [f"G{i}" for i in range(n_genes)])
    pd.DataFrame(
        {
            "barcode": barcodes,
            "in_tissue": 1,
            "array_row": rows.ravel(),
            "array_col": cols.ravel(),
            "pxl_row_in_fullres": 100.0 + 32.0 * rows.ravel(),
            "pxl_col_in_fullres": 200.0 + 32.0 * cols.ravel(),
        }
    ).to_parquet(bins / "spatial" / "tissue_positions.parquet")
    (bins / "spatial" / "scalefactors_json.json").write_text(
        json.dumps({"spot_diameter_fullres": 32.0, "bin_size_um": 8.0, "microns_per_pixel": 0.25, "tissue_hires_scalef": 0.5, "tissue_lowres_scalef": 0.05})
    )
    return tmp_path / "hd"
