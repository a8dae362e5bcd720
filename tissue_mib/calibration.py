"""Thresholds without labels: split-conformal p-values, Benjamini–Hochberg q-values, labels.

Scores follow the convention "higher = more anomalous". The calibration scores are those of
healthy spots held out at training (whole sections or spatial blocks, never graph neighbours
of training spots), so under exchangeability a healthy spot's p-value is uniform on
{1/(n+1), ..., 1}. Anomalies are spatially contiguous: `neighbourhood_mean` averages a score
over a spot's graph neighbourhood, applied alike to the calibration spots (on their own graph)
and to the spots tested, so the p-values keep their meaning while the noise of single healthy
spots averages out. `bh_qvalues(adaptive=True)` is Storey's adaptive BH: it estimates the share
of healthy spots (pi0) and gains power where a section is mostly anomalous.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tissue_mib.errors import InputError

LABELS = ("normal", "anomalous")


def _as_scores(values, *, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: {int(np.sum(~np.isfinite(arr)))} non-finite value(s) (NaN or inf)")
    return arr


def conformal_pvalues(scores, calib_scores) -> np.ndarray:
    """Split-conformal p-values, (N,) float64 in (0, 1].

    p_i = (1 + #{calib >= s_i}) / (n_calib + 1); ties count against the test spot (conservative).
    """
    s = _as_scores(scores, name="scores")
    c = _as_scores(calib_scores, name="calibration scores")
    if c.size == 0:
        raise InputError("calibration scores: empty (the model holds no held-out healthy scores)")
    c_sorted = np.sort(c)
    n_ge = c.size - np.searchsorted(c_sorted, s, side="left")
    return (1.0 + n_ge) / (c.size + 1.0)


def neighbourhood_mean(scores, graph, *, hops: int) -> np.ndarray:
    """(N,) scores averaged `hops` times over each spot and its graph neighbours (hops=0: unchanged).

    graph: (N, N) adjacency (any sparse or dense matrix; nonzero = neighbours, weights ignored).
    One hop replaces a spot's score by the mean over itself and its neighbours (a random walk
    with self-loops), so `hops` = k mixes each spot with its k-hop neighbourhood.
    """
    s = _as_scores(scores, name="scores")
    hops = int(hops)
    if hops < 0:
        raise InputError(f"smoothing hops: {hops} is negative; use 0 (no smoothing) or more")
    if hops == 0:
        return s
    adjacency = sp.csr_matrix(graph, dtype=np.float64)
    if adjacency.shape != (s.size, s.size):
        raise InputError(f"spot graph: shape {adjacency.shape} does not match {s.size} scores")
    adjacency.data[:] = 1.0
    adjacency = adjacency + sp.identity(s.size, format="csr")
    walk = sp.diags(1.0 / np.asarray(adjacency.sum(axis=1)).ravel()) @ adjacency
    for _ in range(hops):
        s = walk @ s
    return s


def storey_pi0(p, *, lam: float = 0.5) -> float:
    """Storey's estimate of the share of true nulls (healthy spots) among p-values, in (0, 1].

    pi0 = (1 + #{p > lam}) / (m (1 - lam)), capped at 1; the +1 keeps it conservative.
    """
    p = _as_scores(p, name="p-values")
    if p.size == 0:
        return 1.0
    return float(min(1.0, (1.0 + np.sum(p > lam)) / (p.size * (1.0 - lam))))


def cross_conformal_pvalues(scores: list, calib_scores: list) -> np.ndarray:
    """Cross-conformal p-values over K models, (N,) float64 in (0, 1].

    scores[k]: (N,) the spots' scores under model k; calib_scores[k]: model k's calibration
    scores (of the sections model k did not train on). p_i = (1 + sum_k #{calib_k >= s_ki}) /
    (1 + sum_k n_k); with one model this is `conformal_pvalues`. Valid up to a factor of 2 in
    the worst case (Vovk's cross-conformal), close to exact in practice.
    """
    if len(scores) != len(calib_scores) or not scores:
        raise InputError(f"cross-conformal p-values: {len(scores)} score sets for {len(calib_scores)} calibration sets")
    n_ge, n = 0.0, 0
    for s, c in zip(scores, calib_scores):
        p = conformal_pvalues(s, c)
        n_ge = n_ge + p * (len(c) + 1.0) - 1.0
        n += len(c)
    return (1.0 + n_ge) / (n + 1.0)


def bh_qvalues(p, *, adaptive: bool = False) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), (N,) float64, monotone in p, capped at 1.

    adaptive: Storey's adaptive BH, q multiplied by `storey_pi0(p)`, but never below the spot's own
    p-value: a section whose healthy spots all score a little above the calibration (a batch
    offset) has no p-value above 0.5, pi0 near 0, and would otherwise be flagged wholesale
    (her2st A1: 346 of 346 spots with no p-value under 0.05). Between p and plain BH's q.
    """
    p = _as_scores(p, name="p-values")
    if np.any((p < 0) | (p > 1)):
        raise InputError("p-values: values outside [0, 1]")
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m * (storey_pi0(p) if adaptive else 1.0) / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(ranked, 1.0)
    return np.maximum(q, p) if adaptive else q


def _check_fdr(fdr: float) -> float:
    fdr = float(fdr)
    if not 0.0 < fdr < 1.0:
        raise InputError(f"fdr: {fdr} is not in (0, 1)")
    return fdr


def label_at(q, fdr: float = 0.05) -> pd.Categorical:
    """Categorical labels `normal`/`anomalous` (both categories always present): anomalous iff q <= fdr."""
    fdr = _check_fdr(fdr)
    q = _as_scores(q, name="q-values")
    return pd.Categorical.from_codes((q <= fdr).astype(np.int8), categories=list(LABELS))


def score_threshold(scores, q, fdr: float = 0.05) -> float:
    """The raw score at which the label flips: the lowest score with q <= fdr (inf when none is flagged).

    Because q is monotone in p and p is non-increasing in the score, the flagged spots are
    exactly those with score >= this value.
    """
    fdr = _check_fdr(fdr)
    s = _as_scores(scores, name="scores")
    q = _as_scores(q, name="q-values")
    if s.shape != q.shape:
        raise InputError(f"scores and q-values: lengths differ ({s.size} vs {q.size})")
    flagged = q <= fdr
    return float(s[flagged].min()) if flagged.any() else float("inf")


def uniformity(p) -> dict:
    """How close p-values of healthy spots are to U(0, 1).

    ks, ks_p: two-sided Kolmogorov–Smirnov statistic and p-value. ks_p_smaller: p-value of the
    one-sided test against p-values stochastically smaller than uniform (anti-conservative:
    the direction that over-flags healthy tissue). mean; frac_below_0.05 (0.05 under
    uniformity); n.
    """
    from scipy.stats import kstest

    p = _as_scores(p, name="p-values")
    if p.size == 0:
        raise InputError("p-values: empty")
    two = kstest(p, "uniform")
    smaller = kstest(p, "uniform", alternative="greater")  # H1: the ECDF of p lies above the uniform CDF
    return {"ks": float(two.statistic), "ks_p": float(two.pvalue), "ks_p_smaller": float(smaller.pvalue),
            "mean": float(p.mean()), "frac_below_0.05": float((p < 0.05).mean()), "n": int(p.size)}  # fmt: skip
