"""The genes part of `bench her2st`: leave one patient out, with the default chosen by inner splits.

her2st has no healthy tissue; a model for a section of patient P is trained on the spots the
authors' expression clusters call non-cancer (`obs['weak_is_cancer'] == False`) in every section
of the *other* patients. Candidate settings (`VARIANTS`) are compared without looking at the
section being reported:

- outer: for each labelled target T of patient P, every variant and seed is trained without P
  and scores T against the pathologist's labels;
- inner: for the same T, each variant is trained without P and without P' and scores the other
  labelled sections T' of patient P' against their pathologist labels;
- weak: every section of a patient without pathologist labels is scored by a model trained
  without that patient against the weak (expression-cluster) labels: a second, noisier check.
The variant with the best mean of the two checks (`_best`) is the one reported for T
(`variant = "selected"`), so T's own labels never choose its setting.

Beside each score: AUROC of the kNN reference (the plain scanpy recipe on the same training
spots: normalize_total, log1p, HVGs by section, per-gene z-scores on the training spots, PCA-50,
mean distance to the 10 nearest training spots) and the Spearman correlation of the score with
the spot's depth (total UMIs) and detected genes: a score that tracks depth is a defect.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

from tissue_mib.logs import step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One candidate setting of the gene model: preprocessing, training options, score rule and
    (`knn`) the share of the training spots it averages over (None: tl.fit's default) for `tl.fit`."""

    name: str
    prep: Mapping = field(default_factory=dict)
    train: Mapping = field(default_factory=dict)
    score: str = "centre"
    knn_fraction: float | None = None


VARIANTS = {
    v.name: v
    for v in (
        Variant("knn", prep={"n_pcs": None}, score="knn"),
        Variant("knn10", prep={"n_pcs": None}, score="knn", knn_fraction=0.0),
        Variant("centre", prep={"n_pcs": None}),
        Variant("unscaled", prep={"scale": False}),
        Variant("pca50", prep={"n_pcs": 50}),
        Variant("pca50-trim20", prep={"n_pcs": 50}, train={"contamination": 0.2}),
    )
}


DEFAULT_VARIANTS = ("knn", "knn10")


def depth_correlations(adata, scores: np.ndarray, normal: np.ndarray | None = None) -> dict:
    """Spearman correlation of `scores` (N,) with total counts and detected genes of `adata`'s raw X,
    over every scored spot and (`normal`, a bool mask) over the normal spots alone, where a score
    has no business following depth."""
    x = adata.X
    depth = np.asarray(x.sum(axis=1)).ravel()
    detected = np.asarray((x > 0).sum(axis=1)).ravel()
    ok = np.isfinite(scores)
    out = {"spearman_depth": float(spearmanr(scores[ok], depth[ok])[0]),
           "spearman_genes": float(spearmanr(scores[ok], detected[ok])[0])}  # fmt: skip
    if normal is not None and (ok & normal).sum() > 2:
        out["spearman_depth_normal"] = float(spearmanr(scores[ok & normal], depth[ok & normal])[0])
    return out


def weak_truth(adata) -> tuple[np.ndarray, np.ndarray]:
    """(y, evaluable) from the weak expression-cluster labels (`obs['weak_is_cancer']`)."""
    weak = adata.obs["weak_is_cancer"]
    evaluable = weak.notna().to_numpy(bool)
    return weak.fillna(False).astype(bool).to_numpy() & evaluable, evaluable


class GeneCV:
    """Trains and scores the gene models of the cross-validation, each (variant, excluded
    patients, seed) once: the inner model without {P, P'} serves both outer folds P and P'."""

    def __init__(self, read: Mapping, healthy: Mapping, *, epochs: int, config: Mapping | None, device: str):
        self.read, self.healthy = read, healthy
        self.epochs, self.config, self.device = epochs, dict(config or {}), device
        self._models: dict = {}
        self._knn: dict = {}

    def model(self, variant: Variant, without: frozenset[str], seed: int):
        key = (variant.name, without, seed)
        if key not in self._models:
            from tissue_mib import tl

            config = dict(self.config)
            config["prep"] = {**dict(config.get("prep") or {}), **variant.prep}
            config["train"] = {**dict(config.get("train") or {}), **variant.train}
            config["score"] = variant.score
            if variant.knn_fraction is not None:
                config["knn_fraction"] = variant.knn_fraction
            train = [a for s, a in self.healthy.items() if s[0] not in without]
            with step(f"gene model {variant.name} without patient(s) {','.join(sorted(without))}, seed {seed}") as line:
                self._models[key] = tl.fit(train, method="gene-svdd", modalities=("genes",), config=config,
                                           epochs=self.epochs, device=self.device, seed=seed)  # fmt: skip
                line.detail = f"{sum(a.n_obs for a in train):,} training spots"
        return self._models[key]

    def scores(self, variant: Variant, without: frozenset[str], seed: int, section: str) -> tuple[np.ndarray, np.ndarray]:
        """(N,) scores of every spot of `section` (NaN where preprocessing dropped it) and (N,) bool: the
        label-free calls (`tissue_mib_label`, tl.score's defaults)."""
        from tissue_mib import tl

        scored = tl.score(self.read[section], self.model(variant, without, seed), copy=True)
        return scored.obs["tissue_mib_score"].to_numpy(), (scored.obs["tissue_mib_label"] == "anomalous").to_numpy()

    def knn(self, without: frozenset[str], section: str) -> np.ndarray:
        """(N,) scores of the kNN reference on `section`, trained without the patients `without`."""
        from tissue_mib import pp
        from tissue_mib.bench.reference import knn_pca_scores

        key = (without, section)
        if key not in self._knn:
            train = [a for s, a in self.healthy.items() if s[0] not in without]
            train_x, panel = pp.prepare(train)
            test = pp.prepare(self.read[section], panel=panel)[0]
            values = knn_pca_scores(panel.scale(np.asarray(train_x.X)), panel.scale(np.asarray(test.X)))
            full = np.full(self.read[section].n_obs, np.nan)
            full[self.read[section].obs_names.get_indexer(test.obs_names)] = values
            self._knn[key] = full
        return self._knn[key]


def _record(y, evaluable, scores, adata, flagged=None, **keys) -> dict:
    from tissue_mib import metrics

    ok = evaluable & np.isfinite(scores)
    calls = None if flagged is None else flagged[ok]
    record = {**keys, **metrics.evaluate(scores[ok], y[ok], flagged=calls), **depth_correlations(adata, scores, evaluable & ~y)}
    logger.info("%s %s %s seed %s (%s): AUROC %s, Spearman with depth %.2f", record["split"], record["section"],
                record["variant"], record["seed"], record["protocol"], record["auroc"], record["spearman_depth"])  # fmt: skip
    return record


def run_genes(
    *, read: Mapping, healthy: Mapping, labelled: Sequence[str], targets: Sequence[str], variants: Sequence[str],
    seeds: Sequence[int], epochs: int, config: Mapping | None, device: str, weak: bool = True,
) -> list[dict]:
    """The records of the weak, inner and outer splits (see the module docstring) and the `selected` rows.

    The weak and inner splits and the unselected variants' outer rows use the first seed; the
    selected variant's outer rows use every seed.
    """
    from tissue_mib import metrics
    from tissue_mib.settings import progress

    chosen = [VARIANTS[v] for v in variants]
    cv = GeneCV(read, healthy, epochs=epochs, config=config, device=device)
    records: list[dict] = []
    labelled_patients = {s[0] for s in labelled}
    if weak:
        for section in progress([s for s in read if s[0] not in labelled_patients], desc="her2st genes, weak labels"):
            y, evaluable = weak_truth(read[section])
            if y[evaluable].all() or not y[evaluable].any():
                continue
            without = frozenset({section[0]})
            for variant in chosen:
                s, flagged = cv.scores(variant, without, seeds[0], section)
                records.append(_record(y, evaluable, s, read[section], flagged, section=section, split="weak", method="gene-svdd",
                                       variant=variant.name, seed=seeds[0], protocol="weak"))  # fmt: skip
            records.append(_record(y, evaluable, cv.knn(without, section), read[section], section=section, split="weak",
                                   method="knn-pca", variant="knn-pca", seed=None, protocol="weak"))  # fmt: skip
    for target in progress(targets, desc="her2st genes, leave one patient out"):
        patient = target[0]
        without = frozenset({patient})
        if len(chosen) > 1:  # inner splits: the other labelled patients' sections, without both patients
            for inner in [s for s in labelled if s[0] != patient]:
                y, evaluable = metrics.truth(read[inner], protocol="strict")
                for variant in chosen:
                    s, flagged = cv.scores(variant, frozenset({patient, inner[0]}), seeds[0], inner)
                    records.append(_record(y, evaluable, s, read[inner], flagged, section=inner, split="inner", outer=target,
                                           method="gene-svdd", variant=variant.name, seed=seeds[0], protocol="strict"))  # fmt: skip
        best, criterion = _best(records, target, [v.name for v in chosen])
        for protocol in metrics.PROTOCOLS:
            y, evaluable = metrics.truth(read[target], protocol=protocol)
            records.append(_record(y, evaluable, cv.knn(without, target), read[target], section=target, split="outer",
                                   method="knn-pca", variant="knn-pca", seed=None, protocol=protocol))  # fmt: skip
            for variant in chosen:
                for seed in seeds if variant.name == best else seeds[:1]:
                    s, flagged = cv.scores(variant, without, seed, target)
                    records.append(_record(y, evaluable, s, read[target], flagged, section=target, split="outer",
                                           method="gene-svdd", variant=variant.name, seed=seed, protocol=protocol))  # fmt: skip
        records += [r | {"variant": "selected", "selected_variant": best, "criterion": criterion}
                    for r in records if r["split"] == "outer" and r["section"] == target and r["variant"] == best]  # fmt: skip
    return records


def _best(records: list[dict], target: str, variants: list[str]) -> tuple[str, dict]:
    """The variant with the best selection criterion for `target` (ties: the earlier) and the criterion.

    criterion = mean of (mean inner AUROC over the other labelled patients' sections, models
    trained without both patients) and (mean weak-label AUROC over the unlabelled patients'
    sections); either part alone when the other is missing. `target`'s own labels never enter.
    """
    if len(variants) == 1:
        return variants[0], {}
    criterion = {}
    for v in variants:
        inner = [r["auroc"] for r in records if r["split"] == "inner" and r["outer"] == target and r["variant"] == v
                 and r["auroc"] is not None]  # fmt: skip
        weak = [r["auroc"] for r in records if r["split"] == "weak" and r["variant"] == v and r["auroc"] is not None]
        parts = [float(np.mean(p)) for p in (inner, weak) if p]
        criterion[v] = float(np.mean(parts)) if parts else float("nan")
    return max(variants, key=lambda v: (np.nan_to_num(criterion[v], nan=-1.0), -variants.index(v))), criterion


def summary(records: Sequence[dict], *, protocol: str = "paper") -> list[dict]:
    """Per (section, variant) of the outer and weak splits: mean and sd of AUROC over seeds, the
    seeds' range, the depth correlations' mean, the kNN reference's AUROC beside it, and the
    label-free calls (mean oracle F1, calibrated F1, spots flagged)."""
    rows = []
    keys = sorted({(r["split"], r["section"], r["variant"]) for r in records
                   if r["split"] in ("outer", "weak") and r["protocol"] in (protocol, "weak")})  # fmt: skip
    for split, section, variant in keys:
        group = [r for r in records if (r["split"], r["section"], r["variant"]) == (split, section, variant)
                 and r["protocol"] in (protocol, "weak") and r["auroc"] is not None]  # fmt: skip
        if not group:
            continue
        aurocs = np.array([r["auroc"] for r in group])
        knn = [r["auroc"] for r in records if (r["split"], r["section"], r["variant"]) == (split, section, "knn-pca")
               and r["protocol"] in (protocol, "weak")]  # fmt: skip
        rows.append({
            "split": split, "section": section, "variant": variant,
            "selected_variant": group[0].get("selected_variant", ""), "n_seeds": len(group),
            "auroc_mean": float(aurocs.mean()), "auroc_sd": float(aurocs.std(ddof=1)) if len(group) > 1 else 0.0,
            "auroc_min": float(aurocs.min()), "auroc_max": float(aurocs.max()),
            "knn_auroc": knn[0] if knn else None,
            "spearman_depth": float(np.mean([r["spearman_depth"] for r in group])),
            "spearman_genes": float(np.mean([r["spearman_genes"] for r in group])),
            "spearman_depth_normal": float(np.mean([r.get("spearman_depth_normal", np.nan) for r in group])),
            **_calls(group),
        })  # fmt: skip
    return rows


def _calls(group: Sequence[dict]) -> dict:
    """Mean oracle F1, calibrated F1 and spots flagged over the seeds of a row (None for the kNN reference, which makes no calls)."""
    if any(r.get("f1_calibrated") is None for r in group):
        return {"f1_oracle": None, "f1_calibrated": None, "n_flagged": None}
    return {"f1_oracle": float(np.mean([r["f1_oracle"] for r in group])),
            "f1_calibrated": float(np.mean([r["f1_calibrated"] for r in group])),
            "n_flagged": float(np.mean([r["n_flagged"] for r in group]))}  # fmt: skip
