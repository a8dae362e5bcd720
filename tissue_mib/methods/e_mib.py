"""E-MIB (paper 002, eq. 15): fuse first, then one VIB.

Parts: encoders E_m, concatenation, VIB, head D. Loss = task(D(z)) + beta KL(z | x),
x = fusion(z_1, z_2 (, z_3)). No per-modality heads, hence no `score_<modality>`.
"""

from __future__ import annotations

from tissue_mib.methods.base import register_method
from tissue_mib.methods.mib import MIB


@register_method("e-mib")
class EMIB(MIB):
    """Early MIB: the information bottleneck on the fused representation only."""

    fused_ib = True
