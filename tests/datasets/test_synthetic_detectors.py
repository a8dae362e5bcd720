"""The anomalies are findable but not trivial, and each modality sees only its own kinds.

Two simple detectors, both kNN distances to the healthy sections SYN-NB-A..H: on a PCA of
log-normalised genes, and on colour/texture statistics of 32x32 histology patches
(`tissue_mib.pp.patches`). AUROCs are averaged over SYN-BC-A..D (per section, then mean).
"""

from __future__ import annotations

import numpy as np
import pytest
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


@pytest.fixture(scope="module")
def gene_scores(synthetic_sections):
    pca = PCA(n_components=30, random_state=0).fit(np.vstack([_log_normalised(synthetic_sections[n]) for n in NORMAL_SECTIONS]))
    embed = {n: pca.transform(_log_normalised(a)) for n, a in synthetic_sections.items()}
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
    pca = PCA(n_components=30, random_state=0).fit(np.vstack([_log_normalised(synthetic_sections[n]) for n in NORMAL_SECTIONS[:-1]]))
    embed = {n: pca.transform(_log_normalised(synthetic_sections[n])) for n in NORMAL_SECTIONS}
    held_out = _knn_scores(np.vstack([embed[n] for n in NORMAL_SECTIONS[:-1]]), {"h": embed[NORMAL_SECTIONS[-1]]})["h"]
    for name in CANCER_SECTIONS:
        normal = synthetic_sections[name].obs["anomaly_kind"].to_numpy() == "normal"
        ratio = np.median(gene_scores[name][normal]) / np.median(held_out)
        assert 0.7 < ratio < 1.3, name
