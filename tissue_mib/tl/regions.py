"""Flagged regions and the genes that set them apart from healthy tissue.

`flagged_regions` groups flagged spots into connected components of the spot graph;
`rank_deviating_genes` ranks, per region, the genes whose region mean deviates most from the
healthy reference (z = (region mean - healthy mean) / healthy sd, in the panel's normalised
expression); `write_region_genes` writes that table as CSV.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write

logger = logging.getLogger(__name__)

REGION_KEY = "tissue_mib_region"
GENES_KEY = "tissue_mib_region_genes"
GENE_COLUMNS = ("region", "rank", "gene", "z", "direction", "region_mean", "reference_mean", "reference_sd", "n_spots")


def _flagged(adata) -> np.ndarray:
    if "tissue_mib_label" not in adata.obs:
        raise InputError("obs['tissue_mib_label']: missing; score the section first")
    return (adata.obs["tissue_mib_label"].astype(str) == "anomalous").to_numpy()


def flagged_regions(adata, *, min_spots: int = 1, key_added: str = REGION_KEY) -> pd.Series:
    """Connected components of the flagged spots on `obsp['spatial_connectivities']`, into `obs[key_added]`.

    Categorical region ids numbered per section by size (largest first, ties by first spot):
    "1", "2", ... for one section, "{library_id}-1", ... when the AnnData holds several.
    Components of fewer than `min_spots` spots are not regions: their spots stay flagged in
    `obs['tissue_mib_label']` but get no region (NaN), as unflagged spots do. Sections never
    share an edge, so a region lies in one section. The minimum is kept in `uns[key_added]`.
    """
    min_spots = int(min_spots)
    if min_spots < 1:
        raise InputError(f"min_spots: {min_spots} is not a region size; use 1 or more")
    if "spatial_connectivities" not in adata.obsp:
        raise InputError("obsp['spatial_connectivities']: missing; build the spot graph (tissue_mib.pp.spatial_graph)")
    flagged = _flagged(adata)
    graph = sp.csr_matrix(adata.obsp["spatial_connectivities"])
    libs = adata.obs["library_id"].astype(str).to_numpy() if "library_id" in adata.obs else np.full(adata.n_obs, "")
    names = np.full(adata.n_obs, None, dtype=object)
    categories: list[str] = []
    several = len(set(libs)) > 1
    for lib in dict.fromkeys(libs):
        idx = np.flatnonzero(flagged & (libs == lib))
        if not idx.size:
            continue
        _, comp = connected_components(graph[idx][:, idx], directed=False)
        sizes = np.bincount(comp)
        first = np.full(sizes.size, idx.size)
        np.minimum.at(first, comp, np.arange(idx.size))
        order = np.lexsort((first, -sizes))
        kept = order[sizes[order] >= min_spots]
        rank = np.zeros(sizes.size, dtype=int)
        rank[kept] = np.arange(1, kept.size + 1)
        prefix = f"{lib}-" if several else ""
        in_region = rank[comp] > 0
        names[idx[in_region]] = [f"{prefix}{r}" for r in rank[comp][in_region]]
        categories += [f"{prefix}{r}" for r in range(1, kept.size + 1)]
    adata.obs[key_added] = pd.Categorical(names, categories=categories)
    adata.uns[key_added] = {"min_spots": min_spots}
    logger.info("%d flagged spots; %d region(s) of at least %d spot(s)", int(flagged.sum()), len(categories), min_spots)
    return adata.obs[key_added]


def gene_reference(healthy) -> pd.DataFrame:
    """Per-gene healthy reference from an AnnData of healthy spots (X in the panel's normalised
    expression): DataFrame indexed by gene with columns `mean` and `sd`."""
    X = healthy.X
    if sp.issparse(X):
        X = X.astype(np.float64)
        mean = np.asarray(X.mean(axis=0)).ravel()
        sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        sd = np.sqrt(np.maximum(sq - mean**2, 0.0) * healthy.n_obs / max(healthy.n_obs - 1, 1))
    else:
        X = np.asarray(X, dtype=np.float64)
        mean, sd = X.mean(axis=0), X.std(axis=0, ddof=1) if healthy.n_obs > 1 else np.zeros(X.shape[1])
    return pd.DataFrame({"mean": mean, "sd": sd}, index=pd.Index(healthy.var_names.astype(str), name="gene"))


def rank_deviating_genes(
    adata, reference: pd.DataFrame, *, expression=None, n_genes: int = 20, s0: float | None = None
) -> pd.DataFrame:
    """Per flagged region, the `n_genes` genes with the largest |z|, z = (region mean - reference mean)
    / sqrt(reference sd² + s0²), in the panel's normalised expression: `expression.X` (an AnnData
    such as `pp.prepare`'s output, rows matched to `adata` by obs_names; spots it lacks are left
    out) or, when None, `adata.X`. Either must carry `uns['tissue_mib_panel']` (set by the panel),
    so that raw counts are never compared with a normalised reference.

    `reference`: DataFrame indexed by gene with `mean` and `sd` (`gene_reference`); genes missing
    from it are skipped. `s0` (default: the median reference sd over genes, as SAM's fudge
    factor) keeps genes that are nearly silent in healthy tissue from dominating through a
    near-zero sd. Stores the table in `uns['tissue_mib_region_genes']` as a dict of columns
    (h5ad-safe) and returns it; runs `flagged_regions` first when `obs['tissue_mib_region']` is absent.
    """
    if not {"mean", "sd"} <= set(getattr(reference, "columns", ())):
        raise InputError("reference: expected a DataFrame indexed by gene with columns 'mean' and 'sd'")
    if REGION_KEY not in adata.obs:
        flagged_regions(adata)
    expr = adata if expression is None else expression
    if "tissue_mib_panel" not in expr.uns:
        raise InputError(
            "expression: no uns['tissue_mib_panel'], so X is not the gene panel's normalised expression; "
            "pass expression=pp.prepare(adata, panel=model.panel, config=model.prep)[0]"
        )
    if not expr.obs_names.isin(adata.obs_names).any():
        raise InputError("expression: no spot in common with the scored AnnData (obs_names differ)")
    genes = expr.var_names.astype(str)
    common = genes.isin(reference.index.astype(str))
    if not common.any():
        raise InputError("reference: no gene in common with the section's var_names (another gene panel?)")
    ref = reference.set_axis(reference.index.astype(str)).loc[genes[common]]
    ref_mean, ref_sd = ref["mean"].to_numpy(np.float64), ref["sd"].to_numpy(np.float64)
    s0 = float(np.median(ref_sd)) if s0 is None else float(s0)
    scale = np.sqrt(ref_sd**2 + s0**2)
    if not np.all(scale > 0):
        raise InputError("reference: every sd is zero; pass s0 > 0")
    regions = adata.obs[REGION_KEY]
    expr_regions = regions.reindex(expr.obs_names).astype(object).to_numpy()
    table_rows = []
    for region in regions.cat.categories:
        sel = expr_regions == region
        if not sel.any():
            continue
        X = expr.X[sel][:, np.flatnonzero(common)]
        mean = np.asarray(X.mean(axis=0)).ravel().astype(np.float64)
        z = (mean - ref_mean) / scale
        top = np.argsort(-np.abs(z), kind="mergesort")[:n_genes]
        for rank, j in enumerate(top, start=1):
            table_rows.append((str(region), rank, str(genes[common][j]), float(z[j]), "up" if z[j] > 0 else "down",
                         float(mean[j]), float(ref_mean[j]), float(ref_sd[j]), int(sel.sum())))
    table = pd.DataFrame(table_rows, columns=list(GENE_COLUMNS))
    adata.uns[GENES_KEY] = {c: _column(table[c]) for c in GENE_COLUMNS}
    adata.uns[GENES_KEY]["params"] = {"n_genes": int(n_genes), "s0": s0, "n_genes_compared": int(common.sum())}
    return table


def _column(values: pd.Series) -> np.ndarray:
    """h5ad-safe column: numpy strings for text, plain numbers otherwise (also when empty)."""
    if values.name in ("region", "gene", "direction"):
        return np.asarray(values, dtype=str)
    return np.asarray(values, dtype=np.int64 if values.name in ("rank", "n_spots") else np.float64)


def region_genes(adata) -> pd.DataFrame:
    """The table stored by `rank_deviating_genes` as a DataFrame."""
    if GENES_KEY not in adata.uns:
        raise InputError(f"uns['{GENES_KEY}']: missing; run tissue_mib.tl.regions.rank_deviating_genes first")
    stored = adata.uns[GENES_KEY]
    return pd.DataFrame({c: np.asarray(stored[c]) for c in GENE_COLUMNS})


def write_region_genes(adata, path: str | Path) -> Path:
    """Write the region gene table as CSV (atomically); an empty table has only the header."""
    path = Path(path)
    with atomic_write(path, suffix=".csv") as tmp:
        region_genes(adata).to_csv(tmp, index=False)
    return path
