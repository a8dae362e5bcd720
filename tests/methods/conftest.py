"""Tiny data, encoder specs and method options for fast method tests (fixture `tiny`)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tissue_mib.train import MultiModalData, TrainConfig

N = 64
N_CLASSES = 3
WIDTH = 16


def tiny_data(task_kind: str, *, modalities: tuple[str, ...], seed: int = 0) -> MultiModalData:
    """N rows in 2 groups with a chain graph; genes (N, 12), histology (N, 8, 8, 3) uint8,
    audio (N, 6). Labels depend on genes and histology, so a model can learn them."""
    rng = np.random.default_rng(seed)
    genes = rng.normal(size=(N, 12)).astype(np.float32)
    histology = rng.integers(0, 256, size=(N, 8, 8, 3), dtype=np.uint8)
    audio = rng.normal(size=(N, 6)).astype(np.float32)
    groups = np.repeat([0, 1], N // 2)
    src = np.concatenate([np.arange(0, N // 2 - 1), np.arange(N // 2, N - 1)])
    edge_index = np.stack([np.concatenate([src, src + 1]), np.concatenate([src + 1, src])]).astype(np.int64)
    signal = genes[:, 0] + (histology[..., 0].mean(axis=(1, 2)) / 64.0 - 2.0)
    y = {
        "svdd": None,
        "multiclass": np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype(np.int64),
        "multilabel": np.stack([signal > 0, genes[:, 1] > 0, audio[:, 0] > 0], axis=1).astype(np.float32),
        "regression": signal.astype(np.float32),
    }[task_kind]
    all_mods = {"genes": genes, "histology": histology, "audio": audio}
    graph = "genes" in modalities
    return MultiModalData(
        modalities={m: all_mods[m] for m in modalities},
        y=y,
        edge_index=edge_index if graph else None,
        groups=groups,
    )


SPECS = {
    "genes": {"encoder": "gcn", "in_dim": 12, "hidden_dim": WIDTH},
    "histology": {"encoder": "small-cnn", "channels": [4, 8]},
    "audio": {"encoder": "mlp", "in_dim": 6, "hidden_dim": WIDTH},
}


def modality_specs(names: tuple[str, ...]) -> dict:
    return {m: dict(SPECS[m]) for m in names}


TASK = {
    "svdd": {"kind": "svdd"},
    "multiclass": {"kind": "multiclass", "n_classes": N_CLASSES},
    "multilabel": {"kind": "multilabel", "n_labels": 3},
    "regression": {"kind": "regression"},
}

# method options that keep the parts tiny
PARAMS = {
    "omib": {"k": WIDTH, "heads_attn": 2, "mine_steps": 20, "mine_batch": 32},
    "ibma": {"n_clusters": 3, "pca_dim": 4, "heads_attn": 2},
}


def params_for(name: str) -> dict:
    return {"latent_dim": WIDTH, **PARAMS.get(name, {})}


def train_config(name: str, *, epochs: int = 4) -> TrainConfig:
    eps = {"warmup": 2, "main": epochs} if name == "omib" else epochs
    return TrainConfig(
        epochs=eps, lr=3e-3, weight_decay=0.0, batch_size=32, device="cpu", precision="fp32", patience=None, seed=0
    )


@pytest.fixture
def tiny():
    """This module's helpers: tiny_data, modality_specs, TASK, params_for, train_config."""
    return sys.modules[__name__]

