"""`mlp`: a 2-layer MLP with GELU for feature-vector modalities (OMIB's SIM encoder)."""

from __future__ import annotations

import torch
from torch import nn

from tissue_mib.nn.encoders import ENCODERS


@ENCODERS.register("mlp")
class MLPEncoder(nn.Module):
    """Linear(in_dim -> hidden_dim) -> GELU -> Linear(hidden_dim -> out_dim); bias-free under `svdd`.

    Input (N, in_dim) float, or (N, ...) flattened to in_dim features; output (N, out_dim).
    """

    def __init__(self, *, in_dim: int, out_dim: int = 256, hidden_dim: int = 256, svdd: bool = True):
        super().__init__()
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.net = nn.Sequential(
            nn.Linear(self.in_dim, hidden_dim, bias=not svdd),
            nn.GELU(),
            nn.Linear(hidden_dim, self.out_dim, bias=not svdd),
        )

    def forward(self, x: torch.Tensor, *, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.net(x if x.is_floating_point() else x.to(self.net[0].weight.dtype))
