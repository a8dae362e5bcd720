"""Optional batch correction of panel genes across sections (ComBat), and its use on new sections.

Training sections are corrected jointly with scanpy's ComBat (`combat_fit`), which also stores
the corrected cohort's per-gene mean and standard deviation in the panel. A new section cannot
join that fit, so `combat_apply` moves each of its genes to the stored mean and spread (the
location/scale step of ComBat against a reference, without the empirical-Bayes shrinkage).
This also removes a shift shared by the whole new section, e.g. a section that is mostly tumour.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import scanpy as sc
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.pp._util import LIBRARY_KEY, library_ids, library_masks
from tissue_mib.pp.panel import GenePanel

logger = logging.getLogger(__name__)


def combat_fit(adata: AnnData, panel: GenePanel, *, key: str = LIBRARY_KEY) -> GenePanel:
    """ComBat on dense `adata.X` across `obs[key]` in place; returns `panel` with reference statistics."""
    libs = library_ids(adata, library_key=key)
    if len(libs) < 2:
        raise InputError(f"batch_correction='combat' needs at least two training sections, got {libs}")
    before = np.asarray(adata.X, dtype=np.float32).copy()
    sc.pp.combat(adata, key=key)
    X = np.asarray(adata.X, dtype=np.float32)
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():  # genes constant within a section: ComBat divides by zero; keep them as they were
        logger.warning("ComBat left %d genes uncorrected (no variance within a section)", bad.sum())
        X[:, bad] = before[:, bad]
    adata.X = X
    logger.info("ComBat across %d sections on %d genes", len(libs), X.shape[1])
    return replace(with_reference(adata, panel), batch_corrected=True)


def with_reference(adata: AnnData, panel: GenePanel) -> GenePanel:
    """`panel` with the per-gene mean and standard deviation of `adata.X` (the prepared healthy
    cohort, panel genes in order): the healthy reference of ComBat and of the region gene tables."""
    X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=np.float64)
    return replace(panel, reference_mean=tuple(X.mean(axis=0).tolist()), reference_std=tuple(X.std(axis=0).tolist()))


def combat_apply(adata: AnnData, panel: GenePanel, *, key: str = LIBRARY_KEY) -> None:
    """Move each section's genes to the panel's reference mean and spread, in place."""
    if not panel.batch_corrected:
        raise InputError("batch_correction='combat': the gene panel was fitted without batch correction; "
                         "prepare the training cohort with batch_correction='combat'")
    ref_mean = np.asarray(panel.reference_mean, dtype=np.float32)
    ref_std = np.asarray(panel.reference_std, dtype=np.float32)
    X = np.asarray(adata.X, dtype=np.float32)
    for _, rows in library_masks(adata, library_key=key):
        mean, std = X[rows].mean(axis=0), X[rows].std(axis=0)
        gain = np.where(std > 0, ref_std / np.where(std > 0, std, 1), 1.0)
        X[rows] = (X[rows] - mean) * gain + ref_mean
    adata.X = X
