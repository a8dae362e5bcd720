"""Model parts: encoders, fusion, task heads and objectives, each name-addressable in a registry.

Tensor-only code (no AnnData). Under Deep SVDD (`svdd=True`, the default) every part on the
path to the score has no bias and no affine normalisation (Ruff et al. 2018, Prop. 2).
"""

from tissue_mib.nn.registry import Registry

__all__ = ["Registry"]
