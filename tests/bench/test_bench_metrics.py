"""Benchmark metrics against scikit-learn and hand-made cases."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from tissue_mib.bench.metrics import accuracy, multilabel_auroc, sentiment_metrics
from tissue_mib.errors import InputError


def test_accuracy_is_argmax_agreement():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert accuracy(np.array([0, 1, 1]), probs) == pytest.approx(2 / 3)
    with pytest.raises(InputError):
        accuracy(np.array([0, 1]), probs)


def test_sentiment_metrics_match_definitions():
    rng = np.random.default_rng(0)
    y = np.round(rng.uniform(-3, 3, 300), 1)
    y[:15] = 0.0
    pred = y + rng.normal(0, 0.8, 300)
    m = sentiment_metrics(y, pred)
    nz = y != 0
    assert m["MAE"] == pytest.approx(np.mean(np.abs(y - pred)))
    assert m["Corr"] == pytest.approx(np.corrcoef(y, pred)[0, 1])
    assert m["Acc-2"] == pytest.approx(np.mean((y[nz] > 0) == (pred[nz] > 0)))
    assert m["F1"] == pytest.approx(f1_score(y[nz] > 0, pred[nz] > 0, average="weighted"))
    assert m["Acc-7"] == pytest.approx(np.mean(np.round(y) == np.round(np.clip(pred, -3, 3))))
    perfect = sentiment_metrics(y, y)
    assert perfect["MAE"] == 0 and perfect["Acc-2"] == 1 and perfect["Acc-7"] == 1


def test_multilabel_auroc_per_finding_and_mean():
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=(200, 3)) < 0.3).astype(float)
    probs = y * 0.5 + rng.uniform(size=(200, 3))
    out = multilabel_auroc(y, probs, ["a", "b", "c"])
    for j, name in enumerate("abc"):
        assert out[name] == pytest.approx(roc_auc_score(y[:, j], probs[:, j]))
    assert out["mAUC"] == pytest.approx(np.mean([out[n] for n in "abc"]))
    y[:, 2] = 0  # a finding absent from the split: NaN, left out of the mean
    out = multilabel_auroc(y, probs, ["a", "b", "c"])
    assert np.isnan(out["c"]) and out["mAUC"] == pytest.approx((out["a"] + out["b"]) / 2)
