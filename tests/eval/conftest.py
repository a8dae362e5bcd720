"""A small scored section built in memory: a 12 x 9 square grid (100 px pitch), an H&E-like image,
two flagged regions (a 3 x 3 block and a single spot) and calibrated p/q-values."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.spatial import cKDTree

from tissue_mib.calibration import bh_qvalues, conformal_pvalues, label_at

PITCH, SPOT, HIRES = 100.0, 55.0, 0.5
BLOCK = [(r, c) for r in (2, 3, 4) for c in (3, 4, 5)]  # region 1 (9 spots)
SINGLE = (7, 10)  # region 2 (1 spot)


def _make_section(library_id: str = "S1", *, seed: int = 1, n_genes: int = 30, image: bool = True) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(9), np.arange(12), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    xy = np.c_[200.0 + cols * PITCH, 150.0 + rows * PITCH]
    anomalous = np.array([(r, c) in BLOCK or (r, c) == SINGLE for r, c in zip(rows, cols)])
    score = rng.gamma(2.0, size=rows.size) + 25.0 * anomalous
    calib = rng.gamma(2.0, size=500)
    p = conformal_pvalues(score, calib)
    q = bh_qvalues(p)
    X = rng.normal(1.0, 0.3, size=(rows.size, n_genes)).clip(0).astype(np.float32)
    X[anomalous, 3] += 3.0  # gene g3 up in the anomalous spots
    X[anomalous, 7] -= 0.9  # gene g7 down
    obs = pd.DataFrame(
        {
            "array_row": rows, "array_col": cols,
            "library_id": pd.Categorical([library_id] * rows.size),
            "section": pd.Categorical([f"SEC-{library_id}"] * rows.size),
            "anomaly_kind": pd.Categorical(np.where(anomalous, "genes", "normal")),
            "tissue_mib_score": score, "tissue_mib_pvalue": p, "tissue_mib_qvalue": q,
            "tissue_mib_label": label_at(q, 0.05),
            "tissue_mib_score_genes": score * np.where(anomalous, 0.9, 0.5),
            "tissue_mib_score_histology": score * np.where(anomalous, 0.1, 0.5),
        },
        index=[f"{library_id}_{i}" for i in range(rows.size)],
    )
    assert np.array_equal(q <= 0.05, anomalous), "fixture seed must flag exactly the anomalous spots"
    a = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(n_genes)]))
    a.obsm["spatial"] = xy
    a.uns["tissue_mib_panel"] = {"hash": "test", "n_missing": 0, "frac_missing": 0.0}
    pairs = cKDTree(xy).query_pairs(PITCH * 1.1, output_type="ndarray")
    conn = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(rows.size,) * 2)
    a.obsp["spatial_connectivities"] = (conn + conn.T).tocsr()
    images = {}
    if image:
        h, w = int(1200 * HIRES), int(1600 * HIRES)
        yy, xx = np.mgrid[:h, :w]
        images["hires"] = np.stack([230 - (xx % 40), 180 + (yy % 30), 220 - (xx % 25)], axis=-1).astype(np.uint8)
    a.uns["spatial"] = {
        library_id: {
            "images": images,
            "scalefactors": {"tissue_hires_scalef": HIRES, "spot_diameter_fullres": SPOT, "microns_per_pixel": 1.0},
            "metadata": {"blank_images": []},
        }
    }
    return a


@pytest.fixture
def make_section():
    """Factory: make_section(library_id="S1", *, seed=1, n_genes=30, image=True) -> scored AnnData."""
    return _make_section


@pytest.fixture
def section() -> ad.AnnData:
    return _make_section()
