"""`predict`: a method's outputs for every row, in row order."""

from __future__ import annotations

import numpy as np
import torch

from tissue_mib.settings import progress
from tissue_mib.train.config import TrainConfig
from tissue_mib.train.data import BatchLoader, MultiModalData
from tissue_mib.train.device import cpu_threads, place, resolve_device, resolve_precision


@torch.no_grad()
def predict(
    method: torch.nn.Module,
    data: MultiModalData,
    *,
    config: TrainConfig | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """`method.predict` over all rows of `data` (or `rows`, in that order) in eval mode;
    name -> (N, ...) float32 array.

    batch_size / device / precision default to `config`'s (TrainConfig defaults without one);
    graph rows see their whole `config.hops` neighbourhood, so results do not depend on
    batch_size (up to floating-point summation order).
    """
    config = config or TrainConfig()
    dev = resolve_device(device or config.device)
    place(method, dev)
    method.amp_dtype = resolve_precision(precision or config.precision, dev)
    method.eval()
    loader = BatchLoader(data, batch_size=batch_size or config.batch_size, hops=config.hops, device=dev, rows=rows)
    parts: dict[str, list[np.ndarray]] = {}
    with cpu_threads(config.threads):
        for batch in progress(loader, desc="predict", total=len(loader)):
            for key, value in method.predict(batch).items():
                parts.setdefault(key, []).append(value.detach().float().cpu().numpy())
    return {key: np.concatenate(chunks) for key, chunks in parts.items()}
