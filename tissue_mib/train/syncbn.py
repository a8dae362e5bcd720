"""BatchNorm over the global batch when several ranks each hold a share of it.

`torch.nn.SyncBatchNorm` runs on GPUs only; this works on any device and backend (gloo on CPU,
NCCL on GPU) and changes no module or state-dict key: inside `synced_batchnorm(method)` every
BatchNorm of the method in training mode normalises with the mean and variance of the whole
global batch (sums over all ranks' rows), and updates its running statistics with them as one
process would. In eval mode, or alone, the module's own forward runs. The sums are all-reduced
by `_AllReduce`, whose backward all-reduces the gradients of those sums (each rank's loss reaches
every rank's rows through the shared statistics).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from tissue_mib.train import distributed


@contextlib.contextmanager
def synced_batchnorm(module: nn.Module) -> Iterator[None]:
    """Within the block, the BatchNorms of `module` use global-batch statistics in training mode."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm)] if distributed.active() else []
    for m in norms:
        m.forward = functools.partial(_forward, m)  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def _forward(m: _BatchNorm, x: Tensor) -> Tensor:
    if not m.training:
        return type(m).forward(m, x)
    m._check_input_dim(x)
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    x32 = x.float()
    count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float32, device=x.device)
    sums = _AllReduce.apply(torch.cat([x32.sum(dims), count]))
    n = sums[-1].detach()
    mean = sums[:-1] / n
    centred = x32 - mean.view(shape)
    var = _AllReduce.apply((centred * centred).sum(dims)) / n
    out = centred * torch.rsqrt(var + m.eps).view(shape)
    if m.affine:
        out = out * m.weight.view(shape) + m.bias.view(shape)
    if m.track_running_stats:
        with torch.no_grad():
            m.num_batches_tracked.add_(1)
            factor = 1.0 / float(m.num_batches_tracked) if m.momentum is None else m.momentum
            m.running_mean.lerp_(mean.detach().to(m.running_mean.dtype), factor)
            unbiased = var.detach() * (n / (n - 1).clamp(min=1))
            m.running_var.lerp_(unbiased.to(m.running_var.dtype), factor)
    return out.to(x.dtype)


class _AllReduce(torch.autograd.Function):
    """Sum over the ranks; the gradient of each rank's input is the sum of every rank's output gradient."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return distributed.all_reduce_sum(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return distributed.all_reduce_sum(grad.contiguous())
