"""Classic reference detectors a user would try first, for the benchmark tables."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors


def knn_pca_scores(train: np.ndarray, test: np.ndarray, *, n_pcs: int = 50, k: int = 10, seed: int = 0) -> np.ndarray:
    """Mean distance of each test row to its `k` nearest training rows in PCA space.

    train: (N, G) healthy expression (normalised, log1p); test: (M, G) in the same gene order.
    PCA (at most `n_pcs` components) is fitted on `train` only. Returns (M,) scores,
    higher = more anomalous.
    """
    n_pcs = int(min(n_pcs, train.shape[0] - 1, train.shape[1]))
    pca = PCA(n_components=n_pcs, random_state=seed).fit(train)
    nn = NearestNeighbors(n_neighbors=min(k, train.shape[0])).fit(pca.transform(train))
    dist, _ = nn.kneighbors(pca.transform(test))
    return dist.mean(axis=1)
