"""Split-conformal p-values, BH q-values and labels."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import scipy.sparse as sp

from tissue_mib.calibration import (bh_qvalues, conformal_pvalues, label_at, neighbourhood_mean, score_threshold,
                                    storey_pi0, uniformity)
from tissue_mib.errors import InputError


def test_pvalues_uniform_under_exchangeability():
    # marginal validity: a fresh calibration set per trial; p is uniform on {1/(n+1), ..., 1},
    # and subtracting U/(n+1) makes it exactly Uniform(0, 1)
    rng = np.random.default_rng(0)
    n_trials, n_calib = 4000, 49
    draws = rng.gamma(2.0, size=(n_trials, n_calib + 1))
    p = np.array([conformal_pvalues(row[:1], row[1:])[0] for row in draws])
    assert p.min() >= 1 / (n_calib + 1) and p.max() <= 1.0
    assert stats.kstest(p - rng.uniform(size=n_trials) / (n_calib + 1), "uniform").pvalue > 0.01
    # one large calibration set: the test p-values are close to uniform too
    p = conformal_pvalues(rng.gamma(2.0, size=2000), rng.gamma(2.0, size=50000))
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_pvalues_small_for_shifted_scores():
    rng = np.random.default_rng(1)
    p = conformal_pvalues(rng.normal(5, 1, size=200), rng.normal(size=1000))
    assert np.median(p) < 0.01


def test_pvalue_formula_and_ties():
    calib = np.array([1.0, 2.0, 2.0, 3.0])
    p = conformal_pvalues([2.0, 0.0, 5.0, 3.0], calib)
    # ties count as >= : 2.0 has three calibration scores >= it
    np.testing.assert_allclose(p, [(1 + 3) / 5, (1 + 4) / 5, 1 / 5, (1 + 1) / 5])


def test_empty_calibration_raises():
    with pytest.raises(InputError, match="calibration"):
        conformal_pvalues([1.0, 2.0], [])


def test_nan_scores_raise():
    with pytest.raises(InputError, match="non-finite"):
        conformal_pvalues([1.0, np.nan], [1.0, 2.0])


def test_bh_matches_statsmodels():
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 0.001, size=30), [0.5, 0.5, 0.5]])
    q = bh_qvalues(p)
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(q, expected, rtol=1e-12)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)
    assert q.max() <= 1.0


def test_bh_rejects_out_of_range():
    with pytest.raises(InputError, match="outside"):
        bh_qvalues([0.2, 1.5])


def test_labels_and_threshold_agree():
    rng = np.random.default_rng(3)
    calib = rng.normal(size=400)
    scores = np.concatenate([rng.normal(size=200), rng.normal(4, 0.5, size=40)])
    q = bh_qvalues(conformal_pvalues(scores, calib))
    lab = label_at(q, 0.05)
    assert list(lab.categories) == ["normal", "anomalous"]
    thr = score_threshold(scores, q, 0.05)
    np.testing.assert_array_equal(np.asarray(lab) == "anomalous", scores >= thr)
    assert 30 <= (np.asarray(lab) == "anomalous").sum() <= 45


def test_nothing_flagged_gives_infinite_threshold():
    q = np.ones(5)
    assert score_threshold(np.arange(5.0), q, 0.05) == float("inf")
    assert list(label_at(q).categories) == ["normal", "anomalous"]


@pytest.mark.parametrize("fdr", [0.0, 1.0, -0.1])
def test_bad_fdr(fdr):
    with pytest.raises(InputError, match="fdr"):
        label_at([0.1], fdr)


def test_uniformity_tells_uniform_from_shifted_pvalues():
    rng = np.random.default_rng(3)
    calib = rng.gamma(2.0, size=800)
    u = uniformity(conformal_pvalues(rng.gamma(2.0, size=400), calib))
    assert u["ks_p"] > 0.01 and abs(u["mean"] - 0.5) < 0.05 and 0.02 < u["frac_below_0.05"] < 0.09 and u["n"] == 400
    lower = uniformity(conformal_pvalues(0.75 * rng.gamma(2.0, size=400), calib))  # a section scoring lower: conservative
    assert lower["ks_p"] < 1e-6 and lower["mean"] > 0.55 and lower["frac_below_0.05"] < 0.03
    assert lower["ks_p_smaller"] > 0.5  # conservative is not the anti-conservative direction
    higher = uniformity(conformal_pvalues(1.4 * rng.gamma(2.0, size=400), calib))  # scoring higher: over-flagged
    assert higher["ks_p"] < 1e-4 and higher["ks_p_smaller"] < higher["ks_p"] and higher["frac_below_0.05"] > 0.08
    with pytest.raises(InputError, match="p-values"):
        uniformity([])


def _path_graph(n: int) -> sp.csr_matrix:
    edges = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], shape=(n, n))
    return sp.csr_matrix(edges)


def test_neighbourhood_mean_averages_over_hops():
    s = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    g = _path_graph(5)
    np.testing.assert_array_equal(neighbourhood_mean(s, g, hops=0), s)
    np.testing.assert_allclose(neighbourhood_mean(s, g, hops=1), [0, 1, 1, 1, 0])  # mean over self + neighbours
    two = neighbourhood_mean(s, g, hops=2)
    np.testing.assert_allclose(two, [0.5, 2 / 3, 1, 2 / 3, 0.5])
    assert neighbourhood_mean(np.ones(5), g * 3.0, hops=3) == pytest.approx(np.ones(5))  # edge weights ignored
    with pytest.raises(InputError, match="hops: -1 is negative"):
        neighbourhood_mean(s, g, hops=-1)
    with pytest.raises(InputError, match="shape \\(4, 4\\) does not match 5 scores"):
        neighbourhood_mean(s, _path_graph(4), hops=1)


def test_neighbourhood_mean_lowers_the_noise_of_healthy_spots():
    # a healthy section is noise: averaging 2 hops over a grid shrinks its spread, so a
    # contiguous anomaly stands out further above the healthy calibration tail
    rng = np.random.default_rng(0)
    n = 30
    grid = sp.kron(_path_graph(n), sp.identity(n)) + sp.kron(sp.identity(n), _path_graph(n))
    noise = rng.normal(size=n * n)
    assert neighbourhood_mean(noise, grid, hops=2).std() < 0.5 * noise.std()


def test_storey_pi0_and_adaptive_bh():
    rng = np.random.default_rng(1)
    null = rng.uniform(size=4000)
    assert storey_pi0(null) == pytest.approx(1.0, abs=0.06)
    mixed = np.concatenate([rng.uniform(size=1000), rng.uniform(0, 1e-4, size=3000)])  # 75% anomalous
    assert storey_pi0(mixed) == pytest.approx(0.25, abs=0.05)
    plain, adaptive = bh_qvalues(mixed), bh_qvalues(mixed, adaptive=True)
    np.testing.assert_allclose(adaptive, np.maximum(plain * storey_pi0(mixed), mixed))
    assert (adaptive <= 0.05).sum() >= (plain <= 0.05).sum()
    assert storey_pi0([]) == 1.0


def test_adaptive_bh_never_flags_a_spot_above_its_own_level():
    # a healthy section shifted as a whole: every p-value between 0.06 and 0.45, none above 0.5,
    # so pi0 is near 0; the adaptive q-values must not flag it wholesale
    p = np.random.default_rng(3).uniform(0.06, 0.45, size=400)
    assert storey_pi0(p) < 0.01
    q = bh_qvalues(p, adaptive=True)
    assert (q >= p).all() and not (q <= 0.05).any()


def test_adaptive_bh_controls_fdr_on_independent_pvalues():
    # 200 trials of 500 spots, 20% signal: the realised FDR of adaptive BH at 0.1 stays at most 0.1 on average
    rng = np.random.default_rng(2)
    fdp = []
    for _ in range(200):
        alt = np.arange(500) < 100
        p = np.where(alt, stats.norm.sf(rng.normal(3.0, 1.0, 500)), rng.uniform(size=500))
        flagged = bh_qvalues(p, adaptive=True) <= 0.1
        fdp.append((flagged & ~alt).sum() / max(flagged.sum(), 1))
    assert np.mean(fdp) <= 0.1
