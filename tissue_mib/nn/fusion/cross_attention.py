"""`cross_attention`: OMIB's cross-attention network (CAN), appendix H, eqs. 105-106.

The paper writes Attn([zeta_1 (+) zeta_2]) with concatenation along features, which taken
literally is a single token. We treat zeta_1, ..., zeta_M as M tokens of standard multi-head
self-attention (each token attends to all, queries/keys/values from W_Q, W_K, W_V), flatten
the M outputs and map them back to size k with a Linear (DESIGN.md section 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.fusion.tokens import Tokenizer, check_inputs


@FUSIONS.register("cross_attention")
class CrossAttentionFusion(nn.Module):
    """M tokens (N, M, k) -> multi-head attention -> flatten (N, M k) -> Linear -> (N, out_dim).

    Tokens whose size differs from `out_dim` are first projected to it. Bias-free under `svdd`.
    """

    def __init__(self, *, in_dims: Sequence[int], out_dim: int = 256, n_heads: int = 8, svdd: bool = True):
        super().__init__()
        self.in_dims = [int(d) for d in in_dims]
        self.out_dim = int(out_dim)
        self.tokens = Tokenizer(self.in_dims, self.out_dim, svdd=svdd)
        self.attn = nn.MultiheadAttention(self.out_dim, n_heads, bias=not svdd, batch_first=True)
        self.proj = nn.Linear(len(self.in_dims) * self.out_dim, self.out_dim, bias=not svdd)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(xs, self.in_dims, "cross_attention")
        t = self.tokens(xs)
        h, _ = self.attn(t, t, t, need_weights=False)
        return self.proj(h.flatten(1))
