"""Flagged regions on the spot graph and the genes that deviate from the healthy reference."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tissue_mib.errors import InputError
from tissue_mib.tl.regions import flagged_regions, gene_reference, rank_deviating_genes, region_genes, write_region_genes


def _healthy(section):
    return section[(section.obs["anomaly_kind"] == "normal").to_numpy()]


def test_flagged_regions_components(section):
    regions = flagged_regions(section)
    assert list(regions.cat.categories) == ["1", "2"]
    assert (regions == "1").sum() == 9 and (regions == "2").sum() == 1  # largest first
    flagged = (section.obs["tissue_mib_label"] == "anomalous").to_numpy()
    assert regions.isna().to_numpy().tolist() == (~flagged).tolist()
    single = section.obs.loc[regions == "2", ["array_row", "array_col"]].to_numpy()
    assert single.tolist() == [[7, 10]]


def test_flagged_regions_none_flagged_and_missing_graph(section):
    section.obs["tissue_mib_label"] = pd.Categorical(["normal"] * section.n_obs, categories=["normal", "anomalous"])
    assert flagged_regions(section).isna().all()
    del section.obsp["spatial_connectivities"]
    with pytest.raises(InputError, match="spatial_connectivities"):
        flagged_regions(section)


def test_gene_reference_dense_and_sparse_agree(section):
    dense = gene_reference(section)
    sparse = section.copy()
    sparse.X = sp.csr_matrix(sparse.X)
    pd.testing.assert_frame_equal(dense, gene_reference(sparse), rtol=1e-5)
    np.testing.assert_allclose(dense["sd"], section.X.std(axis=0, ddof=1), rtol=1e-5)


def test_rank_deviating_genes_finds_planted_genes(section, tmp_path):
    ref = gene_reference(_healthy(section))
    table = rank_deviating_genes(section, ref, n_genes=5)
    top = table[table["region"] == "1"]
    assert top["gene"].iloc[0] == "g3" and top["direction"].iloc[0] == "up" and top["z"].iloc[0] > 5
    assert "g7" in set(top["gene"]) and top.set_index("gene").loc["g7", "direction"] == "down"
    assert top["rank"].tolist() == [1, 2, 3, 4, 5] and (top["n_spots"] == 9).all()
    assert np.all(np.diff(np.abs(top["z"].to_numpy())) <= 0)
    # z by hand for g3 in region 1
    sel = (section.obs["tissue_mib_region"] == "1").to_numpy()
    s0 = np.median(ref["sd"])
    z = (section.X[sel, 3].mean() - ref.loc["g3", "mean"]) / np.sqrt(ref.loc["g3", "sd"] ** 2 + s0**2)
    assert top["z"].iloc[0] == pytest.approx(z, rel=1e-5)

    path = tmp_path / "s.h5ad"
    section.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(region_genes(back), table, check_dtype=False)
    csv = write_region_genes(back, tmp_path / "genes.csv")
    assert pd.read_csv(csv)["gene"].iloc[0] == "g3"


def test_rank_deviating_genes_on_separate_expression(section):
    # the scored AnnData keeps raw counts; the panel expression comes from preprocessing,
    # possibly without some spots and with the genes in another order
    expression = section[3:, ::-1].copy()
    raw = section.copy()
    raw.X = raw.X * 0 + 100.0
    del raw.uns["tissue_mib_panel"]  # raw counts, as io.read gives them
    with pytest.raises(InputError, match="tissue_mib_panel"):
        rank_deviating_genes(raw, gene_reference(section))
    ref = gene_reference(_healthy(section))
    table = rank_deviating_genes(raw, ref, expression=expression, n_genes=3)
    expected = rank_deviating_genes(section[3:].copy(), ref, n_genes=3)
    pd.testing.assert_frame_equal(table, expected)
    other = section.copy()
    other.obs_names = [f"x{i}" for i in range(other.n_obs)]
    with pytest.raises(InputError, match="obs_names"):
        rank_deviating_genes(raw, ref, expression=other)


def test_rank_deviating_genes_no_flags_and_bad_reference(section, tmp_path):
    section.obs["tissue_mib_label"] = pd.Categorical(["normal"] * section.n_obs, categories=["normal", "anomalous"])
    table = rank_deviating_genes(section, gene_reference(section))
    assert table.empty
    section.write_h5ad(tmp_path / "empty.h5ad")
    assert write_region_genes(ad.read_h5ad(tmp_path / "empty.h5ad"), tmp_path / "e.csv").read_text().startswith("region,rank,gene")
    other = pd.DataFrame({"mean": [0.0], "sd": [1.0]}, index=["Actb"])
    with pytest.raises(InputError, match="no gene in common"):
        rank_deviating_genes(section, other)
    with pytest.raises(InputError, match="'mean' and 'sd'"):
        rank_deviating_genes(section, pd.DataFrame({"avg": [0.0]}))


def test_flagged_regions_minimum_size(section):
    regions = flagged_regions(section, min_spots=2)
    assert list(regions.cat.categories) == ["1"] and (regions == "1").sum() == 9
    single = ((section.obs["array_row"] == 7) & (section.obs["array_col"] == 10)).to_numpy()
    assert regions[single].isna().all() and (section.obs["tissue_mib_label"][single] == "anomalous").all()
    assert section.uns["tissue_mib_region"] == {"min_spots": 2}
    assert flagged_regions(section, min_spots=10).isna().all()  # no region of 10 spots
    with pytest.raises(InputError, match="min_spots: 0 is not a region size"):
        flagged_regions(section, min_spots=0)
