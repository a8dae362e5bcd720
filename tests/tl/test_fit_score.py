"""tl.fit -> TissueModel -> save/load -> tl.score on tiny generated sections."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from tissue_mib import tl
from tissue_mib.errors import InputError

TINY = {
    "modalities": {
        "genes": {"hidden_dim": 16, "out_dim": 16},
        "histology": {"encoder": "small-cnn", "channels": [4, 8], "out_dim": 16},
    },
    "params": {"latent_dim": 16},
    "train": {"batch_size": 64, "lr": 1e-3},
    "prep": {"patch_size": 8},
}
KEYS = ["tissue_mib_score", "tissue_mib_score_smoothed", "tissue_mib_pvalue", "tissue_mib_qvalue", "tissue_mib_label",
        "tissue_mib_score_genes", "tissue_mib_score_histology"]


@pytest.fixture(scope="module")
def multimodal(section_factory, tmp_path_factory):
    normal = [section_factory(f"N{i}", seed=i) for i in range(3)]
    out = tmp_path_factory.mktemp("models") / "concat"
    model = tl.fit(normal, method="concat-svdd", config=TINY, epochs=2, precision="fp32", device="cpu", out=out)
    return model, out


def test_fit_records_everything(multimodal):
    model, out = multimodal
    assert model.name == "concat-svdd" and model.modalities == ("genes", "histology")
    assert model.holdout["mode"] == "sections" and len(model.holdout["groups"]) == 1
    assert model.calibration.shape == (100,) and np.isfinite(model.calibration).all()
    assert len(model.holdout["holdout_obs_names"]) == 100
    assert [r["phase"] for r in model.history.records] == ["main", "main"]
    assert all(r["val_loss"] is not None for r in model.history.records)
    assert model.prep.patch_um == pytest.approx(55.0) and model.prep.patch_size == 8
    assert (out / "weights.safetensors").is_file()
    assert "concat-svdd" in model.summary()
    assert model.precision["resolved"] == "fp32" and "precision fp32 -> fp32 on cpu" in model.summary()


def test_score_writes_every_key(multimodal, section_factory, tmp_path):
    model, _ = multimodal
    test = section_factory("T", seed=7, anomalous=True)
    test.obsm["tissue_mib_patches"] = np.zeros((test.n_obs, 8, 8, 3), np.uint8)
    assert tl.score(test, model, fdr=0.1, smooth=2) is None
    for key in KEYS:
        assert key in test.obs
    s = test.obs["tissue_mib_score"].to_numpy()
    assert np.isfinite(s).all() and s.std() > 0
    p, q = test.obs["tissue_mib_pvalue"].to_numpy(), test.obs["tissue_mib_qvalue"].to_numpy()
    info = test.uns["tissue_mib"]
    assert 0 < info["pi0"] <= 1 and info["smooth_hops"] == 2
    assert 0 < info["pi0"] <= 1 and ((p > 0) & (p <= 1)).all() and (q >= p - 1e-12).all()  # adaptive BH: never below p
    # p-values are split-conformal: the score averaged over 2-hop neighbourhoods against the
    # model's calibration scores averaged alike over their own spot graph
    smoothed, calibration = test.obs["tissue_mib_score_smoothed"].to_numpy(), model.calibration_scores(hops=2)
    assert not np.allclose(smoothed, s) and not np.allclose(calibration, model.calibration)
    i = int(np.argmax(smoothed))
    assert p[i] == pytest.approx((1 + (calibration >= smoothed[i]).sum()) / (calibration.size + 1))
    label = test.obs["tissue_mib_label"]
    assert isinstance(label.dtype, pd.CategoricalDtype) and list(label.cat.categories) == ["normal", "anomalous"]
    assert ((label == "anomalous").to_numpy() == (q <= 0.1)).all()
    assert np.isnan(test.obs["tissue_mib_score_genes"]).all()  # concat-svdd has no per-modality heads
    assert test.obsm["tissue_mib_latent"].shape == (test.n_obs, 32)  # concatenation of two 16-d encoders
    assert "tissue_mib_patches" not in test.obsm
    assert info["method"] == "concat-svdd" and info["threshold_rule"] == "Storey-adaptive BH q <= fdr" and info["fdr"] == 0.1
    assert info["panel_hash"] == model.panel.hash and info["model_path"] and info["prep_cache_path"]
    flagged = (label == "anomalous").to_numpy()
    assert info["n_flagged"] == flagged.sum()
    if flagged.any():
        assert info["score_threshold"] == pytest.approx(smoothed[flagged].min())
    test.write_h5ad(tmp_path / "scored.h5ad")
    back = ad.read_h5ad(tmp_path / "scored.h5ad")
    assert back.uns["tissue_mib"]["method"] == "concat-svdd"
    np.testing.assert_array_equal(back.obs["tissue_mib_score"].to_numpy(), s)


def test_loaded_model_scores_identically(multimodal, section_factory):
    model, out = multimodal
    back = tl.TissueModel.load(out, method="concat-svdd")
    assert back.panel == model.panel and back.prep == model.prep and back.modalities == model.modalities
    assert back.precision == model.precision
    a = tl.score(section_factory("T", seed=7, anomalous=True), model, copy=True)
    b = tl.score(section_factory("T", seed=7, anomalous=True), back, copy=True)
    np.testing.assert_array_equal(a.obs["tissue_mib_score"].to_numpy(), b.obs["tissue_mib_score"].to_numpy())
    np.testing.assert_array_equal(a.obs["tissue_mib_qvalue"].to_numpy(), b.obs["tissue_mib_qvalue"].to_numpy())
    assert b.uns["tissue_mib"]["model_path"] == str(out)


def test_histology_model_rejects_a_section_without_image(multimodal, section_factory):
    model, _ = multimodal
    with pytest.raises(InputError, match="T.*no image"):
        tl.score(section_factory("T", image=False), model)


def test_spots_without_counts_are_left_unscored(multimodal, section_factory):
    model, _ = multimodal
    test = section_factory("T", seed=3)
    test.X[5] = 0
    test.X.eliminate_zeros()
    tl.score(test, model)
    assert np.isnan(test.obs["tissue_mib_score"].iloc[5]) and pd.isna(test.obs["tissue_mib_label"].iloc[5])
    assert np.isfinite(test.obs["tissue_mib_score"].drop(test.obs_names[5])).all()
    assert test.uns["tissue_mib"]["n_unscored"] == 1


def test_genes_only_with_blocks_holdout(section_factory):
    one = [section_factory("S", side=14, image=False, seed=2)]  # one section: spatial blocks; no image: genes only
    model = tl.fit(one, method="gene-svdd", config=TINY, epochs=1, precision="fp32", device="cpu")
    assert model.modalities == ("genes",)
    h = model.holdout
    assert h["mode"] == "blocks" and h["n_buffer"] > 0 and h["n_holdout"] == model.calibration.size
    test = section_factory("T", image=False, seed=8, anomalous=True)
    tl.score(test, model)
    assert np.isfinite(test.obs["tissue_mib_score"]).all()
    # the per-modality column is the genes head's SVDD distance (attribution), whatever the score rule
    assert model.score_rule == "knn" and np.isfinite(test.obs["tissue_mib_score_genes"]).all()
    assert np.isnan(test.obs["tissue_mib_score_histology"]).all()


def test_single_modality_model_reads_only_its_modality(section_factory):
    with_images = [section_factory(f"N{i}", seed=i) for i in range(3)]
    model = tl.fit(with_images, method="gene-svdd", config=TINY, epochs=1, precision="fp32", device="cpu")
    assert model.modalities == ("genes",)
    test = section_factory("T", image=False, seed=8)  # no image: fine for a genes-only model
    tl.score(test, model)
    assert np.isfinite(test.obs["tissue_mib_score"]).all()


def test_some_sections_without_image(section_factory):
    mixed = [section_factory("A", seed=1), section_factory("B", image=False, seed=2), section_factory("C", seed=3)]
    with pytest.raises(InputError, match="B: no image"):
        tl.fit(mixed, method="concat-svdd", config=TINY, epochs=1, device="cpu")


def test_bad_presets(section_factory, tmp_path):
    one = [section_factory("S", image=False)]
    with pytest.raises(InputError, match="unknown section"):
        tl.fit(one, method="gene-svdd", config={"optimiser": {}})
    with pytest.raises(InputError, match="unknown keys"):
        tl.fit(one, method="gene-svdd", config={"train": {"learning_rate": 1}})
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="not a model directory"):  # before any training
        tl.fit(one, method="gene-svdd", out=tmp_path / "notes")
    with pytest.raises(InputError, match="no-such-method"):
        tl.fit(one, method="no-such-method")
    with pytest.raises(InputError, match="holdout"):
        tl.fit(one, method="gene-svdd", config={"holdout": {"mode": "blocks"}})
    with pytest.raises(InputError, match="audio"):
        tl.fit(one, method="concat-svdd", modalities=("genes", "audio"))


def test_fit_is_deterministic_in_fp32(section_factory):
    one = [section_factory("S", side=12, image=False, seed=4)]
    runs = [tl.fit(one, method="gene-svdd", config=TINY, epochs=2, precision="fp32", device="cpu", seed=3)
            for _ in range(2)]  # fmt: skip
    a, b = (r.method.state_dict() for r in runs)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    np.testing.assert_array_equal(runs[0].calibration, runs[1].calibration)
    assert runs[0].holdout["holdout_rows"] == runs[1].holdout["holdout_rows"]


def test_score_several_sections_in_one_anndata(multimodal, section_factory):
    from tissue_mib import io

    model, _ = multimodal
    a, b = section_factory("T1", seed=7, anomalous=True), section_factory("T2", seed=8)
    both = io.concat([a, b])[::-1].copy()  # interleaved order must not matter
    tl.score(both, model)
    alone = tl.score(b, model, copy=True)
    rows = [f"T2_{n}" for n in b.obs_names]
    np.testing.assert_allclose(both.obs.loc[rows, "tissue_mib_score"], alone.obs["tissue_mib_score"], rtol=1e-5)
    p_all = both.obs["tissue_mib_pvalue"].to_numpy()
    assert np.isfinite(p_all).all() and both.uns["tissue_mib"]["n_unscored"] == 0


def test_scoring_in_chunks_equals_one_chunk(multimodal, section_factory, monkeypatch):
    """tl.score streams spots in chunks (settings.chunk_spots); tiny chunks of two interleaved sections
    give the one-chunk scores up to fp32 summation order."""
    from tissue_mib import io
    from tissue_mib.settings import settings

    model, _ = multimodal
    both = io.concat([section_factory("T1", seed=7, anomalous=True), section_factory("T2", seed=8)])[::-1].copy()
    monkeypatch.setattr(settings, "chunk_spots", both.n_obs)
    whole = tl.score(both, model, copy=True)
    monkeypatch.setattr(settings, "chunk_spots", 7)
    chunked = tl.score(both, model, copy=True)
    for key in ("tissue_mib_score", "tissue_mib_score_genes", "tissue_mib_score_histology", "tissue_mib_pvalue"):
        np.testing.assert_allclose(chunked.obs[key], whole.obs[key], rtol=1e-5, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(chunked.obsm["tissue_mib_latent"], whole.obsm["tissue_mib_latent"], rtol=1e-5, atol=1e-6)
