"""`bench perf`: speed figures (patches/s, preprocessing time, training and scoring spots/s).

Speed targets live here, printed as numbers, not in timed unit tests.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

logger = logging.getLogger(__name__)


def hex_grid_data(n_spots: int, n_genes: int, *, patch: int = 32, seed: int = 0):
    """A random section of `n_spots` on a Visium-like hex grid: MultiModalData with genes, patches, edges."""
    from tissue_mib.train import MultiModalData

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_spots)))
    rows, cols = np.divmod(np.arange(n_spots), side)
    # hex neighbours: same row +-1, adjacent rows with the parity shift
    index = {(r, c): i for i, (r, c) in enumerate(zip(rows, cols))}
    src, dst = [], []
    for i, (r, c) in enumerate(zip(rows, cols)):
        shift = 0 if r % 2 == 0 else 1
        for dr, dc in ((0, 1), (1, -1 + shift), (1, shift)):
            j = index.get((r + dr, c + dc))
            if j is not None:
                src += [i, j]
                dst += [j, i]
    edge_index = np.array([src, dst], dtype=np.int64)
    genes = np.log1p(rng.poisson(1.0, size=(n_spots, n_genes))).astype(np.float32)
    patches = rng.integers(0, 256, size=(n_spots, patch, patch, 3), dtype=np.uint8)
    return MultiModalData({"genes": genes, "histology": patches}, edge_index=edge_index, groups=np.zeros(n_spots, np.int64))


def perf_training(
    *, method: str = "omib", histology_encoder: str = "small-cnn", n_spots: int = 2500, n_genes: int = 3000,
    precisions: tuple[str, ...] = ("fp32", "bf16"), device: str = "auto", seed: int = 0,
) -> list[dict]:
    """One training epoch and one full prediction per precision; returns spots/s for each."""
    from tissue_mib.methods import build_method
    from tissue_mib.train import TrainConfig, fit, predict

    data = hex_grid_data(n_spots, n_genes, seed=seed)
    rows = []
    for precision in precisions:
        torch.manual_seed(seed)
        model = build_method(
            method,
            modalities={"genes": {"encoder": "gcn", "in_dim": n_genes}, "histology": {"encoder": histology_encoder}},
            task={"kind": "svdd"},
        )
        config = TrainConfig(epochs=1, device=device, precision=precision, seed=seed, patience=None)
        t0 = time.perf_counter()
        history = fit(model, data, config=config)
        t_setup_and_train = time.perf_counter() - t0
        epochs = len(history.records)
        t_train = sum(r["time_s"] for r in history.records)
        t0 = time.perf_counter()
        predict(model, data, config=config)
        t_pred = time.perf_counter() - t0
        rows.append({
            "bench": f"train {method} gcn+{histology_encoder}",
            "precision": precision,
            "device": str(config.device),
            "train_spots_per_s": epochs * n_spots / t_train,
            "score_spots_per_s": n_spots / t_pred,
            "epoch_s": t_train / epochs,
            "setup_s": t_setup_and_train - t_train,
        })
    return rows
