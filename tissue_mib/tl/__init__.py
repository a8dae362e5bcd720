"""The AnnData-facing API, scanpy style.

    model = tissue_mib.tl.fit(healthy_sections, method="omib")
    tissue_mib.tl.score(new_section, model)      # obs['tissue_mib_score'], _pvalue, _qvalue, _label, ...
"""

from tissue_mib.tl import regions
from tissue_mib.tl.crossfit import CrossFitModel, load_model
from tissue_mib.tl.fit import fit
from tissue_mib.tl.model import TissueModel
from tissue_mib.tl.score import score

__all__ = ["CrossFitModel", "TissueModel", "fit", "load_model", "regions", "score"]
