"""Metrics: truth protocols, AUROC/AP against sklearn, bootstrap CI, oracle and calibrated F1, the table."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from tissue_mib.errors import InputError
from tissue_mib.metrics import (
    auroc,
    auroc_ci,
    average_precision,
    evaluate,
    evaluate_adata,
    f1_at,
    f1_oracle,
    format_table,
    truth,
)


def _adata(**cols):
    n = len(next(iter(cols.values())))
    return ad.AnnData(obs=pd.DataFrame(cols, index=[f"s{i}" for i in range(n)]))


def _data(seed=0, n=400, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.uniform(size=n) < 0.3
    s = rng.normal(size=n) + 1.2 * y
    return y, (np.round(s, 1) if ties else s)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_ap_match_sklearn(seed, ties):
    y, s = _data(seed, ties=ties)
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_auroc_ci_covers_and_is_seeded():
    y, s = _data(3)
    lo, hi = auroc_ci(y, s, n_boot=500, seed=7)
    assert lo < auroc(y, s) < hi
    assert 0.02 < hi - lo < 0.3
    assert (lo, hi) == auroc_ci(y, s, n_boot=500, seed=7)
    assert (lo, hi) != auroc_ci(y, s, n_boot=500, seed=8)
    # more spots, narrower interval
    y2, s2 = _data(3, n=4000)
    lo2, hi2 = auroc_ci(y2, s2, n_boot=300)
    assert hi2 - lo2 < (hi - lo) / 2


def test_one_class_raises():
    with pytest.raises(InputError, match="one class"):
        auroc(np.ones(5, bool), np.arange(5.0))


def test_f1_oracle_flags_as_many_as_true():
    y = np.array([1, 1, 0, 0, 0, 1], bool)
    s = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.7])
    # top 3 scores: 0.9 (T), 0.8 (F), 0.7 (T) -> tp 2, f1 = 4 / 6
    assert f1_oracle(y, s) == pytest.approx(2 / 3)
    assert f1_oracle(y, np.where(y, 1.0, 0.0)) == 1.0


def test_f1_at_matches_sklearn_and_accepts_labels():
    y, s = _data(4)
    flagged = s > 1.0
    assert f1_at(y, flagged) == pytest.approx(f1_score(y, flagged))
    labels = pd.Categorical(np.where(flagged, "anomalous", "normal"), categories=["normal", "anomalous"])
    assert f1_at(y, labels) == pytest.approx(f1_score(y, flagged))


def test_evaluate_record():
    y, s = _data(5)
    rec = evaluate(s, y, flagged=s > 1.0, n_boot=200)
    assert set(rec) == {"auroc", "auroc_ci", "ap", "prevalence", "f1_oracle", "f1_calibrated",
                        "n_spots", "n_anomalous", "n_flagged"}
    assert rec["n_spots"] == 400 and rec["n_anomalous"] == int(y.sum()) and rec["n_flagged"] == int((s > 1).sum())
    assert rec["prevalence"] == pytest.approx(y.mean())
    assert rec["auroc_ci"][0] < rec["auroc"] < rec["auroc_ci"][1]
    healthy = evaluate(s, np.zeros(400, bool), flagged=s > 2.5, n_boot=10)
    assert healthy["auroc"] is None and healthy["n_flagged"] == int((s > 2.5).sum()) and healthy["f1_calibrated"] == 0.0


def test_evaluate_leaves_out_unscored_spots():
    y, s = _data(7)
    flagged = s > 1.0
    s_nan = s.copy()
    s_nan[:5] = np.nan
    rec = evaluate(s_nan, y, flagged=flagged, n_boot=20)
    ref = evaluate(s[5:], y[5:], flagged=flagged[5:], n_boot=20)
    assert rec == ref and rec["n_spots"] == 395
    with pytest.raises(InputError, match="lengths differ"):
        evaluate(s, y[:-1])


def test_truth_synthetic():
    a = _adata(anomaly_kind=["normal", "genes", "histology", "both", "normal"])
    y, ev = truth(a, protocol="strict")
    assert y.tolist() == [False, True, True, True, False] and ev.all()


def test_truth_her2st_a1_protocols(shared_data):
    # the real A1 labels: 346 spots, 303 tumour, 5 undetermined (PROVENANCE.md)
    lab = pd.read_csv(shared_data / "her2st/pathologist_labels/A1_labeled_coordinates.tsv", sep="\t")
    lab = lab.dropna(subset=["x", "y"])
    lab.index = [f"{round(x)}x{round(y)}" for x, y in zip(lab["x"], lab["y"])]
    spots = pd.read_csv(shared_data / "her2st/counts/A1.tsv.gz", sep="\t", usecols=[0], index_col=0).index
    a = ad.AnnData(obs=pd.DataFrame({"pathologist_label": pd.Categorical(lab["label"].reindex(spots))}, index=spots))
    y, ev = truth(a, protocol="paper")
    assert ev.sum() == 346 and y.sum() == 303
    assert y.mean() == pytest.approx(0.876, abs=1e-3)  # DESIGN.md section 6, BC-A
    y, ev = truth(a, protocol="strict")
    assert ev.sum() == 341 and y.sum() == 303


def test_truth_missing_and_bad_labels():
    a = _adata(pathologist_label=["invasive cancer", None, "undetermined", "adipose tissue"])
    y, ev = truth(a, protocol="paper")
    assert ev.tolist() == [True, False, True, True] and y.tolist() == [True, False, False, False]
    with pytest.raises(InputError, match="pathologist_label.*tumor"):
        truth(_adata(pathologist_label=["tumor"]), protocol="paper")
    unlabelled = ad.AnnData(obs=pd.DataFrame({"tissue_mib_score": [0.5]}, index=["a"]))
    assert truth(unlabelled, protocol="paper") == (None, None)
    with pytest.raises(InputError, match="labels"):
        evaluate_adata(unlabelled, protocol="paper")
    with pytest.raises(InputError, match="protocol"):
        truth(a, protocol="loose")


def test_evaluate_adata_uses_evaluable_spots_and_labels():
    rng = np.random.default_rng(0)
    lab = rng.choice(["invasive cancer", "undetermined", "breast glands"], size=200)
    score = rng.normal(size=200) + (lab == "invasive cancer")
    a = _adata(pathologist_label=lab, tissue_mib_score=score,
               tissue_mib_label=pd.Categorical(np.where(score > 1.5, "anomalous", "normal")))
    strict = evaluate_adata(a, protocol="strict", n_boot=50)
    paper = evaluate_adata(a, protocol="paper", n_boot=50)
    assert paper["n_spots"] == 200 and strict["n_spots"] == int((lab != "undetermined").sum())
    assert strict["protocol"] == "strict" and strict["n_flagged"] == int(((score > 1.5) & (lab != "undetermined")).sum())


def test_format_table_says_oracle_and_prevalence():
    y, s = _data(6)
    rec = {"section": "BC-A", "method": "omib", **evaluate(s, y, n_boot=50)}
    text = format_table([rec, {"section": "BC-B", "method": "knn", **evaluate(s, np.zeros_like(y), n_boot=5)}])
    header = text.splitlines()[0]
    assert "prev." in header and "F1 oracle*" in header and "AUROC" in header
    assert "oracle" in text.splitlines()[-3] and "prevalence" in text
    assert f"{rec['auroc']:.3f}" in text and "BC-B" in text
