"""`tl.score`: write anomaly scores, calibrated p/q-values and labels into an AnnData."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

from tissue_mib import __version__, pp
from tissue_mib.calibration import (LABELS, bh_qvalues, cross_conformal_pvalues, label_at, neighbourhood_mean,
                                    score_threshold, storey_pi0)
from tissue_mib.errors import InputError
from tissue_mib.tl.crossfit import CrossFitModel
from tissue_mib.tl.model import TissueModel
from tissue_mib.settings import chunk_spots, progress
from tissue_mib.tl.tensors import chunks, uses_graph
from tissue_mib.train import predict

logger = logging.getLogger(__name__)

THRESHOLD_RULE = "BH q <= fdr"
ADAPTIVE_RULE = "Storey-adaptive BH q <= fdr"
CROSSFIT_SMOOTH_HOPS = 2  # the default for cross-fitted models; single models: 0 (docs/outputs.md)


def score(
    adata: AnnData, model: TissueModel | CrossFitModel, *, fdr: float = 0.05, smooth: int | None = None, adaptive: bool = True,
    copy: bool = False,
) -> AnnData | None:
    """Score every spot of `adata` (one or several sections) with `model`.

    Writes `obs['tissue_mib_score']` (higher = more anomalous), `_score_smoothed` (the score
    averaged `smooth` times over each spot and its graph neighbours, `calibration.neighbourhood_mean`;
    0: the score itself; None: CROSSFIT_SMOOTH_HOPS for a `CrossFitModel`, else 0, since a model
    calibrated on one or two held-out sections over-flags healthy sections once it smooths), `_pvalue` (split-conformal: the smoothed score against the model's
    held-out healthy scores smoothed alike on their own graph), `_qvalue` (Benjamini-Hochberg
    over all spots of `adata`; `adaptive`: Storey's adaptive BH), `_label` (categorical
    normal/anomalous at q <= fdr),
    `_score_genes` / `_score_histology` (per-modality heads; NaN where the method has none),
    `obsm['tissue_mib_latent']` (N, d) and `uns['tissue_mib']`. A `CrossFitModel` scores with
    every member: the scores are the members' means and the p-values cross-conformal
    (`calibration.cross_conformal_pvalues`); the latent is the first member's. Spots that preprocessing
    drops (no counts) get NaN and no label. Returns the scored copy when `copy=True`.
    """
    if not adata.obs_names.is_unique:
        raise InputError("score: adata.obs_names repeat; call adata.obs_names_make_unique() first")
    members = model.members if isinstance(model, CrossFitModel) else [model]
    if smooth is None:
        smooth = CROSSFIT_SMOOTH_HOPS if len(members) > 1 else 0
    runs = [_predict(adata, member) for member in members]
    prepared = runs[0][0]
    for other, _ in runs[1:]:
        if not other.obs_names.equals(prepared.obs_names):
            raise InputError("score: the cross-fitted models' preprocessing kept different spots; score with one member")
    rows = adata.obs_names.get_indexer(prepared.obs_names)
    if (rows < 0).any():
        raise InputError("score: preprocessing renamed spots; give every section its own library_id and unique obs_names")
    target = adata.copy() if copy else adata
    n = target.n_obs
    graph = prepared.obsp["spatial_connectivities"]  # one block per section: no edge joins two sections
    member_scores = [member.scores(out) for member, (_, out) in zip(members, runs)]
    member_smoothed = [neighbourhood_mean(s, graph, hops=smooth) for s in member_scores]
    p = cross_conformal_pvalues(member_smoothed, [member.calibration_scores(hops=smooth) for member in members])
    scores, smoothed = np.mean(member_scores, axis=0), np.mean(member_smoothed, axis=0)
    q = bh_qvalues(p, adaptive=adaptive)
    labels = label_at(q, fdr)
    threshold = score_threshold(smoothed, q, fdr)
    out = runs[0][1]

    def full(values: np.ndarray) -> np.ndarray:
        arr = np.full((n, *values.shape[1:]), np.nan)
        arr[rows] = values
        return arr

    target.obs["tissue_mib_score"] = full(scores)
    target.obs["tissue_mib_score_smoothed"] = full(smoothed)
    target.obs["tissue_mib_pvalue"] = full(p)
    target.obs["tissue_mib_qvalue"] = full(q)
    codes = np.full(n, -1, dtype=np.int8)
    codes[rows] = labels.codes
    target.obs["tissue_mib_label"] = pd.Categorical.from_codes(codes, categories=list(LABELS))
    for modality in ("genes", "histology"):
        key = f"score_{modality}"
        heads = [o[key].astype(np.float64) for _, o in runs if key in o]
        target.obs[f"tissue_mib_{key}"] = full(np.mean(heads, axis=0)) if heads else np.nan
    target.obsm["tissue_mib_latent"] = full(out["latent"]).astype(np.float32)
    target.obsm.pop("tissue_mib_patches", None)
    if "spatial_connectivities" not in target.obsp:  # scored outputs carry squidpy's spot graph
        pp.spatial_graph(target, n_neighs=model.prep.n_neighs)
    n_unscored = n - len(rows)
    if n_unscored:
        logger.warning("score: %d spot(s) dropped by preprocessing (no counts) are left unscored (NaN)", n_unscored)
    prep_record = prepared.uns.get("tissue_mib_prep", {})
    target.uns["tissue_mib"] = _h5ad_safe({
        "method": model.name,
        "score_rule": model.score_rule,
        "knn_k": [m.knn_k for m in members] if model.score_rule == "knn" else [],
        "params": members[0].method.config(),
        "n_models": len(members),
        "modalities": list(model.modalities),
        "threshold_rule": ADAPTIVE_RULE if adaptive else THRESHOLD_RULE,
        "fdr": float(fdr),
        "smooth_hops": int(smooth),
        "pi0": storey_pi0(p) if adaptive else 1.0,
        "score_threshold": float(threshold),
        "n_flagged": int((labels.codes == 1).sum()),
        "n_unscored": int(n_unscored),
        "n_calibration": int(sum(m.calibration.size for m in members)),
        "panel_hash": model.panel.hash,
        "panel_missing": prepared.uns.get("tissue_mib_panel", {}),
        "model_path": str(model.path) if model.path is not None else "",
        "prep_cache_path": prep_record.get("cache_path", ""),
        "prep_config": model.prep.to_dict(),
        "version": __version__,
    })  # fmt: skip
    logger.info("scored %d spots with %s: %d flagged at %s = %g", len(rows), model.name,
                target.uns["tissue_mib"]["n_flagged"], target.uns["tissue_mib"]["threshold_rule"], fdr)  # fmt: skip
    return target if copy else None


def _predict(adata: AnnData, model: TissueModel) -> tuple[AnnData, dict]:
    """(prepared AnnData, `train.predict` output) of `adata` under one model, predicted in chunks of
    `settings.chunk_spots()` spots (`tensors.chunks`) into arrays of all spots."""
    prepared, _ = pp.prepare(adata, panel=model.panel, config=model.prep)
    size = chunk_spots()
    parts = chunks(prepared, model.modalities, graph=uses_graph(model.method, model.modalities),
                   hops=model.train_config.hops, size=size)
    out: dict[str, np.ndarray] = {}
    for targets, data in progress(parts, desc="score chunks", total=-(-prepared.n_obs // size)):
        for key, value in predict(model.method, data, config=model.train_config, rows=np.arange(len(targets))).items():
            if key not in out:
                out[key] = np.empty((prepared.n_obs, *value.shape[1:]), dtype=value.dtype)
            out[key][targets] = value
    return prepared, out


def _h5ad_safe(value):
    """None -> "", tuples -> lists, numpy scalars -> Python values, recursively (h5ad-writable)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {str(k): _h5ad_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_h5ad_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
