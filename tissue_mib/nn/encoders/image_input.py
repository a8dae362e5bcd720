"""Input handling shared by the image encoders: uint8 NHWC patches -> normalised float NCHW."""

from __future__ import annotations

import torch
from torch import nn

from tissue_mib.errors import InputError

# Fixed per-channel mean/std of RGB images in [0, 1] (the common ImageNet values).
RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)


class ImageInput(nn.Module):
    """uint8 (N, P, P, C) -> float (N, C, P, P) in [0, 1], normalised with fixed mean/std
    (in the module's dtype: float32, or what `.to(dtype)` made it).

    Float input must already be NCHW and normalised; it passes through unchanged (its dtype
    is kept, so autocast decides the compute precision).
    """

    def __init__(self, *, in_channels: int = 3):
        super().__init__()
        self.in_channels = in_channels
        mean = RGB_MEAN if in_channels == 3 else (0.5,) * in_channels
        std = RGB_STD if in_channels == 3 else (0.25,) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise InputError(f"image encoder input: expected 4 dims (N, P, P, C) uint8 or (N, C, P, P) float, got shape {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            if x.shape[-1] != self.in_channels:
                raise InputError(f"image encoder input: uint8 patches must be (N, P, P, {self.in_channels}), got shape {tuple(x.shape)}")
            x = x.permute(0, 3, 1, 2).to(self.mean.dtype).div_(255.0)
            return (x - self.mean) / self.std
        if not x.is_floating_point():
            raise InputError(f"image encoder input: dtype {x.dtype} is neither uint8 nor floating point")
        if x.shape[1] != self.in_channels:
            raise InputError(f"image encoder input: float images must be (N, {self.in_channels}, P, P), got shape {tuple(x.shape)}")
        return x
