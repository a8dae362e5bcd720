"""Quality control and library-size normalisation of spot x gene counts."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.pp._util import library_masks, metadata

logger = logging.getLogger(__name__)

TARGET_SUM = 1e4


def qc(adata: AnnData, *, min_spots: int = 10, inplace: bool = True) -> AnnData | None:
    """Drop spots with no counts (all zero), then genes seen (non-zero) in fewer than `min_spots` spots.

    `min_spots=0` keeps every gene (used when a fixed gene panel is applied later).
    Records `uns['tissue_mib_qc'] = {'min_spots', 'n_spots_dropped', 'n_genes_dropped'}`.
    """
    adata = adata if inplace else adata.copy()
    n_obs, n_vars = adata.shape
    expressed = adata.X != 0  # values, not sums: already-normalised data may be scaled or centred
    has_counts = np.asarray(expressed.sum(axis=1)).ravel() > 0
    if not has_counts.all():
        adata._inplace_subset_obs(has_counts)
        expressed = adata.X != 0
    if min_spots > 0:
        seen = np.asarray(expressed.sum(axis=0)).ravel()
        adata._inplace_subset_var(seen >= min_spots)
    dropped_spots, dropped_genes = n_obs - adata.n_obs, n_vars - adata.n_vars
    logger.info("QC: dropped %d of %d spots with no counts and %d of %d genes seen in < %d spots",
                dropped_spots, n_obs, dropped_genes, n_vars, min_spots)
    adata.uns["tissue_mib_qc"] = {"min_spots": int(min_spots), "n_spots_dropped": int(dropped_spots),
                                  "n_genes_dropped": int(dropped_genes)}
    return None if inplace else adata


def is_normalised(adata: AnnData, lib: str, rows: np.ndarray) -> bool:
    """Whether library `lib` is already normalised: the reader's flag, else non-integer values."""
    meta = metadata(adata, lib)
    if "is_normalised" in meta:
        return bool(meta["is_normalised"])
    X = adata.X[rows]
    values = X.data if sp.issparse(X) else np.asarray(X)
    guessed = bool(values.size) and not np.allclose(values, np.round(values))
    logger.info("library %s has no 'is_normalised' flag; values look %s", lib, "normalised" if guessed else "like counts")
    return guessed


def normalize(adata: AnnData, *, target_sum: float = TARGET_SUM, inplace: bool = True) -> AnnData | None:
    """Scale each spot to `target_sum` counts and log1p, per library, skipping normalised libraries.

    A library recorded as normalised (`uns['spatial'][lib]['metadata']['is_normalised']`) is
    left as it is; a normalised library is flagged so that a second call is a no-op.
    X becomes float32. Records `uns['tissue_mib_normalize'] = {'target_sum', 'normalised', 'skipped'}`.
    """
    adata = adata if inplace else adata.copy()
    X = sp.csr_matrix(adata.X, dtype=np.float32)
    done, skipped = [], []
    scale = np.ones(adata.n_obs, dtype=np.float64)
    log_rows = np.zeros(adata.n_obs, dtype=bool)
    for lib, rows in library_masks(adata):
        if is_normalised(adata, lib, rows):
            skipped.append(lib)
            continue
        totals = np.asarray(X[rows].sum(axis=1), dtype=np.float64).ravel()
        scale[rows] = target_sum / np.where(totals > 0, totals, 1.0)
        log_rows[rows] = True
        done.append(lib)
    if done:
        X = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ X)
        entry_rows = np.repeat(np.arange(adata.n_obs), np.diff(X.indptr))
        to_log = log_rows[entry_rows]
        X.data[to_log] = np.log1p(X.data[to_log])
    adata.X = X
    for lib in done:
        adata.uns.setdefault("spatial", {}).setdefault(lib, {}).setdefault("metadata", {})["is_normalised"] = True
    logger.info("normalised %d libraries (target_sum=%g, log1p); skipped already normalised: %s",
                len(done), target_sum, skipped or "none")
    adata.uns["tissue_mib_normalize"] = {"target_sum": float(target_sum), "normalised": done, "skipped": skipped}
    return None if inplace else adata
