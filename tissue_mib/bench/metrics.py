"""Metrics of the benchmarks and secondary workflows (the tissue metrics live in tissue_mib.metrics).

accuracy (emotion, SIM, mfeat); MAE, Corr, Acc-2, F1, Acc-7 (sentiment, as MMSA reports
them for CMU-MOSI); per-finding AUROC and their mean mAUC (chest X-ray).
"""

from __future__ import annotations

import numpy as np

from tissue_mib.errors import InputError
from tissue_mib.metrics import auroc


def accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    """Share of rows whose arg-max class (probs (N, C)) equals y (N,)."""
    y, probs = np.asarray(y), np.asarray(probs)
    if probs.ndim != 2 or probs.shape[0] != y.shape[0]:
        raise InputError(f"accuracy: probs must be (N, C) with N = {y.shape[0]}, got {probs.shape}")
    return float(np.mean(probs.argmax(axis=1) == y))


def sentiment_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MOSI metrics for scores in [-3, 3]: MAE, Pearson Corr, Acc-2 and weighted F1 on the
    non-zero labels (negative < 0 vs positive > 0), Acc-7 on scores rounded to -3..3."""
    y, pred = np.asarray(y, dtype=np.float64).ravel(), np.asarray(pred, dtype=np.float64).ravel()
    if y.shape != pred.shape:
        raise InputError(f"sentiment metrics: {y.size} labels but {pred.size} predictions")
    nonzero = y != 0
    truth, guess = y[nonzero] > 0, pred[nonzero] > 0
    corr = float(np.corrcoef(y, pred)[0, 1]) if y.std() > 0 and pred.std() > 0 else 0.0
    return {
        "MAE": float(np.mean(np.abs(y - pred))),
        "Corr": corr,
        "Acc-2": float(np.mean(truth == guess)) if nonzero.any() else float("nan"),
        "F1": _weighted_f1(truth, guess) if nonzero.any() else float("nan"),
        "Acc-7": float(np.mean(np.round(np.clip(y, -3, 3)) == np.round(np.clip(pred, -3, 3)))),
    }


def _weighted_f1(truth: np.ndarray, guess: np.ndarray) -> float:
    total = 0.0
    for cls in (False, True):
        tp = np.sum((truth == cls) & (guess == cls))
        denom = np.sum(truth == cls) + np.sum(guess == cls)
        total += (2 * tp / denom if denom else 0.0) * np.mean(truth == cls)
    return float(total)


def multilabel_auroc(y: np.ndarray, probs: np.ndarray, names: list[str]) -> dict[str, float]:
    """AUROC per label column (y, probs: (N, C)), keyed by `names`, plus `mAUC` their mean.

    A column with one class only in `y` gets NaN and is left out of the mean.
    """
    y, probs = np.asarray(y), np.asarray(probs)
    if y.shape != probs.shape or y.ndim != 2 or y.shape[1] != len(names):
        raise InputError(f"multi-label AUROC: labels {y.shape} and probs {probs.shape} must both be (N, {len(names)})")
    out = {}
    for j, name in enumerate(names):
        col = y[:, j] > 0.5
        out[name] = auroc(col, probs[:, j]) if 0 < col.sum() < col.size else float("nan")
    values = [v for v in out.values() if np.isfinite(v)]
    out["mAUC"] = float(np.mean(values)) if values else float("nan")
    return out
