"""One benchmark cell: build a registered method, train it with the shared engine, predict.

No training loop here: `tissue_mib.train.fit` and `tissue_mib.train.predict` do the work,
`tissue_mib.methods.build_method` builds the model. This module only picks encoder specs
for array shapes and assembles the options.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


def encoder_spec(x: np.ndarray, *, sequence_encoder: str = "conv1d") -> dict:
    """Default encoder for a modality array: (N, D) -> `mlp`; (N, T, F) float -> `sequence_encoder`;
    (N, H, W, 3) uint8 -> `resnet18` (CIFAR stem)."""
    if x.ndim == 2:
        return {"encoder": "mlp", "in_dim": int(x.shape[1])}
    if x.ndim == 3 and x.dtype != np.uint8:
        return {"encoder": sequence_encoder, "in_dim": int(x.shape[2])}
    if x.ndim == 4 and x.dtype == np.uint8 and x.shape[-1] == 3:
        return {"encoder": "resnet18", "stem": "cifar"}
    raise InputError(f"no default encoder for a modality of shape {x.shape} and dtype {x.dtype}")


@dataclass
class Cell:
    """Options shared by every run of a benchmark (the engine's TrainConfig fields it sets)."""

    epochs: int = 100
    warmup_epochs: int | None = None  # OMIB's warm-up phase; None: max(1, epochs // 10)
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 128
    device: str = "auto"

    def train_config(self, phases: tuple[str, ...], *, seed: int):
        from tissue_mib.train import TrainConfig

        warm = self.warmup_epochs if self.warmup_epochs is not None else max(1, self.epochs // 10)
        epochs = {p: (warm if p == "warmup" else self.epochs) for p in phases}
        return TrainConfig(epochs=epochs, lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                           device=self.device, seed=seed, patience=None)


def fit_predict(method: str, *, modalities: Mapping[str, dict], task: Mapping, train, test, cell: Cell, seed: int,
                params: Mapping | None = None) -> tuple[dict[str, np.ndarray], object, float]:
    """Build `method`, fit it on `train` (MultiModalData), predict `test`.

    Returns (predictions, the trained method, seconds). `params` go to `build_method`; a
    `seed` is passed to methods that take one.
    """
    from tissue_mib.methods import METHODS, build_method
    from tissue_mib.train import fit, predict
    from tissue_mib.utils import seed_everything

    params = dict(params or {})
    if "seed" in inspect.signature(METHODS.get(method)).parameters:
        params.setdefault("seed", seed)
    seed_everything(seed)
    start = time.perf_counter()
    model = build_method(method, modalities=dict(modalities), task=dict(task), **params)
    config = cell.train_config(model.phases, seed=seed)
    fit(model, train, config=config)
    out = predict(model, test, config=config)
    seconds = time.perf_counter() - start
    logger.info("%s (seed %d): trained and predicted in %.1f s", method, seed, seconds)
    return out, model, seconds
