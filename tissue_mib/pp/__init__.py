"""Preprocessing: QC, normalisation, the gene panel, spot graphs and histology patches.

`prepare` runs the whole chain (cached); the steps are usable on their own, scanpy style.
"""

from tissue_mib.pp.graph import spatial_graph
from tissue_mib.pp.panel import GenePanel, select_panel
from tissue_mib.pp.patches import extract_patches, patches
from tissue_mib.pp.prepare import PrepConfig, prepare
from tissue_mib.pp.qc import normalize, qc

__all__ = ["GenePanel", "PrepConfig", "extract_patches", "normalize", "patches", "prepare", "qc",
           "select_panel", "spatial_graph"]
