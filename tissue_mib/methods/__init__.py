"""Methods: one module per method, built from `tissue_mib.nn` parts (docs/methods.md).

    from tissue_mib.methods import METHODS, build_method
    m = build_method("omib", modalities={"genes": {"encoder": "gcn", "in_dim": 3000},
                                         "histology": {"encoder": "resnet18"}},
                     task={"kind": "svdd"})
    same = build_method(**m.config())

Registered: omib, ibma, e-mib, l-mib, c-mib, concat, concat-svdd, single, gene-svdd, histo-svdd.
"""

from tissue_mib.methods.base import METHODS, TASKS, Method, build_method
from tissue_mib.nn.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["METHODS", "TASKS", "Method", "build_method"]
