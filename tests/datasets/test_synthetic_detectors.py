"""The anomalies are findable but not trivial, and each modality sees only its own kinds.

Two simple detectors, both kNN distances to the healthy sections SYN-NB-A..H: on a PCA of
log-normalised genes z-scored on the healthy spots (the plain scanpy recipe), and on
colour/texture statistics of 32x32 histology patches (`tissue_mib.pp.patches`). AUROCs are
averaged over SYN-BC-A..D (per section, then mean).

The sections' depth follows the tissue as in real breast tissue (shallow adipose and stroma,
deep tumour-like gene anomalies), so a distance over many noisy dimensions, where sparse
shallow spots lie far from everything, tracks depth and ranks the anomalies backwards. The
last test checks that the cohort shows this trap.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from tissue_mib import pp
from tissue_mib.datasets.synthetic import CANCER_SECTIONS, NORMAL_SECTIONS


def _log_normalised(adata) -> np.ndarray:
    x = adata.X.toarray()
    return np.log1p(x / x.sum(1, keepdims=True) * 1e4)


def _texture(adata) -> np.ndarray:
    """Per-patch mean and sd of RGB, dark (nuclear) pixel share and mean gradient magnitude."""
    patches = pp.patches(adata, inplace=False).obsm["tissue_mib_patches"].astype(np.float32) / 255
    grey = patches.mean(-1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    return np.column_stack([patches.mean((1, 2)), patches.std((1, 2)), (grey < 0.55).mean((1, 2)), np.hypot(gx, gy).mean((1, 2))])


N_PCS = 10  # a few components: with more, the PCA takes in the sampling noise of the shallow spots


def _scaler(train: np.ndarray):
    mu, sd = train.mean(0), train.std(0)
    sd[sd == 0] = 1
    return lambda x: (x - mu) / sd


def _knn_scores(train: np.ndarray, tests: dict[str, np.ndarray], k: int = 10) -> dict[str, np.ndarray]:
    knn = NearestNeighbors(n_neighbors=k).fit(train)
    return {name: knn.kneighbors(x)[0].mean(1) for name, x in tests.items()}


def _mean_auroc(sections, scores, positives: list[str]) -> float:
    aucs = []
    for name in CANCER_SECTIONS:
        kind = sections[name].obs["anomaly_kind"].astype(str).to_numpy()
        keep = (kind == "normal") | np.isin(kind, positives)
        aucs.append(roc_auc_score(np.isin(kind[keep], positives), scores[name][keep]))
    return float(np.mean(aucs))


def _gene_embedding(sections, train_names, n_pcs: int | None = N_PCS) -> dict[str, np.ndarray]:
    """Log-normalised genes z-scored on the spots of `train_names`, then PCA (fit on them) or, with None, all genes."""
    logs = {n: _log_normalised(a) for n, a in sections.items()}
    scale = _scaler(np.vstack([logs[n] for n in train_names]))
    z = {n: scale(x) for n, x in logs.items()}
    if n_pcs is None:
        return z
    pca = PCA(n_components=n_pcs, random_state=0).fit(np.vstack([z[n] for n in train_names]))
    return {n: pca.transform(x) for n, x in z.items()}


@pytest.fixture(scope="module")
def gene_scores(synthetic_sections):
    embed = _gene_embedding(synthetic_sections, NORMAL_SECTIONS)
    return _knn_scores(np.vstack([embed[n] for n in NORMAL_SECTIONS]), {n: embed[n] for n in CANCER_SECTIONS})


@pytest.fixture(scope="module")
def histology_scores(synthetic_sections):
    feats = {n: _texture(a) for n, a in synthetic_sections.items()}
    train = np.vstack([feats[n] for n in NORMAL_SECTIONS])
    mu, sd = train.mean(0), train.std(0)
    return _knn_scores((train - mu) / sd, {n: (feats[n] - mu) / sd for n in CANCER_SECTIONS})


def test_gene_detector_finds_gene_anomalies_only(synthetic_sections, gene_scores):
    assert _mean_auroc(synthetic_sections, gene_scores, ["genes", "both"]) > 0.8
    assert _mean_auroc(synthetic_sections, gene_scores, ["histology"]) < 0.65


def test_histology_detector_finds_histology_anomalies_only(synthetic_sections, histology_scores):
    assert _mean_auroc(synthetic_sections, histology_scores, ["histology", "both"]) > 0.8
    assert _mean_auroc(synthetic_sections, histology_scores, ["genes"]) < 0.65


def test_healthy_batch_effect_is_moderate(synthetic_sections, gene_scores):
    """Normal spots of a cancer section score like healthy tissue, not wholesale anomalous."""
    embed = _gene_embedding({n: synthetic_sections[n] for n in NORMAL_SECTIONS}, NORMAL_SECTIONS[:-1])
    held_out = _knn_scores(np.vstack([embed[n] for n in NORMAL_SECTIONS[:-1]]), {"h": embed[NORMAL_SECTIONS[-1]]})["h"]
    for name in CANCER_SECTIONS:
        normal = synthetic_sections[name].obs["anomaly_kind"].to_numpy() == "normal"
        ratio = np.median(gene_scores[name][normal]) / np.median(held_out)
        assert 0.7 < ratio < 1.3, name


def test_depth_tracking_distance_ranks_the_anomalies_backwards(synthetic_sections):
    """A kNN distance over all z-scored genes follows depth (shallow normal spots look far),
    so on the deep gene anomalies it is inverted, while total counts alone rank them well."""
    embed = _gene_embedding(synthetic_sections, NORMAL_SECTIONS, n_pcs=None)
    scores = _knn_scores(np.vstack([embed[n] for n in NORMAL_SECTIONS]), {n: embed[n] for n in CANCER_SECTIONS})
    depth = {n: np.asarray(synthetic_sections[n].X.sum(1)).ravel() for n in CANCER_SECTIONS}
    assert _mean_auroc(synthetic_sections, scores, ["genes", "both"]) < 0.4
    assert _mean_auroc(synthetic_sections, depth, ["genes", "both"]) > 0.9
    for name in CANCER_SECTIONS:
        normal = synthetic_sections[name].obs["anomaly_kind"].to_numpy() == "normal"
        assert spearmanr(scores[name][normal], depth[name][normal])[0] < -0.5, name
