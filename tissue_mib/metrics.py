"""Metrics when labels exist: truth per protocol, AUROC (+ bootstrap CI), AP, oracle and calibrated F1.

Scores follow "higher = more anomalous"; `y` is a bool array, True = anomalous.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.stats import rankdata

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)

TUMOUR = ("invasive cancer", "cancer in situ")
NON_TUMOUR = ("connective tissue", "adipose tissue", "breast glands", "immune infiltrate")
UNDETERMINED = "undetermined"
PROTOCOLS = ("paper", "strict")


def truth(adata, *, protocol: str) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Ground truth of a section: (y bool (N,), evaluable bool (N,)); y is False where not evaluable;
    (None, None) when the section carries no labels.

    Synthetic sections (`obs['anomaly_kind']`): anomalous = kind != 'normal', every spot evaluable.
    her2st (`obs['pathologist_label']`): anomalous = invasive cancer or cancer in situ; protocol
    `paper` keeps every labelled spot with `undetermined` as normal (the OMIB/IBMA papers),
    `strict` leaves `undetermined` out. Spots without a label are never evaluable.
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    obs = adata.obs
    if "anomaly_kind" in obs:
        kind = obs["anomaly_kind"].astype(object)
        if kind.isna().any():
            raise InputError(f"obs['anomaly_kind']: {int(kind.isna().sum())} missing value(s)")
        return (kind != "normal").to_numpy(bool), np.ones(adata.n_obs, bool)
    if "pathologist_label" not in obs:
        return None, None
    lab = obs["pathologist_label"].astype(object)
    known = set(TUMOUR) | set(NON_TUMOUR) | {UNDETERMINED}
    unknown = sorted(set(lab.dropna()) - known)
    if unknown:
        raise InputError(f"obs['pathologist_label']: unknown label(s) {unknown}; expected {sorted(known)}")
    labelled = lab.notna().to_numpy(bool)
    y = lab.isin(TUMOUR).to_numpy(bool)
    evaluable = labelled if protocol == "paper" else labelled & (lab != UNDETERMINED).to_numpy(bool)
    return y & evaluable, evaluable


def _check(y, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"labels and scores: lengths differ ({y.size} vs {s.size})")
    if not np.all(np.isfinite(s)):
        raise InputError(f"scores: {int(np.sum(~np.isfinite(s)))} non-finite value(s)")
    return y, s


def _both_classes(y: np.ndarray) -> None:
    if y.all() or not y.any():
        raise InputError(f"labels: only one class among {y.size} spots; AUROC/AP need anomalous and normal spots")


def auroc(y, scores) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties count 1/2)."""
    y, s = _check(y, scores)
    _both_classes(y)
    n_pos, n_neg = y.sum(), (~y).sum()
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auroc_ci(y, scores, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Stratified bootstrap percentile interval of the AUROC (anomalous and normal spots resampled separately)."""
    y, s = _check(y, scores)
    _both_classes(y)
    rng = np.random.default_rng(seed)
    pos, neg = s[y], s[~y]
    n = pos.size + neg.size
    chunk = max(1, int(4e6 // n))
    aucs = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        sample = np.concatenate(
            [rng.choice(pos, size=(b, pos.size)), rng.choice(neg, size=(b, neg.size))], axis=1
        )
        ranks = rankdata(sample, axis=1)
        u = ranks[:, : pos.size].sum(axis=1) - pos.size * (pos.size + 1) / 2
        aucs.append(u / (pos.size * neg.size))
    lo, hi = np.quantile(np.concatenate(aucs), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def average_precision(y, scores) -> float:
    """Average precision: sum over score thresholds of (recall step) x precision (sklearn's definition)."""
    y, s = _check(y, scores)
    _both_classes(y)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y_sorted)[last]
    precision = tp / (last + 1)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _f1(y: np.ndarray, flagged: np.ndarray) -> float:
    tp = np.sum(y & flagged)
    denom = y.sum() + flagged.sum()
    return float(2 * tp / denom) if denom else 0.0


def f1_oracle(y, scores) -> float:
    """F1 when exactly as many top-scoring spots are flagged as there are true anomalies (uses the labels: an oracle)."""
    y, s = _check(y, scores)
    flagged = np.zeros(y.size, bool)
    flagged[np.argsort(-s, kind="mergesort")[: y.sum()]] = True
    return _f1(y, flagged)


def _as_flags(labels) -> np.ndarray:
    """bool (N,): True where flagged; `labels` is bool or strings/categorical with 'anomalous'."""
    lab = np.asarray(labels).ravel()
    return lab.astype(bool) if lab.dtype == bool else lab.astype(str) == "anomalous"


def f1_at(y, labels) -> float:
    """F1 of given flags: `labels` is bool (True = flagged) or strings/categorical with 'anomalous'."""
    y = np.asarray(y).astype(bool).ravel()
    flagged = _as_flags(labels)
    if flagged.shape != y.shape:
        raise InputError(f"labels and flags: lengths differ ({y.size} vs {flagged.size})")
    return _f1(y, flagged)


def evaluate(scores, y, *, flagged=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics of one section: auroc, auroc_ci [lo, hi], ap, prevalence, f1_oracle, f1_calibrated,
    n_spots, n_anomalous, n_flagged. Spots with a NaN score (unscored) are left out, with a
    warning. Metrics that need both classes are None when one is absent; f1_calibrated and
    n_flagged are None without `flagged`.
    """
    y = np.asarray(y).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    flags = None if flagged is None else _as_flags(flagged)
    if y.shape != s.shape or (flags is not None and flags.shape != s.shape):
        raise InputError(f"labels, scores and flags: lengths differ ({y.size}, {s.size}, {'-' if flags is None else flags.size})")
    scored = ~np.isnan(s)
    if not scored.all():
        logger.warning("%d spot(s) without a score (NaN) left out of the metrics", int((~scored).sum()))
        y, s, flags = y[scored], s[scored], None if flags is None else flags[scored]
    y, s = _check(y, s)
    if y.size == 0:
        raise InputError("labels: no evaluable spots")
    two = bool(y.any() and not y.all())
    if not two:
        logger.warning("only one class among %d spots: AUROC, AP and oracle F1 are undefined", y.size)
    n_flagged = None if flags is None else int(flags.sum())
    return {
        "auroc": auroc(y, s) if two else None,
        "auroc_ci": list(auroc_ci(y, s, n_boot=n_boot, seed=seed)) if two else None,
        "ap": average_precision(y, s) if two else None,
        "prevalence": float(y.mean()),
        "f1_oracle": f1_oracle(y, s) if two else None,
        "f1_calibrated": None if flags is None else f1_at(y, flags),
        "n_spots": int(y.size),
        "n_anomalous": int(y.sum()),
        "n_flagged": n_flagged,
    }


def evaluate_adata(adata, *, protocol: str, key: str = "tissue_mib_score", n_boot: int = 1000, seed: int = 0) -> dict:
    """`evaluate` on the evaluable spots of a scored AnnData (flags from obs['tissue_mib_label'] when present)."""
    if key not in adata.obs:
        raise InputError(f"obs['{key}']: missing; score the section first")
    y, evaluable = truth(adata, protocol=protocol)
    if y is None:
        raise InputError("labels: neither obs['anomaly_kind'] nor obs['pathologist_label'] is present")
    flagged = adata.obs["tissue_mib_label"].to_numpy()[evaluable] if "tissue_mib_label" in adata.obs else None
    record = evaluate(adata.obs[key].to_numpy()[evaluable], y[evaluable], flagged=flagged, n_boot=n_boot, seed=seed)
    return {"protocol": protocol, **record}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(records: list[dict]) -> str:
    """A plain-text table of `evaluate` records (optionally with section, protocol, method keys) and a footnote."""
    cols = [c for c in ("section", "protocol", "method") if any(c in r for r in records)]
    header = [*cols, "spots", "anom.", "prev.", "AUROC [95% CI]", "AP", "F1 oracle*", "F1 calib.", "flagged"]
    rows = []
    for r in records:
        ci = r.get("auroc_ci")
        auc = "-" if r.get("auroc") is None else f"{r['auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
        rows.append([
            *(str(r.get(c, "")) for c in cols),
            str(r["n_spots"]), str(r["n_anomalous"]), _fmt(r["prevalence"], ".3f"), auc,
            _fmt(r.get("ap"), ".3f"), _fmt(r.get("f1_oracle"), ".3f"), _fmt(r.get("f1_calibrated"), ".3f"),
            _fmt(r.get("n_flagged"), "d"),
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    lines += [
        "* F1 oracle flags exactly as many spots as there are true anomalies: it uses the labels. Read it",
        "  beside the prevalence p (flagging every spot gives F1 = 2p/(1+p)). F1 calib. uses the label-free",
        "  threshold (BH q-value at the chosen FDR).",
    ]
    return "\n".join(line.rstrip() for line in lines)
