"""Several sections in one AnnData (squidpy's `library_key="library_id"`)."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.errors import InputError


def concat(adatas: Sequence[AnnData]) -> AnnData:
    """Stack sections read by `io.read` into one AnnData.

    Genes are the union (a gene a section lacks counts 0 there; `var['gene_ids']` and
    `var['gene_symbols']` are kept), obs names become `"{library_id}_{barcode}"`, every
    library's `uns['spatial']` entry is kept. Library ids must be distinct.
    """
    if len(adatas) == 0:
        raise InputError("io.concat: no sections given")
    spatial: dict = {}
    parts = []
    for a in adatas:
        libs = list(a.uns.get("spatial", {}))
        if "library_id" not in a.obs or not libs:
            raise InputError("io.concat: every section needs obs['library_id'] and uns['spatial'] (read it with tissue_mib.io.read)")
        dup = sorted(set(libs) & set(spatial))
        if dup:
            raise InputError(f"io.concat: library id {dup[0]!r} appears in more than one input; give sections distinct library ids")
        spatial.update(a.uns["spatial"])
        b = a.copy()
        b.uns = {}
        b.obs_names = (b.obs["library_id"].astype(str) + "_" + b.obs_names.astype(str)).to_numpy()
        parts.append(b)
    out = ad.concat(parts, join="outer", fill_value=0)
    out.X = sp.csr_matrix(out.X, dtype=np.float32)
    genes = pd.concat([p.var.reindex(columns=["gene_ids", "gene_symbols"]) for p in parts])
    genes = genes.replace("", np.nan).groupby(level=0, sort=False).first()  # first known value per gene
    out.var = genes.reindex(out.var_names).fillna("").astype(str)
    for col in ("library_id", "section"):
        out.obs[col] = pd.Categorical(out.obs[col].astype(str))
    out.uns["spatial"] = spatial
    return out
