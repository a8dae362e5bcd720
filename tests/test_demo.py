"""`tissue-mib demo` end to end on the small cohort: one method, one epoch, a fixed precision."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import yaml

from tissue_mib.demo import CANCER, NORMAL, UNSEEN, run_demo


def test_demo_trains_scores_and_records_the_precision_it_was_given(synthetic_cohort, tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "cohort-small").symlink_to(synthetic_cohort)  # the session's cohort: same size, seed and generator
    records, healthy = run_demo(out=out, full=False, methods=["gene-svdd"], epochs=1, device="cpu", seed=0,
                                precision="fp32")  # fmt: skip
    assert sorted(r["section"] for r in records) == sorted(CANCER)
    assert all(0.0 <= r["auroc"] <= 1.0 for r in records)
    assert [h["section"] for h in healthy] == list(UNSEEN) and all(h["n_spots"] > 0 for h in healthy)
    config = yaml.safe_load((out / "models" / "gene-svdd" / "config.yaml").read_text())
    assert config["precision"]["resolved"] == "fp32" and config["precision"]["requested"] == "fp32"
    saved = json.loads((out / "demo_metrics.json").read_text())
    assert len(saved["cancer"]) == len(CANCER) and len(saved["unseen_healthy"]) == len(UNSEEN)


def test_demo_with_an_impure_reference_writes_it_and_declares_it(tmp_path):
    out = tmp_path / "demo"
    run_demo(out=out, full=False, methods=["gene-svdd"], epochs=1, device="cpu", seed=0, precision="fp32", contamination=0.1)
    kinds = [ad.read_h5ad(out / "cohort-small" / f"{name}.h5ad").obs["anomaly_kind"] for name in NORMAL]
    share = float(np.mean(np.concatenate([k.astype(str).to_numpy() for k in kinds]) != "normal"))
    assert 0.08 < share < 0.12  # the healthy reference holds about 10% planted anomalies
    config = yaml.safe_load((out / "models" / "gene-svdd" / "config.yaml").read_text())
    assert config["train"]["contamination"] == 0.1  # declared to training: the trimmed loss
