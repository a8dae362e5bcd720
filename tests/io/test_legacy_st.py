"""The her2st legacy ST layout on the real data."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tissue_mib import io
from tissue_mib.errors import InputError

TUMOUR = ["invasive cancer", "cancer in situ"]


@pytest.fixture(scope="module")
def her2st(shared_data):
    return shared_data / "her2st"


@pytest.fixture(scope="module")
def a1(her2st):
    return io.read(her2st, section="A1")


def test_b1(her2st):
    a = io.read(her2st, section="B1")
    assert a.shape == (295, 15109)
    assert a.var["gene_ids"].eq("").all() and a.var_names[1] == "SAMD11" == a.var["gene_symbols"].iloc[1]
    assert set(a.obs["library_id"]) == {"B1"}
    md = a.uns["spatial"]["B1"]["metadata"]
    assert md["layout"] == "legacy_st" and md["grid"] == "square" and md["spot_diameter_um"] == 100.0
    assert md["fullres_image"] == "" and a.uns["spatial"]["B1"]["images"] == {}  # B1's image is not here
    sf = a.uns["spatial"]["B1"]["scalefactors"]
    assert sf["microns_per_pixel"] == pytest.approx(0.689, abs=0.002)
    assert sf["spot_diameter_fullres"] == pytest.approx(100 / sf["microns_per_pixel"])
    labels = a.obs["pathologist_label"]
    assert labels.notna().all() and labels.isin(TUMOUR).sum() == 63 and (labels == "undetermined").sum() == 26
    # spot 10x13 of the counts: array x=10 -> col, y=13 -> row; pixel coordinates from the spot table
    sel = pd.read_csv(her2st / "spotfiles" / "B1_selection.tsv", sep="\t").query("x == 10 and y == 13")
    i = a.obs_names.get_loc("10x13")
    assert (a.obs["array_col"].iloc[i], a.obs["array_row"].iloc[i]) == (10, 13)
    assert a.obsm["spatial"][i].tolist() == [sel["pixel_x"].item(), sel["pixel_y"].item()]


def test_a1_image_labels_and_weak_clusters(a1):
    assert a1.n_obs == 346
    assert a1.obs["pathologist_label"].isin(TUMOUR).sum() == 303
    entry = a1.uns["spatial"]["A1"]
    assert entry["images"]["hires"].shape == (2138, 2000, 3)
    assert entry["scalefactors"]["tissue_hires_scalef"] == pytest.approx(0.287604)
    assert entry["scalefactors"]["microns_per_pixel"] == pytest.approx(0.916, abs=0.003)
    assert entry["metadata"]["blank_images"] == []
    # spots land on tissue, not on the blacked-out background
    xy = np.round(a1.obsm["spatial"] * 0.287604).astype(int)
    assert entry["images"]["hires"][xy[:, 1], xy[:, 0]].mean() > 60
    assert a1.obs["expression_cluster"].notna().sum() == 345  # PROVENANCE: 345 of 346
    assert a1.obs["weak_is_cancer"].dtype == bool
    tumour = a1.obs["pathologist_label"].isin(TUMOUR).to_numpy()
    assert 0.6 < (a1.obs["weak_is_cancer"].to_numpy() == tumour).mean() < 0.9  # PROVENANCE: 0.75


def test_c2_fullres_jpeg_gives_path_and_downscaled_hires(her2st):
    c2 = io.read(her2st, section="C2")
    entry = c2.uns["spatial"]["C2"]
    assert entry["metadata"]["fullres_image"].endswith("C2_5714_HE_BT_C2.jpg")
    hires = entry["images"]["hires"]
    assert max(hires.shape[:2]) == 2000
    assert entry["scalefactors"]["tissue_hires_scalef"] == pytest.approx(2000 / 9911, rel=1e-3)
    assert "pathologist_label" not in c2.obs  # unlabelled section
    with io.SlideImage(entry["metadata"]["fullres_image"]) as slide:
        assert slide.shape == (9911, 9274)


def test_catalogue_name_bc_a_is_a1(a1):
    a = io.read("BC-A")
    assert set(a.obs["section"]) == {"BC-A"} and set(a.obs["library_id"]) == {"A1"}
    assert a.n_obs == a1.n_obs and a.obs["pathologist_label"].isin(TUMOUR).sum() == 303


def test_labels_dir_and_errors(her2st, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    src = pd.read_csv(her2st / "pathologist_labels" / "B1_labeled_coordinates.tsv", sep="\t")
    src.assign(label="breast glands").to_csv(labels / "B1_labeled_coordinates.tsv", sep="\t", index=False)
    b1 = io.read(her2st, section="B1", labels_dir=labels)
    assert set(b1.obs["pathologist_label"]) == {"breast glands"}
    with pytest.raises(InputError, match=r"labels/D1_labeled_coordinates\.tsv: no pathologist labels for section 'D1'"):
        io.read(her2st, section="D1", labels_dir=labels)
    with pytest.raises(InputError, match=r"her2st: legacy ST folder with many sections; pass section="):
        io.read(her2st)
    with pytest.raises(InputError, match=r"counts/Z9\.tsv\.gz: no count matrix for section 'Z9'"):
        io.read(her2st, section="Z9")


def test_negative_counts_and_unmatched_spot_table(her2st, tmp_path):
    root = tmp_path / "st"
    for sub in ("counts", "spotfiles"):
        (root / sub).mkdir(parents=True)
    counts = pd.DataFrame([[1, 2], [3, -1]], index=["1x1", "2x1"], columns=["GENE1", "GENE2"])
    counts.to_csv(root / "counts" / "S1.tsv.gz", sep="\t")
    sel = pd.DataFrame({"x": [1, 2, 1], "y": [1, 1, 2], "new_x": [1.0, 2.0, 1.0], "new_y": [1.0, 1.0, 2.0], "pixel_x": [100.0, 300.0, 100.0], "pixel_y": [100.0, 100.0, 300.0], "selected": 1})
    sel.to_csv(root / "spotfiles" / "S1_selection.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"counts/S1\.tsv\.gz: expression matrix holds negative values"):
        io.read(root, section="S1")
    counts.abs().to_csv(root / "counts" / "S1.tsv.gz", sep="\t")
    s1 = io.read(root, section="S1")
    assert s1.uns["spatial"]["S1"]["scalefactors"]["microns_per_pixel"] == pytest.approx(1.0)
    sel.assign(x=[7, 8, 9]).to_csv(root / "spotfiles" / "S1_selection.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"S1_selection\.tsv: positions match none of the 2 barcodes of .*S1\.tsv\.gz"):
        io.read(root, section="S1")
    shutil.rmtree(root / "spotfiles")
    with pytest.raises(InputError, match=r"S1_selection\.tsv: file not found"):
        io.read(root, section="S1")
