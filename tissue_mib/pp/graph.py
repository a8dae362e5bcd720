"""Spot graphs per section with squidpy: hex grid (Visium), square grid (legacy ST, Visium HD), kNN."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import scipy.sparse as sp
import squidpy as sq
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.pp._util import library_masks, metadata

logger = logging.getLogger(__name__)

GRID_NEIGHBOURS = {"hex": 6, "square": 4}


def spatial_graph(adata: AnnData, *, n_neighs: int = 6, inplace: bool = True) -> AnnData | None:
    """Build `obsp['spatial_connectivities']` and `obsp['spatial_distances']`, one block per library.

    Each library uses its reader-recorded `metadata['grid']`: `hex` -> squidpy grid graph with 6
    neighbours, `square` -> grid graph with 4 (on the ideal lattice of `obs['array_row']`,
    `obs['array_col']` when these fit the spot centres, else on the centres), `none` (or
    unknown) -> `n_neighs` nearest neighbours on `obsm['spatial']`. There are no edges
    between libraries. Grid distances are squidpy's ring numbers (1 for direct neighbours);
    kNN distances are in full-res pixels.
    """
    adata = adata if inplace else adata.copy()
    if "spatial" not in adata.obsm:
        raise InputError("spatial_graph: AnnData has no obsm['spatial'] (spot centres)")
    coords_all = np.asarray(adata.obsm["spatial"], dtype=np.float64)
    n = adata.n_obs
    conn_rows, conn_cols, conn_vals, dist_vals = [], [], [], []
    grids: dict[str, str] = {}
    for lib, rows in library_masks(adata):
        idx = np.flatnonzero(rows)
        if not np.isfinite(coords_all[idx]).all():
            raise InputError(f"section {lib}: obsm['spatial'] has non-finite spot centres")
        grid = str(metadata(adata, lib).get("grid", "none"))
        grids[lib] = grid if grid in GRID_NEIGHBOURS else "none"
        coords = _lattice(adata, idx, grids[lib], coords_all[idx], lib)
        conn, dist = _library_graph(coords, grid=grids[lib], n_neighs=n_neighs)
        conn, dist = conn.tocoo(), sp.csr_matrix(dist)
        conn_rows.append(idx[conn.row])
        conn_cols.append(idx[conn.col])
        conn_vals.append(conn.data)
        dist_vals.append(np.asarray(dist[conn.row, conn.col]).ravel())
    rows_, cols_ = np.concatenate(conn_rows), np.concatenate(conn_cols)
    adata.obsp["spatial_connectivities"] = sp.csr_matrix((np.concatenate(conn_vals), (rows_, cols_)), shape=(n, n))
    adata.obsp["spatial_distances"] = sp.csr_matrix((np.concatenate(dist_vals), (rows_, cols_)), shape=(n, n))
    adata.uns["spatial_neighbors"] = {
        "connectivities_key": "spatial_connectivities", "distances_key": "spatial_distances",
        "params": {"grid": grids, "n_neighs": {lib: GRID_NEIGHBOURS.get(g, n_neighs) for lib, g in grids.items()}},
    }
    logger.info("spatial graph: %d edges over %d libraries (%s)", rows_.size, len(grids), grids)
    return None if inplace else adata


def _lattice(adata: AnnData, idx: np.ndarray, grid: str, coords: np.ndarray, lib: str) -> np.ndarray:
    """Ideal grid positions from obs['array_row'/'array_col'] when they agree with the spot centres.

    Real spot centres can be off the lattice by a fraction of the pitch (her2st), enough for
    a diagonal to look nearer than a true neighbour; the array indices are exact. Visium hex
    indices (columns step 2 within a row, rows offset by 1) map to (col, row * sqrt(3)).
    Falls back to the centres when the indices are missing or do not fit them.
    """
    if grid not in GRID_NEIGHBOURS or not {"array_row", "array_col"} <= set(adata.obs.columns):
        return coords
    rc = adata.obs[["array_row", "array_col"]].to_numpy(dtype=np.float64)[idx]
    if not np.isfinite(rc).all() or len(idx) < 4:
        return coords
    lattice = np.stack([rc[:, 1], rc[:, 0] * (np.sqrt(3) if grid == "hex" else 1.0)], axis=1)
    design = np.column_stack([lattice, np.ones(len(idx))])
    fit, *_ = np.linalg.lstsq(design, coords, rcond=None)
    pitch = np.linalg.norm(fit[0]) * (2.0 if grid == "hex" else 1.0)  # neighbour spacing in pixels
    residual = np.median(np.linalg.norm(design @ fit - coords, axis=1))
    if pitch > 0 and residual < 0.1 * pitch:
        return lattice
    logger.info("section %s: array_row/array_col do not fit the spot centres (median residual %.2f pitch); "
                "graph from the centres", lib, residual / pitch if pitch > 0 else np.inf)
    return coords


def _library_graph(coords: np.ndarray, *, grid: str, n_neighs: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(connectivities, distances) of one library's spots; an isolated spot gets no edges."""
    k = GRID_NEIGHBOURS.get(grid, n_neighs)
    k = min(k, coords.shape[0] - 1)
    if k < 1:
        empty = sp.csr_matrix((coords.shape[0], coords.shape[0]), dtype=np.float32)
        return empty, empty
    one = AnnData(obsm={"spatial": coords}, shape=(coords.shape[0], 0))
    with _quiet_squidpy():
        if grid in GRID_NEIGHBOURS:
            res = sq.gr.spatial_neighbors_grid(one, n_neighs=k, copy=True)
        else:
            res = sq.gr.spatial_neighbors_knn(one, n_neighs=k, copy=True)
    return res.connectivities, res.distances


@contextlib.contextmanager
def _quiet_squidpy():
    """squidpy logs every graph at INFO through spatialdata's logger (straight to the terminal)."""
    noisy = logging.getLogger("spatialdata._logging")
    level = noisy.level
    noisy.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        noisy.setLevel(level)
