"""The trimmed SVDD loss for an impure healthy reference (TrainConfig.contamination)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.methods import build_method
from tissue_mib.methods.base import trimmed_mean
from tissue_mib.train import MultiModalData, TrainConfig, fit, predict


def test_trimmed_mean_leaves_out_the_largest_share():
    v = torch.tensor([1.0, 2.0, 3.0, 100.0])
    assert float(trimmed_mean(v, 0.0)) == pytest.approx(26.5)
    assert float(trimmed_mean(v, 0.25)) == pytest.approx(2.0)
    assert float(trimmed_mean(v[:1], 0.49)) == pytest.approx(1.0)  # at least one value is kept


def test_trimmed_rows_get_no_gradient():
    v = torch.tensor([1.0, 2.0, 3.0, 100.0], requires_grad=True)
    trimmed_mean(v, 0.25).backward()
    np.testing.assert_allclose(v.grad.numpy(), [1 / 3, 1 / 3, 1 / 3, 0.0])


@pytest.mark.parametrize("bad", [-0.1, 0.5, 0.9])
def test_contamination_out_of_range_is_an_input_error(bad):
    with pytest.raises(InputError, match="contamination"):
        TrainConfig(contamination=bad)
    assert TrainConfig.from_dict({"contamination": 0.1}).contamination == 0.1


def _svdd_scores(contamination: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """gene-svdd (MLP) on 90% inliers near 0 plus 10% outliers far away; scores of fresh inliers and outliers."""
    rng = np.random.default_rng(seed)
    inliers = rng.normal(size=(540, 8)).astype(np.float32)
    outliers = (rng.normal(size=(60, 8)) + 6.0).astype(np.float32)
    train = MultiModalData(modalities={"genes": np.concatenate([inliers, outliers])})
    torch.manual_seed(seed)
    model = build_method("gene-svdd", modalities={"genes": {"encoder": "mlp", "in_dim": 8}}, task={"kind": "svdd"})
    fit(model, train, config=TrainConfig(epochs=15, lr=1e-3, weight_decay=1e-4, precision="fp32", seed=seed,
                                         patience=None, contamination=contamination))  # fmt: skip
    test = MultiModalData(modalities={"genes": np.concatenate([rng.normal(size=(200, 8)),
                                                               rng.normal(size=(200, 8)) + 6.0]).astype(np.float32)})
    scores = predict(model, test, config=TrainConfig(precision="fp32"))["score"]
    return scores[:200], scores[200:]


def test_trimmed_loss_keeps_the_reference_outliers_outside():
    """With 10% anomalies in the reference, the untrimmed loss pulls them in; trimming keeps them
    farther from the centre than the inliers by a wider margin."""
    gap = {}
    for c in (0.0, 0.15):
        normal, anomalous = _svdd_scores(c)
        gap[c] = float(np.median(anomalous) / np.median(normal))
    assert gap[0.15] > gap[0.0]
