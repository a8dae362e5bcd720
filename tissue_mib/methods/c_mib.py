"""C-MIB (paper 002, eqs. 20-23): VIBs per modality and on the fused representation.

Parts: encoders E_m, VIB_m, decoders D_m, concatenation, fused VIB, head D.
Loss = J_M + Σ_m J_m: task(D(z)) + beta KL(z | x) with x = fusion(z_m), plus
Σ_m [task(D_m(z_m)) + beta KL(z_m | x_m)]. `score_<modality>` comes from D_m.
"""

from __future__ import annotations

from tissue_mib.methods.base import register_method
from tissue_mib.methods.mib import MIB


@register_method("c-mib")
class CMIB(MIB):
    """Complete MIB: E-MIB's fused bottleneck plus L-MIB's per-modality ones."""

    modality_ib = True
    fused_ib = True
