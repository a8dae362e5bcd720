"""`resnet18`: torchvision's ResNet-18 for histology patches, trained from scratch by default.

`stem="cifar"` (default, the papers' choice for 32x32 patches) uses a 3x3 stride-1 first
convolution and no max-pool; `stem="imagenet"` keeps the stock 7x7 stride-2 stem + max-pool.
Under Deep SVDD every BatchNorm is affine-free (or an affine-free GroupNorm, `norm="group"`)
and the final projection has no bias.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS
from tissue_mib.nn.encoders.checkpoint import load_into, read_state_dict
from tissue_mib.nn.encoders.image_input import ImageInput
from tissue_mib.nn.encoders.norms import norm2d

STEMS = ("cifar", "imagenet")


def _replace_norms(module: nn.Module, *, kind: str, svdd: bool) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, norm2d(child.num_features, kind=kind, svdd=svdd))
        else:
            _replace_norms(child, kind=kind, svdd=svdd)


@ENCODERS.register("resnet18")
class ResNet18Encoder(nn.Module):
    """ResNet-18 backbone (512-d pooled features) -> Linear(512 -> out_dim).

    Input uint8 (N, P, P, 3) patches (converted and normalised inside) or normalised float
    (N, 3, P, P); output (N, out_dim). `checkpoint` is a local state dict, either of this
    encoder (`backbone.*`, `proj.*`) or of a plain torchvision ResNet-18 (its `fc.*` is
    ignored, and under `svdd` so are the norm layers' affine weights); it is loaded with
    `torch.load(weights_only=True)`, never downloaded.
    """

    def __init__(
        self,
        *,
        out_dim: int = 256,
        stem: str = "cifar",
        svdd: bool = True,
        norm: str = "batch",
        in_channels: int = 3,
        checkpoint: str | Path | None = None,
    ):
        super().__init__()
        if stem not in STEMS:
            raise InputError(f"resnet18 stem {stem!r} is not one of {', '.join(STEMS)}")
        self.out_dim, self.stem = int(out_dim), stem
        self.input = ImageInput(in_channels=in_channels)
        net = torchvision.models.resnet18(weights=None)
        if stem == "cifar":
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if svdd or norm != "batch":
            _replace_norms(net, kind=norm, svdd=svdd)
        net.fc = nn.Identity()
        self.backbone = net
        self.proj = nn.Linear(512, self.out_dim, bias=not svdd)
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load a local state dict (see the class docstring); InputError when it does not fit."""
        state = read_state_dict(path)
        if any(k.startswith(("backbone.", "proj.")) for k in state):
            load_into(self, state, source=path)
            return
        own = self.backbone.state_dict()

        def ignore(key: str) -> bool:  # torchvision's classifier, and affine weights we do not have
            return key.startswith("fc.") or (key not in own and _is_norm_key(self.backbone, key))

        load_into(self.backbone, state, source=path, ignore=ignore)

    def forward(self, x: torch.Tensor, *, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.backbone(self.input(x)))


def _is_norm_key(module: nn.Module, key: str) -> bool:
    """True if `key` names a parameter of a normalisation layer of `module` (e.g. `layer1.0.bn1.weight`)."""
    owner = key.rsplit(".", 1)[0]
    try:
        sub = module.get_submodule(owner)
    except AttributeError:
        return False
    return isinstance(sub, (nn.BatchNorm2d, nn.GroupNorm))
