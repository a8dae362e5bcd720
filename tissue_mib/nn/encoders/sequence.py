"""Sequence encoders for the secondary workflows: `conv1d` (audio/vision feature sequences,
log-mel spectrograms) and `seq-transformer` (text token embeddings).

Both take float (N, T, in_dim) and return (N, out_dim); the sequence is mean-pooled over T.
`svdd=True` removes every bias and affine norm parameter (Deep SVDD).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS


def _check_sequence(x: Tensor, in_dim: int, name: str) -> Tensor:
    if x.dim() != 3 or x.shape[-1] != in_dim:
        raise InputError(f"encoder {name!r} expects (N, T, {in_dim}) sequences, got shape {tuple(x.shape)}")
    return x.float()


@ENCODERS.register("conv1d")
class Conv1DEncoder(nn.Module):
    """Two Conv1d layers (kernel `kernel`, GELU) over time, mean-pool, Linear to `out_dim`.

    Input (N, T, in_dim) float: T time steps of `in_dim` features (e.g. COVAREP audio, Facet
    vision, or log-mel bins). Output (N, out_dim).
    """

    def __init__(self, *, in_dim: int, out_dim: int = 256, hidden: int = 128, kernel: int = 3, svdd: bool = False):
        super().__init__()
        bias = not svdd
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.convs = nn.Sequential(
            nn.Conv1d(self.in_dim, hidden, kernel, padding=kernel // 2, bias=bias),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, bias=bias),
            nn.GELU(),
        )
        self.proj = nn.Linear(hidden, self.out_dim, bias=bias)

    def forward(self, x: Tensor, *, edge_index: Tensor | None = None) -> Tensor:
        h = self.convs(_check_sequence(x, self.in_dim, "conv1d").transpose(1, 2))  # (N, hidden, T)
        return self.proj(h.mean(dim=-1))


def _sinusoid(steps: int, dim: int, device: torch.device) -> Tensor:
    pos = torch.arange(steps, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    pe = torch.zeros(steps, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


@ENCODERS.register("seq-transformer")
class SequenceTransformerEncoder(nn.Module):
    """Linear(in_dim -> d_model) + sinusoidal positions, `layers` transformer encoder layers
    (`heads` heads, GELU), mean-pool over T, Linear to `out_dim`.

    For text: input (N, T, in_dim) token embeddings computed beforehand (GloVe 300-d or a
    local BERT's 768-d outputs; nothing is downloaded). Output (N, out_dim).
    """

    def __init__(self, *, in_dim: int, out_dim: int = 256, d_model: int = 128, heads: int = 4, layers: int = 2,
                 dropout: float = 0.1, svdd: bool = False):
        super().__init__()
        bias = not svdd
        self.in_dim, self.out_dim, self.d_model = int(in_dim), int(out_dim), int(d_model)
        self.embed = nn.Linear(self.in_dim, self.d_model, bias=bias)
        blocks = []
        for _ in range(layers):
            block = nn.TransformerEncoderLayer(self.d_model, heads, dim_feedforward=2 * self.d_model, dropout=dropout,
                                               activation="gelu", batch_first=True, bias=bias)
            if svdd:
                block.norm1 = nn.LayerNorm(self.d_model, elementwise_affine=False)
                block.norm2 = nn.LayerNorm(self.d_model, elementwise_affine=False)
            blocks.append(block)
        self.blocks = nn.ModuleList(blocks)
        self.proj = nn.Linear(self.d_model, self.out_dim, bias=bias)

    def forward(self, x: Tensor, *, edge_index: Tensor | None = None) -> Tensor:
        h = self.embed(_check_sequence(x, self.in_dim, "seq-transformer"))
        h = h + _sinusoid(h.shape[1], self.d_model, h.device)
        for block in self.blocks:
            h = block(h)
        return self.proj(h.mean(dim=1))
