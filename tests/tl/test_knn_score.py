"""The `knn` score rule: distance to the nearest training spots in the model's latent space."""

from __future__ import annotations

import numpy as np
import pytest

from tissue_mib import tl
from tissue_mib.errors import InputError
from tissue_mib.tl.model import knn_neighbours, latent_knn, reference_rows

TINY_GENES = {"modalities": {"genes": {"hidden_dim": 16, "out_dim": 16}}, "params": {"latent_dim": 16},
              "train": {"batch_size": 64, "lr": 1e-3}}


def test_latent_knn_is_the_mean_distance_to_the_k_nearest():
    reference = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [10.0, 10.0]])
    got = latent_knn(np.array([[0.0, 0.0], [10.0, 10.0]]), reference, k=2)
    np.testing.assert_allclose(got, [0.5, np.hypot(10, 8) / 2], rtol=1e-6)


def test_reference_rows_caps_the_bank_reproducibly(monkeypatch):
    monkeypatch.setattr("tissue_mib.tl.model.MAX_REFERENCE", 5)
    latent = np.arange(40, dtype=np.float32).reshape(20, 2)
    a, b = reference_rows(latent, seed=1), reference_rows(latent, seed=1)
    assert a.shape == (5, 2) and np.array_equal(a, b) and a.dtype == np.float32


def test_knn_model_scores_calibrates_and_round_trips(section_factory, tmp_path):
    normal = [section_factory(f"N{i}", seed=i) for i in range(3)]
    model = tl.fit(normal, method="gene-svdd", modalities=("genes",), config={**TINY_GENES, "score": "knn"}, epochs=2,
                   precision="fp32", device="cpu", out=tmp_path / "m")  # fmt: skip
    assert model.score_rule == "knn" and model.reference_latent.shape[1] == 16
    assert model.knn_k == max(10, round(0.1 * len(model.reference_latent)))  # DEFAULT_KNN_FRACTION of the reference
    # calibration: held-out healthy spots scored by the same rule, exchangeable with a new section's scores
    assert model.calibration.shape == (100,) and np.isfinite(model.calibration).all() and (model.calibration > 0).all()
    assert (tmp_path / "m" / "reference_latent.npy").is_file()
    new = section_factory("NEW", seed=7)
    scored = tl.score(new, model, copy=True)
    latent = scored.obsm["tissue_mib_latent"]
    np.testing.assert_allclose(scored.obs["tissue_mib_score"], latent_knn(latent, model.reference_latent, k=model.knn_k),
                               rtol=1e-6)
    loaded = tl.TissueModel.load(tmp_path / "m")
    assert loaded.score_rule == "knn" and loaded.knn_k == model.knn_k
    np.testing.assert_allclose(tl.score(new, loaded, copy=True).obs["tissue_mib_score"], scored.obs["tissue_mib_score"],
                               rtol=1e-5)  # fmt: skip


def test_knn_neighbours_is_a_share_of_the_reference_within_bounds():
    assert knn_neighbours(2577, 0.1) == 258 and knn_neighbours(2577, 0.0) == 10
    assert knn_neighbours(50, 0.1) == 10 and knn_neighbours(6, 0.1) == 6


def test_a_wide_knn_ignores_a_small_contaminating_cluster():
    """A cluster of anomalies in the reference makes the same anomaly look typical to the 10
    nearest, not to a tenth of the reference (the point of DEFAULT_KNN_FRACTION)."""
    rng = np.random.default_rng(0)
    healthy, contaminant = rng.normal(0, 1, (900, 4)), rng.normal(6, 0.3, (60, 4))
    reference = np.vstack([healthy, contaminant])
    test_healthy, test_anomaly = rng.normal(0, 1, (50, 4)), rng.normal(6, 0.3, (50, 4))
    for k, inverted in ((10, True), (knn_neighbours(len(reference), 0.1), False)):
        h, a = latent_knn(test_healthy, reference, k=k), latent_knn(test_anomaly, reference, k=k)
        assert (np.median(a) < np.median(h)) == inverted


def test_unknown_score_rule_is_an_input_error(section_factory):
    with pytest.raises(InputError, match="score 'median' unknown"):
        tl.fit([section_factory("N0", seed=0)], method="gene-svdd", modalities=("genes",), config=TINY_GENES,
               epochs=1, score="median")  # fmt: skip
