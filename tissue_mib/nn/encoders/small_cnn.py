"""`small-cnn`: a fast CNN for 32x32 patches (3 conv blocks 32-64-128, global pool, linear)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tissue_mib.nn.encoders import ENCODERS
from tissue_mib.nn.encoders.checkpoint import load_into, read_state_dict
from tissue_mib.nn.encoders.image_input import ImageInput
from tissue_mib.nn.encoders.norms import norm2d


@ENCODERS.register("small-cnn")
class SmallCNNEncoder(nn.Module):
    """[Conv3x3 -> norm -> ReLU -> MaxPool2] x 3 (32, 64, 128 channels) -> mean pool -> Linear(128 -> out_dim).

    Same input handling as `resnet18`: uint8 (N, P, P, 3) or normalised float (N, 3, P, P);
    output (N, out_dim). Bias-free with affine-free norms under `svdd`. `checkpoint` loads a
    local state dict of this encoder.
    """

    def __init__(
        self,
        *,
        out_dim: int = 256,
        svdd: bool = True,
        norm: str = "batch",
        in_channels: int = 3,
        channels: tuple[int, ...] = (32, 64, 128),
        checkpoint: str | Path | None = None,
    ):
        super().__init__()
        self.out_dim = int(out_dim)
        self.input = ImageInput(in_channels=in_channels)
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in channels:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=not svdd),
                norm2d(c_out, kind=norm, svdd=svdd),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in, self.out_dim, bias=not svdd)
        if checkpoint is not None:
            load_into(self, read_state_dict(checkpoint), source=checkpoint)

    def forward(self, x: torch.Tensor, *, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(self.input(x))
        return self.proj(h.mean(dim=(2, 3)))
