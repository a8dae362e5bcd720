"""Encoders: one `nn.Module` per modality, `forward(x, *, edge_index=None) -> (N, out_dim)`.

Registered: `gcn` (genes over the spot graph), `resnet18` and `small-cnn` (histology patches),
`mlp` (feature vectors); other files in this folder register themselves on import.
"""

from tissue_mib.nn.registry import Registry, import_submodules

ENCODERS = Registry("encoder")

import_submodules(__name__, __path__)

__all__ = ["ENCODERS"]
