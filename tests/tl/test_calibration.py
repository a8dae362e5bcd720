"""Thresholds without labels on healthy tissue the model never saw (issue 7, DESIGN.md section 5).

gene-svdd trained on SYN-NB-A..H of the small synthetic cohort scores extra healthy sections
written with the same generator (SYN-NB-I, SYN-NB-J). Held out by whole sections, the
calibration must not be anti-conservative there (no over-flagging of healthy tissue) and the
p-values must be close to uniform; held out by spatial blocks of the training sections, it is
anti-conservative (the blocks share their section's batch effect with the training spots).
Exact per-section uniformity (a two-sided KS p-value) is not asserted: two held-out healthy
sections treated identically already differ by a KS statistic of about 0.13 (section batch
effects; docs/outputs.md), which a KS test on ~400 spots detects.
"""

from __future__ import annotations

import numpy as np
import pytest

from tissue_mib import io, pp, tl
from tissue_mib.calibration import uniformity
from tissue_mib.datasets import synthetic

GENES = {"train": {"batch_size": 128}}  # gene-svdd's defaults: GCN 256-d, Adam lr 1e-4, wd 0.1
EPOCHS = 8
UNSEEN = ("SYN-NB-I", "SYN-NB-J")


def _fit(cohort, *, epochs=EPOCHS, **kw):
    normal = [io.read(cohort / f"{name}.h5ad") for name in synthetic.NORMAL_SECTIONS]
    return tl.fit(normal, method="gene-svdd", epochs=epochs, precision="fp32", device="cpu", seed=0, **kw)


@pytest.fixture(scope="module", params=["centre", "knn"])
def gene_model(synthetic_cohort, request):
    return _fit(synthetic_cohort, config={**GENES, "score": request.param})


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    out = tmp_path_factory.mktemp("unseen")
    return [io.read(synthetic.write_section(out, name, small=True, seed=0)) for name in UNSEEN]


def _pvalues(adata, model, **kw) -> tuple[dict, float]:
    scored = tl.score(adata, model, copy=True, **kw)
    flagged = float((scored.obs["tissue_mib_label"] == "anomalous").mean())
    return uniformity(scored.obs["tissue_mib_pvalue"].to_numpy()), flagged


def test_unseen_healthy_sections_are_not_over_flagged(gene_model, unseen):
    # the default calls (per-spot p-values, Storey-adaptive BH) flag under 1% of a healthy
    # section, and the per-spot p-values are close to uniform
    assert gene_model.holdout["mode"] == "sections" and len(gene_model.holdout["holdout_sections"]) == 2
    for adata in unseen:
        u, flagged = _pvalues(adata, gene_model)
        name = adata.obs["library_id"].iloc[0]
        if gene_model.score_rule == "centre":
            # under the knn rule one of the two sections' p-values sit below uniform (KS 0.17, section
            # offset; docs/outputs.md, issue 16) while its calls stay within the bounds below
            assert u["ks_p_smaller"] > 0.01, f"{name}: p-values smaller than uniform (anti-conservative): {u}"
        assert u["ks"] < 0.25 and u["frac_below_0.05"] < 0.08, f"{name}: p-values far from uniform: {u}"
        assert flagged < 0.02, f"{name}: {flagged:.1%} of a healthy section flagged"


def test_block_holdout_is_anti_conservative_on_a_new_section(synthetic_cohort, unseen):
    blocks = _fit(synthetic_cohort, config=GENES, holdout="blocks", epochs=4)  # as clear at 4 epochs as at 8
    u, _ = _pvalues(unseen[1], blocks)
    assert u["ks_p_smaller"] < 0.01 and u["mean"] < 0.45, u


@pytest.mark.parametrize("gene_model", ["centre"], indirect=True)  # knn flags none here: issue 16, docs/outputs.md
def test_planted_gene_anomalies_are_flagged(gene_model, synthetic_cohort):
    scored = tl.score(io.read(synthetic_cohort / "SYN-BC-C.h5ad"), gene_model, copy=True)
    flagged = (scored.obs["tissue_mib_label"] == "anomalous").to_numpy()
    kind = scored.obs["anomaly_kind"].astype(str).to_numpy()
    assert flagged.sum() >= 50
    assert np.isin(kind[flagged], ["genes", "both"]).mean() > 0.9  # the flags land on gene anomalies


def test_held_out_sections_score_as_new_sections(synthetic_cohort):
    # with ComBat: the held-out sections are prepared apart, moved to the training sections'
    # reference like any new section, so scoring one of them reproduces its calibration scores
    tiny = {"modalities": {"genes": {"hidden_dim": 16, "out_dim": 16}}, "params": {"latent_dim": 16}}
    model = _fit(synthetic_cohort, config=tiny, prep={"batch_correction": "combat"}, epochs=1)
    held = model.holdout["holdout_sections"]
    scores = [tl.score(io.read(synthetic_cohort / f"{name}.h5ad"), model, copy=True).obs["tissue_mib_score"]
              for name in held]  # fmt: skip
    np.testing.assert_allclose(np.sort(np.concatenate(scores)), np.sort(model.calibration), rtol=1e-5)
    assert model.holdout["sections"] == list(synthetic.NORMAL_SECTIONS) and set(held) < set(synthetic.NORMAL_SECTIONS)


def test_prep_cache_tells_panels_with_other_references_apart(section_factory):
    # ComBat moves a new section to the panel's reference statistics; a cached result prepared
    # with another reference (same genes, same hash) must not be reused
    cohort, _ = pp.prepare([section_factory(f"N{i}", seed=i, image=False) for i in range(3)],
                           config=pp.PrepConfig(batch_correction="combat"))  # fmt: skip
    panel = pp.GenePanel.from_dict(cohort.uns["tissue_mib_prep"]["panel"])
    shifted = pp.GenePanel(genes=panel.genes, gene_ids=panel.gene_ids, batch_corrected=True,
                           reference_mean=tuple(m + 1.0 for m in panel.reference_mean),
                           reference_std=panel.reference_std)  # fmt: skip
    assert shifted.hash == panel.hash
    new = section_factory("T", seed=9, image=False)
    config = pp.PrepConfig.from_dict(cohort.uns["tissue_mib_prep"]["config"])
    a, _ = pp.prepare(new, panel=panel, config=config)
    b, _ = pp.prepare(new, panel=shifted, config=config)
    np.testing.assert_allclose(np.asarray(b.X).mean(0), np.asarray(a.X).mean(0) + 1.0, atol=1e-4)
