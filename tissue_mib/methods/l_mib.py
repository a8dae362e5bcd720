"""L-MIB (paper 002, eqs. 16-17): a VIB per modality, then fuse.

Parts: encoders E_m, VIB_m, decoders D_m, concatenation, head D. Loss = task(D(fusion(z_m)))
+ Σ_m [task(D_m(z_m)) + beta KL(z_m | x_m)]; the fused z gets a task loss only, no KL.
`score_<modality>` comes from D_m.
"""

from __future__ import annotations

from tissue_mib.methods.base import register_method
from tissue_mib.methods.mib import MIB


@register_method("l-mib")
class LMIB(MIB):
    """Late MIB: the information bottleneck on each modality only."""

    modality_ib = True
