"""10x feature-barcode matrices (HDF5 or mtx folder, gene or probe based) without spatial data."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.io.guard import check_h5_file, check_mtx_folder
from tissue_mib.io.section import gene_table
from tissue_mib.io.validate import check_not_empty, check_unique, check_values, duplicates_checked_after

logger = logging.getLogger(__name__)

# In order of preference inside a Space Ranger `outs/` folder.
MATRIX_NAMES = (
    "filtered_feature_bc_matrix.h5",
    "filtered_feature_bc_matrix",
    "raw_feature_bc_matrix.h5",
    "raw_feature_bc_matrix",
    "raw_probe_bc_matrix.h5",
)


def find_matrix(folder: Path) -> Path | None:
    """The preferred matrix file or mtx folder inside `folder`, or None."""
    for name in MATRIX_NAMES:
        if (folder / name).exists():
            return folder / name
    return None


def read_matrix(path: str | os.PathLike) -> AnnData:
    """Read a 10x matrix: a `.h5` file, an mtx folder, or a Space Ranger folder holding one.

    Returns spots x genes with X scipy CSR float32, obs_names = barcodes, `var['gene_ids']`,
    `var['gene_symbols']` (probe matrices also `var['probe_ids']`), var_names = symbols made
    unique, and `uns['tissue_mib_matrix'] = {'source', 'is_normalised'}`. No spatial data.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir() and not (path / "matrix.mtx.gz").exists() and not (path / "matrix.mtx").exists():
        found = find_matrix(path)
        if found is None:
            raise InputError(f"{path}: no 10x matrix found (looked for {', '.join(MATRIX_NAMES)})")
        path = found
    if path.is_file():
        check_h5_file(path)
    else:
        check_mtx_folder(path)
    with duplicates_checked_after():
        raw = _read_h5(path) if path.is_file() else _read_mtx(path)
    check_unique(raw.obs_names, what="barcode", where=str(path))
    var = gene_table(_column(raw, "gene_ids"), _symbols(raw))
    if "probe_ids" in raw.var:
        var["probe_ids"] = raw.var["probe_ids"].astype(str).to_numpy()
    X = sp.csr_matrix(raw.X, dtype=np.float32)
    check_not_empty(*X.shape, where=str(path))
    adata = AnnData(X=X, obs=raw.obs[[]].copy(), var=var)
    adata.uns["tissue_mib_matrix"] = {"source": str(path), "is_normalised": check_values(X, where=str(path))}
    return adata


def _read_h5(path: Path) -> AnnData:
    import h5py
    import scanpy as sc

    try:
        with h5py.File(path, "r") as f:
            if "matrix" not in f:
                raise InputError(f"{path}: HDF5 file has no 'matrix' group; not a 10x feature-barcode matrix")
        return sc.read_10x_h5(path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py/scanpy raise OSError, KeyError, ValueError on bad files
        raise InputError(f"{path}: cannot read 10x HDF5 matrix ({type(exc).__name__}: {exc})") from None


def _read_mtx(path: Path) -> AnnData:
    import scanpy as sc

    try:
        raw = sc.read_10x_mtx(path, var_names="gene_ids", make_unique=False)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read 10x mtx folder ({type(exc).__name__}: {exc})") from None
    raw.var["gene_ids"] = raw.var_names.to_numpy()
    return raw


def _column(raw: AnnData, name: str):
    return raw.var[name].to_numpy() if name in raw.var else None


def _symbols(raw: AnnData):
    """Gene symbols: `gene_symbols` (mtx read by ID); for probe matrices the symbol part of the
    probe name `"Symbol|hash"` (their `gene_name` field may hold an ID); else var_names."""
    if "gene_symbols" in raw.var:
        return raw.var["gene_symbols"].to_numpy()
    if "probe_ids" in raw.var:
        return raw.var_names.str.split("|").str[0].to_numpy()
    return raw.var_names.to_numpy()
