"""The optimiser every training loop here uses (the engine's and MINE's)."""

from __future__ import annotations

import torch


def adam(params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused kernel (one kernel for every parameter, CPU and CUDA): the same
    update rule as the per-tensor loop; measured here (SIM-I, one thread, batch 128) a
    training step 12-34% faster (IBMA 31.3 -> 27.6 ms, concat 7.9 -> 5.2 ms)."""
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
