"""Spot graphs: Visium hex grid (6), legacy ST / Visium HD square grids (4), kNN, no cross-section edges."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tissue_mib import pp


def degrees(adata):
    return np.asarray((adata.obsp["spatial_connectivities"] > 0).sum(axis=1)).ravel()


@pytest.mark.parametrize("indices", ["array", "shuffled", "none"])
def test_real_visium_positions_give_degree_6_in_the_interior(shared_data, make_section, indices):
    pos = pd.read_csv(shared_data / "visium-fixture-scanpy" / "1.0.0" / "spatial" / "tissue_positions_list.csv",
                      header=None, names=["barcode", "in_tissue", "row", "col", "pxl_row", "pxl_col"])
    array = pos[["row", "col"]].to_numpy()
    if indices == "shuffled":  # indices that do not fit the centres are ignored
        array = np.random.default_rng(0).permutation(array)
    adata = make_section("V", pos[["pxl_col", "pxl_row"]].to_numpy(float), grid="hex",
                         array=None if indices == "none" else array)
    pp.spatial_graph(adata)
    deg = degrees(adata)
    interior = (pos.row.between(1, 76) & pos.col.between(2, 125)).to_numpy()
    assert interior.sum() > 4500
    assert np.all(deg[interior] == 6)
    assert deg.max() == 6 and deg[~interior].min() >= 2
    conn = adata.obsp["spatial_connectivities"]
    assert (conn != conn.T).nnz == 0
    np.testing.assert_array_equal(adata.obsp["spatial_distances"].data, 1.0)


def test_square_grids_have_degree_4_in_the_interior(make_section, square_grid):
    st = make_section("ST", square_grid(8, 9, pitch=219.0, jitter=4.0), grid="square", layout="legacy_st")
    hd = make_section("HD", square_grid(10, 10, pitch=8.0), grid="square", layout="visium_hd")
    for adata, (rows, cols) in ((st, (8, 9)), (hd, (10, 10))):
        pp.spatial_graph(adata)
        deg = degrees(adata).reshape(rows, cols)
        assert np.all(deg[1:-1, 1:-1] == 4) and deg[0, 0] == 2 and deg[0, 1] == 3


def test_knn_when_there_is_no_grid(make_section):
    coords = np.random.default_rng(0).uniform(0, 1000, (60, 2))
    adata = make_section("K", coords, grid="none")
    pp.spatial_graph(adata, n_neighs=5)
    assert np.all(degrees(adata) == 5)
    d = adata.obsp["spatial_distances"].tocoo()
    np.testing.assert_allclose(d.data, np.linalg.norm(coords[d.row] - coords[d.col], axis=1))


def test_no_edges_between_sections(make_section, hex_grid, square_grid):
    coords, _ = hex_grid(6, 7)
    a = make_section("A", coords, grid="hex")
    b = make_section("B", coords + 0.5, grid="hex")  # overlapping coordinates: only library separates them
    c = make_section("C", square_grid(5, 5), grid="square")
    adata = ad.concat([a, b, c], index_unique="-")
    adata.uns["spatial"] = {**a.uns["spatial"], **b.uns["spatial"], **c.uns["spatial"]}
    pp.spatial_graph(adata)
    coo = adata.obsp["spatial_connectivities"].tocoo()
    libs = adata.obs["library_id"].to_numpy()
    assert coo.nnz > 0 and np.all(libs[coo.row] == libs[coo.col])
    deg = degrees(adata)
    assert deg[libs == "A"].max() == 6 and deg[libs == "C"].max() == 4
    assert adata.uns["spatial_neighbors"]["params"]["grid"] == {"A": "hex", "B": "hex", "C": "square"}
    assert isinstance(adata.obsp["spatial_distances"], sp.csr_matrix)


def test_real_legacy_st_grid_gives_degree_4_in_the_interior(shared_data):
    from tissue_mib import io

    adata = io.read(shared_data / "her2st", section="B1")
    pp.spatial_graph(adata)
    row, col = adata.obs["array_row"].to_numpy(), adata.obs["array_col"].to_numpy()
    present = set(zip(row, col))
    interior = np.array([all((r + dr, c + dc) in present for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)))
                         for r, c in zip(row, col)])
    assert interior.sum() > 150
    assert np.all(degrees(adata)[interior] == 4)
    conn = adata.obsp["spatial_connectivities"].tocoo()
    inner = interior[conn.row]
    steps = np.abs(row[conn.row] - row[conn.col]) + np.abs(col[conn.row] - col[conn.col])
    np.testing.assert_array_equal(steps[inner], 1)  # the four grid neighbours, not diagonals
