"""The gene panel: highly variable genes of the healthy cohort, in order, with a hash.

`select_panel` picks the panel on the training cohort; `GenePanel.apply` maps any section
onto it (match by symbol or Ensembl ID, reorder, zero-fill missing genes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field, replace

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.pp._util import LIBRARY_KEY, library_ids
from tissue_mib.settings import chunk_spots

logger = logging.getLogger(__name__)

_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")


def _strip_version(gene_id: str) -> str:
    return gene_id.split(".", 1)[0] if _ENSEMBL.match(gene_id) else gene_id


def _var_column(adata: AnnData, key: str) -> list[str]:
    if key in adata.var:
        return ["" if pd.isna(v) else str(v) for v in adata.var[key]]
    return [""] * adata.n_vars


@dataclass(frozen=True)
class GenePanel:
    """An ordered gene list fixed at training.

    `genes` are symbols (or IDs where no symbol is known), `gene_ids` the Ensembl IDs
    (`""` when unknown); `reference_mean`/`reference_std` are per-gene statistics of the
    prepared (normalised, and batch-corrected when that option is on) healthy training cohort;
    `batch_corrected` says whether ComBat produced them.
    """

    genes: tuple[str, ...]
    gene_ids: tuple[str, ...]
    reference_mean: tuple[float, ...] = field(default=())
    reference_std: tuple[float, ...] = field(default=())
    batch_corrected: bool = False
    pca_components: tuple[float, ...] = field(default=())

    def __post_init__(self):
        for name, cast in (("genes", str), ("gene_ids", str), ("reference_mean", float), ("reference_std", float),
                           ("pca_components", float)):
            object.__setattr__(self, name, tuple(cast(v) for v in getattr(self, name)))
        if len(self.genes) != len(self.gene_ids):
            raise InputError(f"gene panel: {len(self.genes)} genes but {len(self.gene_ids)} gene_ids")
        if not self.genes:
            raise InputError("gene panel: no genes")
        if {len(self.reference_mean), len(self.reference_std)} - {0, len(self.genes)} or \
                len(self.reference_mean) != len(self.reference_std):
            raise InputError(f"gene panel: reference statistics must have one value per gene ({len(self.genes)})")
        if len(self.pca_components) % len(self.genes):
            raise InputError(f"gene panel: {len(self.pca_components)} PCA loadings do not fill rows of {len(self.genes)} genes")

    def __len__(self) -> int:
        return len(self.genes)

    @property
    def hash(self) -> str:
        """sha256 of the ordered (gene, gene_id) pairs."""
        payload = json.dumps([list(self.genes), list(self.gene_ids)], separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    def reference(self) -> pd.DataFrame:
        """The healthy reference as a DataFrame indexed by gene with columns `mean` and `sd`."""
        if not self.reference_mean:
            raise InputError("gene panel: no reference statistics (a panel fitted by an older tissue-mib)")
        return pd.DataFrame({"mean": self.reference_mean, "sd": self.reference_std}, index=pd.Index(self.genes, name="gene"))

    def scale(self, X: np.ndarray, *, max_value: float = 10.0) -> np.ndarray:
        """Per-gene z-scores of X (N, G), log-normalised in panel order, with the healthy
        reference's mean and sd, clipped to [-max_value, max_value] (as `sc.pp.scale`);
        genes with sd 0 are centred only. Returns float32 (N, G)."""
        if not self.reference_mean:
            raise InputError("gene panel: no reference statistics to scale with (a panel fitted by an older tissue-mib)")
        X = np.asarray(X, dtype=np.float32)
        if X.shape[1] != len(self):
            raise InputError(f"gene panel: scale got {X.shape[1]} genes, the panel has {len(self)}")
        mean = np.asarray(self.reference_mean, dtype=np.float32)
        sd = np.asarray(self.reference_std, dtype=np.float32)
        z = np.subtract(X, mean, dtype=np.float32)  # one (N, G) array, divided and clipped in place
        np.divide(z, np.where(sd > 0, sd, 1.0).astype(np.float32), out=z)
        return np.clip(z, -max_value, max_value, out=z)

    @property
    def n_pcs(self) -> int:
        """Principal components the models read (0: the scaled genes themselves)."""
        return len(self.pca_components) // len(self.genes)

    @property
    def n_inputs(self) -> int:
        """Width of the gene model's input: n_pcs, else the number of genes."""
        return self.n_pcs or len(self.genes)

    def model_inputs(self, X: np.ndarray) -> np.ndarray:
        """`scale(X)` (N, G), projected on the panel's principal axes (N, n_pcs) when it has them."""
        z = self.scale(X)
        if not self.n_pcs:
            return z
        components = np.asarray(self.pca_components, dtype=np.float32).reshape(self.n_pcs, len(self))
        return z @ components.T

    def with_pca(self, X: np.ndarray, n_pcs: int, *, seed: int = 0) -> GenePanel:
        """This panel with the top `n_pcs` principal axes of `scale(X)` (the training cohort)."""
        from sklearn.decomposition import PCA

        z = self.scale(X)
        n = int(min(n_pcs, z.shape[0] - 1, z.shape[1]))
        pca = PCA(n_components=n, random_state=seed, svd_solver="randomized").fit(z)
        logger.info("gene panel: %d principal axes of the scaled genes (%.1f%% of the variance)",
                    n, 100 * float(pca.explained_variance_ratio_.sum()))
        return replace(self, pca_components=tuple(pca.components_.astype(np.float64).ravel().tolist()))

    def to_dict(self) -> dict:
        """Plain lists and strings (YAML/JSON/h5ad safe)."""
        out = {"genes": list(self.genes), "gene_ids": list(self.gene_ids), "hash": self.hash}
        if self.reference_mean:
            out |= {"reference_mean": list(self.reference_mean), "reference_std": list(self.reference_std),
                    "batch_corrected": self.batch_corrected}
        if self.pca_components:
            out["pca_components"] = list(self.pca_components)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> GenePanel:
        """Inverse of `to_dict`; InputError when fields are missing or the stored hash disagrees."""
        try:
            panel = cls(genes=d["genes"], gene_ids=d["gene_ids"], reference_mean=d.get("reference_mean", ()),
                        reference_std=d.get("reference_std", ()), batch_corrected=bool(d.get("batch_corrected", False)),
                        pca_components=np.asarray(d.get("pca_components", ()), dtype=np.float64).ravel())
        except KeyError as err:
            raise InputError(f"gene panel: field {err} missing") from None
        if "hash" in d and str(d["hash"]) != panel.hash:
            raise InputError(f"gene panel: stored hash {d['hash']} does not match its genes ({panel.hash})")
        return panel

    def match(self, adata: AnnData) -> np.ndarray:
        """Column of `adata` for each panel gene (-1 if missing); IDs first (version-less), then symbols."""
        by_id: dict[str, int] = {}
        by_symbol: dict[str, int] = {}
        names = [str(n) for n in adata.var_names]
        for j, (name, gid, sym) in enumerate(zip(names, _var_column(adata, "gene_ids"), _var_column(adata, "gene_symbols"))):
            for ident in (gid, name):
                if ident and _ENSEMBL.match(ident):
                    by_id.setdefault(_strip_version(ident), j)
            for symbol in (sym, name):
                if symbol:
                    by_symbol.setdefault(symbol, j)
        cols = np.full(len(self), -1, dtype=np.int64)
        for i, (gene, gid) in enumerate(zip(self.genes, self.gene_ids)):
            for key in (gid, gene):
                if key and _ENSEMBL.match(key) and _strip_version(key) in by_id:
                    cols[i] = by_id[_strip_version(key)]
                    break
            else:
                cols[i] = by_symbol.get(gene, -1)
        return cols

    def apply(self, adata: AnnData, *, max_missing: float = 0.2) -> AnnData:
        """`adata` restricted to the panel: X dense float32 (N, G) in panel order, missing genes zero.

        Raises InputError when more than `max_missing` (a fraction) of the panel is missing,
        naming the likely cause. Records `uns['tissue_mib_panel'] = {'hash', 'n_missing', 'frac_missing'}`.
        """
        where = _where(adata)
        cols = self.match(adata)
        missing = cols < 0
        n_missing, frac = int(missing.sum()), float(missing.mean())
        if frac > max_missing:
            raise InputError(f"gene panel: {n_missing} of {len(self)} panel genes ({frac:.0%}) missing from {where} "
                             f"(limit {max_missing:.0%}); likely cause: {self._likely_cause(adata)}")
        if n_missing:
            logger.warning("gene panel: %d of %d genes (%.1f%%) missing from %s, zero-filled",
                           n_missing, len(self), 100 * frac, where)
        X = np.zeros((adata.n_obs, len(self)), dtype=np.float32)
        source = sp.csr_matrix(adata.X)[:, cols[~missing]] if sp.issparse(adata.X) else adata.X[:, cols[~missing]]
        present = slice(None) if not n_missing else np.flatnonzero(~missing)
        step = chunk_spots()
        for start in range(0, adata.n_obs, step):  # densified a chunk at a time: no second (N, G) array
            block = source[start : start + step]
            X[start : start + step, present] = block.toarray() if sp.issparse(block) else np.asarray(block)
        var = pd.DataFrame({"gene_ids": list(self.gene_ids), "gene_symbols": list(self.genes),
                            "panel_missing": missing}, index=pd.Index(self.genes).astype(str))
        out = AnnData(X=X, obs=adata.obs.copy(), var=var, uns=dict(adata.uns),
                      obsm={k: v for k, v in adata.obsm.items()}, obsp={k: v for k, v in adata.obsp.items()})
        out.var_names_make_unique()
        out.uns["tissue_mib_panel"] = {"hash": self.hash, "n_missing": n_missing, "frac_missing": frac}
        return out

    def _likely_cause(self, adata: AnnData) -> str:
        symbols = {s for s in [str(n) for n in adata.var_names] + _var_column(adata, "gene_symbols")
                   if s and not _ENSEMBL.match(s)}
        ids = {_strip_version(i) for i in [str(n) for n in adata.var_names] + _var_column(adata, "gene_ids")
               if _ENSEMBL.match(i)}
        panel_symbols = [g for g in self.genes if not _ENSEMBL.match(g)]
        panel_ids = [_strip_version(i) for i in (*self.gene_ids, *self.genes) if _ENSEMBL.match(i)]
        if panel_ids and ids and {_id_prefix(i) for i in panel_ids}.isdisjoint(_id_prefix(i) for i in ids):
            return (f"another species (panel IDs {_id_prefix(panel_ids[0])}..., "
                    f"section IDs {_id_prefix(next(iter(ids)))}...)")
        upper = {s.upper(): s for s in symbols}
        case_only = [g for g in panel_symbols if g not in symbols and g.upper() in upper]
        if panel_symbols and len(case_only) >= 0.5 * len(panel_symbols):
            return (f"another species (names differ only in case, e.g. panel '{case_only[0]}' "
                    f"vs section '{upper[case_only[0].upper()]}')")
        if not panel_symbols and not ids:
            return "another ID type (the panel has Ensembl IDs, the section gene symbols)"
        if not panel_ids and not symbols:
            return "another ID type (the panel has gene symbols, the section Ensembl IDs)"
        return "another platform or gene annotation (most panel genes are absent)"


def _id_prefix(gene_id: str) -> str:
    return re.match(r"^ENS[A-Z]*G", gene_id).group(0)


def _where(adata: AnnData) -> str:
    if LIBRARY_KEY in adata.obs:
        return "section " + ",".join(library_ids(adata))
    return "the section"


def select_panel(adatas: AnnData | list[AnnData], *, n_top_genes: int = 3000,
                 batch_key: str = LIBRARY_KEY) -> GenePanel:
    """Highly variable genes of the (QC'd, log-normalised) cohort with sections as batches.

    `n_top_genes` is clamped to the genes available; all sections' common genes are used.
    Genes keep the cohort's var order.
    """
    adatas = [adatas] if isinstance(adatas, AnnData) else list(adatas)
    if not adatas:
        raise InputError("select_panel: no sections given")
    cohort = adatas[0] if len(adatas) == 1 else ad.concat(adatas, join="inner", merge="first", index_unique="-")
    if cohort.n_vars == 0:
        raise InputError("select_panel: the sections share no genes")
    n = min(int(n_top_genes), cohort.n_vars)
    if n < n_top_genes:
        logger.info("select_panel: n_top_genes clamped from %d to the %d genes available", n_top_genes, n)
    if n == cohort.n_vars:
        chosen = np.ones(cohort.n_vars, dtype=bool)
    else:
        key = batch_key if batch_key in cohort.obs and cohort.obs[batch_key].nunique() > 1 else None
        hvg = sc.pp.highly_variable_genes(cohort, n_top_genes=n, batch_key=key, inplace=False, subset=False)
        chosen = hvg["highly_variable"].reindex(cohort.var_names).fillna(False).to_numpy(dtype=bool)
    names = [str(v) for v in cohort.var_names[chosen]]
    ids = [g for g, c in zip(_var_column(cohort, "gene_ids"), chosen) if c]
    symbols = [s for s, c in zip(_var_column(cohort, "gene_symbols"), chosen) if c]
    genes = [sym if sym and not _ENSEMBL.match(sym) else name for sym, name in zip(symbols, names)]
    ids = [gid if gid else (name if _ENSEMBL.match(name) else "") for gid, name in zip(ids, names)]
    panel = GenePanel(genes=tuple(genes), gene_ids=tuple(ids))
    logger.info("gene panel: %d genes chosen from %d (hash %s)", len(panel), cohort.n_vars, panel.hash[:12])
    return panel
