"""Fusion of per-modality representations: `forward(list of (N, d_i)) -> (N, out_dim)`.

Registered: `concat`, `cross_attention` (OMIB's CAN), `transformer` (IBMA's block). Every
fusion is built with `in_dims` (the d_i, in modality order) and exposes `out_dim`.
"""

from tissue_mib.nn.registry import Registry, import_submodules

FUSIONS = Registry("fusion")

import_submodules(__name__, __path__)

__all__ = ["FUSIONS"]
