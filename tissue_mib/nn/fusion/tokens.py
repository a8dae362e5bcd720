"""Shared helpers: check a fusion's inputs and stack modalities as tokens of one width."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tissue_mib.errors import InputError


def check_inputs(xs: Sequence[torch.Tensor], in_dims: Sequence[int], name: str) -> None:
    """InputError unless `xs` are len(in_dims) tensors (N, d_i) with matching N and d_i."""
    if len(xs) != len(in_dims):
        raise InputError(f"fusion {name!r}: expected {len(in_dims)} modalities, got {len(xs)}")
    n = xs[0].shape[0]
    for i, (x, d) in enumerate(zip(xs, in_dims)):
        if x.ndim != 2 or x.shape[0] != n or x.shape[1] != d:
            raise InputError(f"fusion {name!r}: modality {i} must be ({n}, {d}), got {tuple(x.shape)}")


class Tokenizer(nn.Module):
    """Stack M modalities (N, d_i) as tokens (N, M, dim); a bias-free Linear maps d_i != dim to dim."""

    def __init__(self, in_dims: Sequence[int], dim: int, *, svdd: bool = True):
        super().__init__()
        self.proj = nn.ModuleList(nn.Identity() if d == dim else nn.Linear(d, dim, bias=not svdd) for d in in_dims)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack([p(x) for p, x in zip(self.proj, xs)], dim=1)
