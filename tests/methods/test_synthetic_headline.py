"""The issue's headline: on the small synthetic cohort, OMIB and IBMA (trained on SYN-NB-A..H
through `tl.fit`, scored with `tl.score`) beat gene-svdd and histo-svdd on SYN-BC-A..D and
reach a mean AUROC above 0.85 (small CNN, 4 epochs, the papers' optimiser: Adam, lr 1e-4,
weight decay 0.1, batch 128; its time is a figure for `bench`, not asserted here); and their per-modality scores
attribute the gene-only anomalies to genes and the histology-only ones to histology."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from tissue_mib import io, tl
from tissue_mib.datasets.synthetic import CANCER_SECTIONS, NORMAL_SECTIONS
from tissue_mib.metrics import auroc, truth

EPOCHS = 4
METHODS = ("gene-svdd", "histo-svdd", "omib", "ibma")
PRESET = {
    "modalities": {"histology": {"encoder": "small-cnn", "channels": [16, 32, 64]}},
    "train": {"lr": 1e-4, "weight_decay": 0.1, "batch_size": 128, "patience": None},
}
PARAMS = {"omib": {"mine_steps": 200}}


def _epochs(name: str):
    return {"warmup": 1, "main": EPOCHS} if name == "omib" else EPOCHS


@pytest.fixture(scope="module")
def mean_aurocs(synthetic_cohort):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors on shared cores: one thread is fastest
    start = time.perf_counter()
    normal = [io.read(synthetic_cohort / f"{n}.h5ad") for n in NORMAL_SECTIONS]
    cancer = [io.read(synthetic_cohort / f"{n}.h5ad") for n in CANCER_SECTIONS]
    out = {}
    for name in METHODS:
        preset = {**PRESET, "train": {**PRESET["train"], "epochs": _epochs(name)}, "params": PARAMS.get(name, {})}
        model = tl.fit(normal, method=name, config=preset, device="cpu", precision="fp32", seed=0)
        per_section, obs = [], []
        for section in cancer:
            tl.score(section, model)
            y, _ = truth(section, protocol="paper")
            per_section.append(auroc(y, section.obs["tissue_mib_score"].to_numpy()))
            obs.append(section.obs.copy())
        out[name] = (float(np.mean(per_section)), np.round(per_section, 3).tolist())
        out[f"{name} obs"] = obs
    out["seconds"] = time.perf_counter() - start
    print({k: v for k, v in out.items() if not k.endswith("obs")})  # shown with pytest -s
    torch.set_num_threads(threads)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["omib", "ibma"])
def test_fusion_beats_single_modalities(name, mean_aurocs):
    fused, _ = mean_aurocs[name]
    baseline = max(mean_aurocs["gene-svdd"][0], mean_aurocs["histo-svdd"][0])
    assert fused > 0.85, mean_aurocs
    assert fused > baseline, mean_aurocs


@pytest.mark.slow
def test_every_method_scores_and_each_baseline_beats_chance(mean_aurocs):
    for name in METHODS:
        assert 0.0 <= mean_aurocs[name][0] <= 1.0
    # each baseline finds its own modality's anomalies: better than chance
    assert mean_aurocs["gene-svdd"][0] > 0.6 and mean_aurocs["histo-svdd"][0] > 0.6, mean_aurocs


def _percentile_among_normal(obs, column):
    """Each spot's score as the fraction of the section's normal spots scoring below it."""
    normal = np.sort(obs.loc[obs["anomaly_kind"] == "normal", column].to_numpy())
    return np.searchsorted(normal, obs[column].to_numpy()) / len(normal)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["omib", "ibma"])
def test_per_modality_scores_attribute_each_anomaly_kind(name, mean_aurocs):
    """A gene-only anomaly stands out more in score_genes than in score_histology (each as a
    percentile among the section's normal spots), a histology-only one the other way round."""
    share = {"genes": [], "histology": []}
    for obs in mean_aurocs[f"{name} obs"]:
        genes = _percentile_among_normal(obs, "tissue_mib_score_genes")
        histology = _percentile_among_normal(obs, "tissue_mib_score_histology")
        kind = obs["anomaly_kind"].astype(str).to_numpy()
        share["genes"].extend(genes[kind == "genes"] > histology[kind == "genes"])
        share["histology"].extend(histology[kind == "histology"] > genes[kind == "histology"])
    assert np.mean(share["genes"]) > 0.75, share
    assert np.mean(share["histology"]) > 0.75, share
