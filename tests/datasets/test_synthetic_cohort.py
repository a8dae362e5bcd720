"""The small synthetic cohort on disk: it loads through io.read, carries its truth, and is deterministic."""

from __future__ import annotations

import json

import anndata
import numpy as np
import pandas as pd
import pytest
import tifffile

from tissue_mib import io
from tissue_mib.datasets.synthetic import (
    ANOMALY_KINDS,
    CANCER_SECTIONS,
    DEFAULT_ANOMALY_FRACTIONS,
    DOMAINS,
    NORMAL_SECTIONS,
    SECTION_NAMES,
    SMALL,
    generate_section,
    summary_table,
)
from tissue_mib.errors import InputError


def test_h5ad_loads_through_io_read_with_truth(synthetic_sections):
    for name, adata in synthetic_sections.items():
        assert SMALL.spots_range[0] <= adata.n_obs <= SMALL.spots_range[1], name
        assert adata.n_vars == SMALL.n_genes
        assert adata.var["gene_ids"].str.startswith("ENSSYN").all()
        assert list(adata.obs["domain"].cat.categories) == list(DOMAINS)
        assert list(adata.obs["anomaly_kind"].cat.categories) == list(ANOMALY_KINDS)
        entry = adata.uns["spatial"][name]
        assert set(entry["images"]) == {"hires", "lowres"}
        assert entry["scalefactors"]["spot_diameter_fullres"] == pytest.approx(55 / SMALL.mpp)
        assert entry["scalefactors"]["microns_per_pixel"] == pytest.approx(SMALL.mpp)
        assert entry["metadata"]["fullres_image"].endswith(f"{name}/fullres_image.tif")
        x = adata.X
        assert np.array_equal(x.data, np.rint(x.data)) and x.data.min() >= 0, "raw integer counts"


def test_folder_form_matches_h5ad_and_truth_csv(synthetic_cohort, synthetic_sections):
    name = "SYN-BC-D"
    folder = io.read(synthetic_cohort / name)
    h5ad = synthetic_sections[name]
    assert list(folder.obs_names) == list(h5ad.obs_names)
    assert (folder.X != h5ad.X).nnz == 0
    np.testing.assert_array_equal(folder.obsm["spatial"], h5ad.obsm["spatial"])
    np.testing.assert_array_equal(folder.obs[["array_row", "array_col"]], h5ad.obs[["array_row", "array_col"]])
    truth = pd.read_csv(synthetic_cohort / name / "truth.csv", index_col="barcode").loc[h5ad.obs_names]
    assert (truth["domain"].to_numpy() == h5ad.obs["domain"].astype(str).to_numpy()).all()
    assert (truth["anomaly_kind"].to_numpy() == h5ad.obs["anomaly_kind"].astype(str).to_numpy()).all()


def test_hex_geometry_and_fullres_pyramid(synthetic_cohort, synthetic_sections):
    adata = synthetic_sections["SYN-NB-A"]
    rows, cols = adata.obs["array_row"].to_numpy(), adata.obs["array_col"].to_numpy()
    assert ((cols - rows) % 2 == 0).all(), "Visium columns step by 2 with the row parity"
    xy_um = adata.obsm["spatial"] * SMALL.mpp
    same_row = (rows[:, None] == rows[None]) & (cols[None] - cols[:, None] == 2)
    dist = np.linalg.norm(xy_um[:, None] - xy_um[None], axis=-1)
    assert np.allclose(dist[same_row], 100, atol=SMALL.mpp), "100 µm centre spacing"
    with tifffile.TiffFile(synthetic_cohort / "SYN-NB-A" / "fullres_image.tif") as tif:
        page = tif.pages[0]
        assert page.is_tiled and page.tilewidth == 256 and page.compression != 1
        levels = tif.series[0].levels
        assert len(levels) >= 2 and levels[1].shape[0] == levels[0].shape[0] // 2
        assert page.tags["XResolution"].value[0] / page.tags["XResolution"].value[1] == pytest.approx(1e4 / SMALL.mpp)
        full = tif.series[0].asarray()
    hires = adata.uns["spatial"]["SYN-NB-A"]["images"]["hires"]
    scale = adata.uns["spatial"]["SYN-NB-A"]["scalefactors"]["tissue_hires_scalef"]
    assert hires.shape[1] == round(full.shape[1] * scale)
    with io.SlideImage(synthetic_cohort / "SYN-NB-A" / "fullres_image.tif") as slide:
        assert slide.microns_per_pixel == pytest.approx(SMALL.mpp)


def test_anomaly_fractions_and_modality_split(synthetic_sections):
    for name in NORMAL_SECTIONS:
        obs = synthetic_sections[name].obs
        assert (obs["anomaly_kind"] == "normal").all(), name
        assert obs["domain"].nunique() >= 3, name
    for name in CANCER_SECTIONS:
        kinds = synthetic_sections[name].obs["anomaly_kind"]
        n = len(kinds)
        anomalous = (kinds != "normal").sum()
        assert abs(anomalous - DEFAULT_ANOMALY_FRACTIONS[name] * n) <= 1, name
        for kind in ("genes", "histology", "both"):
            assert abs((kinds == kind).sum() - anomalous / 3) <= 2, (name, kind)


def test_anomalies_are_spatially_coherent(synthetic_sections):
    adata = synthetic_sections["SYN-BC-B"]  # 21.4 % anomalous: blobs, not salt and pepper
    xy = adata.obsm["spatial"] * SMALL.mpp
    neighbours = (np.linalg.norm(xy[:, None] - xy[None], axis=-1) < 110) & ~np.eye(len(xy), dtype=bool)
    kind = adata.obs["anomaly_kind"].to_numpy()
    anomalous = kind != "normal"
    same_kind = [(kind[neighbours[i]] == kind[i]).mean() for i in np.flatnonzero(anomalous)]
    assert np.mean(same_kind) > 0.6
    any_anomalous_neighbour = [anomalous[neighbours[i]].mean() for i in np.flatnonzero(anomalous)]
    assert np.mean(any_anomalous_neighbour) > 3 * anomalous.mean()


def test_h5ad_counts_equal_in_memory_generation(synthetic_sections):
    section = generate_section("SYN-BC-C", small=True, seed=0)
    adata = synthetic_sections["SYN-BC-C"]
    assert list(adata.obs_names) == list(section.truth.index)
    assert (adata.X != section.counts.astype(np.float32)).nnz == 0


def test_summary_table_and_manifest(synthetic_cohort):
    table = summary_table(synthetic_cohort)
    assert list(table["section"]) == list(SECTION_NAMES)
    assert table.loc[table["section"] == "SYN-BC-B", "anomalous"].item() == pytest.approx(0.214, abs=0.005)
    manifest = json.loads((synthetic_cohort / "cohort.json").read_text())
    assert manifest["size"] == "small" and manifest["seed"] == 0
    params = anndata.read_h5ad(synthetic_cohort / "SYN-BC-B.h5ad").uns["tissue_mib_synthetic"]
    assert params["seed"] == 0 and params["size"] == "small" and params["anomaly_fraction"] == pytest.approx(0.214)


def test_catalogue_name_reads_the_cohort(synthetic_cohort, monkeypatch):
    monkeypatch.setenv("TISSUE_MIB_SYNTHETIC_DIR", str(synthetic_cohort))
    adata = io.read("SYN-BC-A")
    assert adata.obs["section"].astype(str).unique().tolist() == ["SYN-BC-A"]
    assert "anomaly_kind" in adata.obs


def test_bad_names_and_fractions_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="SYN-BC-Z"):
        generate_section("SYN-BC-Z", small=True)
    with pytest.raises(InputError, match="SYN-NB-A"):
        generate_section("SYN-NB-A", small=True, anomaly_fraction=0.3)
    from tissue_mib.datasets.synthetic import write_cohort

    with pytest.raises(InputError, match="expected 4 values"):
        write_cohort(tmp_path, small=True, anomaly_fractions=[0.1, 0.2])
    with pytest.raises(InputError, match=r"\[0, 1\)"):
        write_cohort(tmp_path, small=True, anomaly_fractions={"SYN-BC-A": 1.5})
    assert not any(tmp_path.iterdir()), "nothing written on bad input"
