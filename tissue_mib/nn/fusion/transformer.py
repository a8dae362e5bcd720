"""`transformer`: IBMA's fusion (appendix B.2): one transformer block over modality tokens.

`norm` places the LayerNorms: "post" as Vaswani et al., x = LN(x + MHA(x)), x = LN(x + MLP(x));
"pre", x = x + MHA(LN(x)), x = x + MLP(LN(x)); "none", no LayerNorm. The M token outputs are
then flattened and projected to `out_dim` (512 in the paper, 256 here to match OMIB).
LayerNorm is affine-free and every Linear bias-free under `svdd`. A LayerNorm output has
the same norm for every input, so under Deep SVDD it hides the feature magnitude that
carries many anomalies (docs/methods.md, "Deep SVDD and normalisation").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.fusion.tokens import Tokenizer, check_inputs


NORMS = ("post", "pre", "none")


@FUSIONS.register("transformer")
class TransformerFusion(nn.Module):
    """Tokens (N, M, d_model) -> one transformer block -> flatten -> Linear -> (N, out_dim)."""

    def __init__(
        self,
        *,
        in_dims: Sequence[int],
        out_dim: int = 256,
        d_model: int = 256,
        n_heads: int = 8,
        mlp_ratio: int = 4,
        norm: str = "post",
        svdd: bool = True,
    ):
        super().__init__()
        if norm not in NORMS:
            raise InputError(f"transformer fusion: 'norm' must be one of {', '.join(NORMS)}, got {norm!r}")
        self.norm = norm
        self.in_dims = [int(d) for d in in_dims]
        self.out_dim = int(out_dim)
        bias = not svdd
        self.tokens = Tokenizer(self.in_dims, d_model, svdd=svdd)
        self.attn = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=not svdd) if norm != "none" else nn.Identity()
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model, bias=bias),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model, bias=bias),
        )
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=not svdd) if norm != "none" else nn.Identity()
        self.proj = nn.Linear(len(self.in_dims) * d_model, self.out_dim, bias=bias)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(xs, self.in_dims, "transformer")
        t = self.tokens(xs)
        if self.norm == "post":
            t = self.norm1(t + self._attend(t))
            t = self.norm2(t + self.mlp(t))
        else:  # "pre"; "none" has identities for norm1, norm2
            t = t + self._attend(self.norm1(t))
            t = t + self.mlp(self.norm2(t))
        return self.proj(t.flatten(1))

    def _attend(self, t: torch.Tensor) -> torch.Tensor:
        return self.attn(t, t, t, need_weights=False)[0]
