"""The models' gene inputs: per-gene z-scores against the healthy reference, optionally its principal axes."""

from __future__ import annotations

import numpy as np
import pytest

from tissue_mib import pp
from tissue_mib.errors import InputError
from tissue_mib.pp.benchmark import synthetic_section
from tissue_mib.pp.panel import GenePanel
from tissue_mib.tl.tensors import model_genes, to_data


def _panel(n_genes=4, **kw):
    return GenePanel(genes=tuple(f"G{i}" for i in range(n_genes)), gene_ids=("",) * n_genes, **kw)


def test_scale_is_a_clipped_z_score_with_the_reference():
    panel = _panel(3, reference_mean=(1.0, 0.0, 2.0), reference_std=(2.0, 0.0, 0.01))
    z = panel.scale(np.array([[3.0, 5.0, 3.0]]))
    # (3-1)/2 = 1; sd 0 -> centred only; (3-2)/0.01 = 100 clipped to 10, as sc.pp.scale(max_value=10)
    np.testing.assert_allclose(z, [[1.0, 5.0, 10.0]])
    assert z.dtype == np.float32


def test_scale_needs_reference_and_matching_width():
    with pytest.raises(InputError, match="no reference"):
        _panel().scale(np.zeros((2, 4)))
    with pytest.raises(InputError, match="3 genes"):
        _panel(reference_mean=(0,) * 4, reference_std=(1,) * 4).scale(np.zeros((2, 3)))


def test_pca_axes_round_trip_and_project_the_scaled_genes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    panel = _panel(6, reference_mean=tuple(X.mean(0)), reference_std=tuple(X.std(0))).with_pca(X, 3)
    assert panel.n_pcs == 3 and panel.n_inputs == 3
    back = GenePanel.from_dict(panel.to_dict())
    assert back == panel and back.hash == _panel(6).hash  # the hash names the genes, not the statistics
    proj = back.model_inputs(X)
    assert proj.shape == (200, 3)
    # the leading axis carries the most variance of the scaled genes, and the axes are orthonormal
    components = np.asarray(panel.pca_components).reshape(3, 6)
    np.testing.assert_allclose(components @ components.T, np.eye(3), atol=1e-6)
    assert proj[:, 0].var() >= proj[:, 1].var() >= proj[:, 2].var()


def test_prepared_genes_reach_the_model_scaled_and_projected():
    sections = [synthetic_section(f"S{i}", n_spots=120, n_genes=300, seed=i) for i in range(2)]
    prepared, panel = pp.prepare(sections, config=pp.PrepConfig(n_top_genes=200), use_cache=False)
    x = model_genes(prepared)
    # z-scores with the training cohort's own statistics: mean 0, sd 1 per gene (before clipping)
    assert abs(float(x.mean())) < 0.05 and 0.8 < float(x.std()) <= 1.0 + 1e-4
    np.testing.assert_allclose(to_data(prepared, ("genes",), graph=False).modalities["genes"], x)

    raw = pp.prepare(sections, config=pp.PrepConfig(n_top_genes=200, scale=False), use_cache=False)[0]
    np.testing.assert_array_equal(model_genes(raw), np.asarray(raw.X))

    pcs, pca_panel = pp.prepare(sections, config=pp.PrepConfig(n_top_genes=200, n_pcs=20), use_cache=False)
    assert pca_panel.n_pcs == 20 and model_genes(pcs).shape == (prepared.n_obs, 20)
    # a new section is projected with the training cohort's axes
    new = pp.prepare(synthetic_section("NEW", n_spots=50, n_genes=300, seed=9), panel=pca_panel,
                     config=pp.PrepConfig(n_top_genes=200, n_pcs=20), use_cache=False)[0]
    assert model_genes(new).shape == (50, 20)


@pytest.mark.parametrize("bad", [{"n_pcs": 0}, {"n_pcs": 10, "scale": False}])
def test_bad_pca_settings_are_input_errors(bad):
    with pytest.raises(InputError, match="n_pcs"):
        pp.PrepConfig(**bad)


def test_scale_option_from_yaml_strings():
    assert pp.PrepConfig.from_dict({"scale": "false"}).scale is False
    assert pp.PrepConfig.from_dict({"scale": True, "n_pcs": "50"}).n_pcs == 50
    with pytest.raises(InputError, match="true or false"):
        pp.PrepConfig.from_dict({"scale": "maybe"})
