"""`bench perf`: speed figures (patches/s, preprocessing time, training and scoring spots/s).

Speed targets live here, printed as numbers, not in timed unit tests.
"""

from __future__ import annotations

import logging
import time

import torch

logger = logging.getLogger(__name__)


def perf_training(
    *, method: str = "omib", histology_encoder: str = "small-cnn", n_spots: int = 2500, n_genes: int = 3000,
    epochs: int = 1, precisions: tuple[str, ...] = ("fp32", "bf16"), device: str = "auto", seed: int = 0,
) -> list[dict]:
    """Train `method` (GCN genes + `histology_encoder`) for `epochs` per phase on one prepared
    Visium-shaped section of `n_spots`, then score it; one row per precision with spots/s."""
    from tissue_mib import pp
    from tissue_mib.methods import build_method
    from tissue_mib.pp.benchmark import synthetic_section
    from tissue_mib.tl.tensors import to_data
    from tissue_mib.train import TrainConfig, fit, predict, resolve_device

    section = synthetic_section("PERF", n_spots=n_spots, n_genes=n_genes, seed=seed)
    prepared, panel = pp.prepare(section, use_cache=False)
    data = to_data(prepared, ("genes", "histology"), graph=True)
    rows = []
    for precision in precisions:
        torch.manual_seed(seed)
        model = build_method(
            method,
            modalities={"genes": {"encoder": "gcn", "in_dim": len(panel)}, "histology": {"encoder": histology_encoder}},
            task={"kind": "svdd"},
        )
        config = TrainConfig(epochs=epochs, device=device, precision=precision, seed=seed, patience=None)
        t0 = time.perf_counter()
        history = fit(model, data, config=config)
        total = time.perf_counter() - t0
        t_epochs = sum(r["time_s"] for r in history.records)
        t0 = time.perf_counter()
        predict(model, data, config=config)
        t_pred = time.perf_counter() - t0
        rows.append({
            "bench": f"{method} gcn+{histology_encoder}",
            "precision": precision,
            "device": str(resolve_device(device)),
            "spots": data.n,
            "epoch_s": t_epochs / len(history.records),
            "train_spots_per_s": len(history.records) * data.n / t_epochs,
            "setup_s": total - t_epochs,
            "score_spots_per_s": data.n / t_pred,
        })
    return rows
