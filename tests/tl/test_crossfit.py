"""Cross-fitted models (`tl.fit(folds=K)`): every training section calibrates, cross-conformal p-values."""

from __future__ import annotations

import numpy as np
import pytest

from tissue_mib import io, tl
from tissue_mib.calibration import conformal_pvalues, cross_conformal_pvalues, neighbourhood_mean
from tissue_mib.datasets import synthetic
from tissue_mib.errors import InputError

TINY = {"modalities": {"genes": {"hidden_dim": 16, "out_dim": 16}}, "params": {"latent_dim": 16}}


@pytest.fixture(scope="module")
def normal(synthetic_cohort):
    return [io.read(synthetic_cohort / f"{name}.h5ad") for name in synthetic.NORMAL_SECTIONS]


@pytest.fixture(scope="module")
def crossfit(normal):
    return tl.fit(normal, method="gene-svdd", config=TINY, epochs=2, precision="fp32", device="cpu", seed=0, folds=4)


def test_every_section_calibrates_once(crossfit):
    assert isinstance(crossfit, tl.CrossFitModel) and len(crossfit.members) == 4
    held = [m.holdout["holdout_sections"] for m in crossfit.members]
    assert all(len(h) == 2 for h in held)
    assert sorted(s for h in held for s in h) == sorted(synthetic.NORMAL_SECTIONS)
    assert crossfit.calibration.size == sum(m.calibration.size for m in crossfit.members)
    assert all(m.calibration_edges is not None for m in crossfit.members)
    assert "cross-fitted gene-svdd: 4 models" in crossfit.summary()


def test_score_is_cross_conformal_and_survives_a_round_trip(crossfit, synthetic_cohort, tmp_path):
    section = io.read(synthetic_cohort / "SYN-BC-C.h5ad")
    scored = tl.score(section, crossfit, smooth=2, copy=True)
    info = scored.uns["tissue_mib"]
    assert info["n_models"] == 4 and info["n_calibration"] == crossfit.calibration.size
    graph = scored.obsp["spatial_connectivities"]
    singles = [tl.score(section, m, smooth=0, copy=True).obs["tissue_mib_score"].to_numpy() for m in crossfit.members]
    np.testing.assert_allclose(scored.obs["tissue_mib_score"], np.mean(singles, axis=0), rtol=1e-6)
    smoothed = [neighbourhood_mean(s, graph, hops=2) for s in singles]
    expected = cross_conformal_pvalues(smoothed, [m.calibration_scores(hops=2) for m in crossfit.members])
    np.testing.assert_allclose(scored.obs["tissue_mib_pvalue"], expected)

    path = crossfit.save(tmp_path / "cf")
    assert sorted(p.name for p in path.iterdir()) == ["crossfit.json", "fold-1", "fold-2", "fold-3", "fold-4"]
    back = tl.load_model(path)
    assert isinstance(back, tl.CrossFitModel) and [m.path.name for m in back.members] == ["fold-1", "fold-2", "fold-3", "fold-4"]
    again = tl.score(section, back, smooth=2, copy=True)
    np.testing.assert_allclose(again.obs["tissue_mib_pvalue"], scored.obs["tissue_mib_pvalue"])
    assert isinstance(tl.load_model(path / "fold-1"), tl.TissueModel)


def test_unseen_healthy_sections_are_not_over_flagged(crossfit, tmp_path):
    for name in ("SYN-NB-I", "SYN-NB-J"):
        scored = tl.score(io.read(synthetic.write_section(tmp_path, name, small=True, seed=0)), crossfit, smooth=2,
                          copy=True)  # fmt: skip
        assert (scored.obs["tissue_mib_label"] == "anomalous").mean() < 0.01, name


def test_folds_must_leave_each_model_half_the_sections(normal):
    with pytest.raises(InputError, match="folds = 5: cross-fitting 8 section\\(s\\) needs 2 <= folds <= 4"):
        tl.fit(normal, method="gene-svdd", config=TINY, epochs=1, folds=5)


def test_cross_conformal_pvalues():
    rng = np.random.default_rng(0)
    s, c = rng.normal(size=50), rng.normal(size=200)
    np.testing.assert_allclose(cross_conformal_pvalues([s], [c]), conformal_pvalues(s, c))
    a, b = np.array([0.0, 5.0]), np.array([1.0, -5.0])
    ca, cb = np.array([-1.0, 1.0, 2.0]), np.array([0.0, 3.0])
    # spot 0: #{ca >= 0} = 2, #{cb >= 1} = 1; spot 1: 0 + 2; n = 5
    np.testing.assert_allclose(cross_conformal_pvalues([a, b], [ca, cb]), [(1 + 3) / 6, (1 + 2) / 6])
    with pytest.raises(InputError, match="2 score sets for 1 calibration sets"):
        cross_conformal_pvalues([a, b], [ca])
