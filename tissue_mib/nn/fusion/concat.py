"""`concat`: concatenate the modalities, optionally projected to `out_dim`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.fusion.tokens import check_inputs


@FUSIONS.register("concat")
class ConcatFusion(nn.Module):
    """[x_1, ..., x_M] along features: (N, sum d_i); with `out_dim`, a Linear to (N, out_dim) (bias-free under `svdd`)."""

    def __init__(self, *, in_dims: Sequence[int], out_dim: int | None = None, svdd: bool = True):
        super().__init__()
        self.in_dims = [int(d) for d in in_dims]
        total = sum(self.in_dims)
        self.proj = nn.Identity() if out_dim is None else nn.Linear(total, int(out_dim), bias=not svdd)
        self.out_dim = total if out_dim is None else int(out_dim)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(xs, self.in_dims, "concat")
        return self.proj(torch.cat(list(xs), dim=1))
