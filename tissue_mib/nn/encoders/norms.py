"""Normalisation layers that respect Deep SVDD: affine-free when `svdd` is set."""

from __future__ import annotations

from torch import nn

from tissue_mib.errors import InputError

NORMS = ("batch", "group")


def norm2d(channels: int, *, kind: str = "batch", svdd: bool = True, groups: int = 32) -> nn.Module:
    """BatchNorm2d or GroupNorm over `channels`; `affine=False` under Deep SVDD.

    GroupNorm does not depend on the batch, so it also keeps multi-process training equal
    to single-process training; it uses min(groups, channels) groups.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, eps=1e-4, affine=not svdd)
    if kind == "group":
        return nn.GroupNorm(min(groups, channels), channels, affine=not svdd)
    raise InputError(f"norm {kind!r} is not one of {', '.join(NORMS)}")
