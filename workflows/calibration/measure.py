"""Calibration on unseen healthy tissue and on SYN-BC-A..D, per method and preprocessing setting.

    python workflows/calibration/measure.py --cohort /tmp/syn_small --unseen /tmp/cal7 \
        --methods gene-svdd histo-svdd concat-svdd --epochs 8 [--combat] [--macenko] --out res.json

Trains each method on SYN-NB-A..H (demo light setting: small-cnn for histology), scores the
extra healthy sections SYN-NB-I.. (written with `synthetic.write_section` when missing) and
SYN-BC-A..D, and prints one JSON record per method: on the unseen healthy sections the
Kolmogorov-Smirnov statistic and p of the p-values against U(0, 1), the share with p < 0.05
and the spots flagged at q <= 0.05; on SYN-BC-A..D the AUROC, the calibrated F1 and the
spots flagged; and diagnostics of the calibration set (score quantiles per held-out section).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tissue_mib import io, metrics, tl
from tissue_mib.calibration import conformal_pvalues, uniformity
from tissue_mib.datasets import synthetic
from tissue_mib.settings import settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--unseen", type=Path, required=True)
    ap.add_argument("--unseen-names", nargs="+", default=["SYN-NB-I", "SYN-NB-J"])
    ap.add_argument("--methods", nargs="+", default=["gene-svdd", "histo-svdd", "concat-svdd"])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--combat", action="store_true")
    ap.add_argument("--macenko", action="store_true")
    ap.add_argument("--holdout", default="auto")
    ap.add_argument("--holdout-fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0, help="training seed (also picks the held-out sections)")
    ap.add_argument("--no-precise-bn", action="store_true", help="diagnostic: keep the running BatchNorm statistics of training")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings.progress = False
    if args.no_precise_bn:
        from tissue_mib.train import loop

        loop.refresh_batchnorm = lambda *a, **k: None

    manifest = synthetic.read_manifest(args.cohort)
    normal = [io.read(args.cohort / f"{n}.h5ad") for n in synthetic.NORMAL_SECTIONS]
    cancer = [io.read(args.cohort / f"{n}.h5ad") for n in synthetic.CANCER_SECTIONS]
    unseen = []
    for name in args.unseen_names:
        path = args.unseen / f"{name}.h5ad"
        if not path.exists():
            synthetic.write_section(args.unseen, name, small=manifest["size"] == "small", seed=manifest["seed"])
        unseen.append(io.read(path))
    prep = {"batch_correction": "combat" if args.combat else None,
            "stain_normalization": "macenko" if args.macenko else None}
    records = []
    for method in args.methods:
        t0 = time.perf_counter()
        model = tl.fit(normal, method=method, config={"modalities": {"histology": {"encoder": "small-cnn"}},
                                                "holdout": {"fraction": args.holdout_fraction}},
                       epochs=args.epochs, device="cpu", seed=args.seed, holdout=args.holdout, prep=prep)
        rec = {"method": method, "prep": prep, "epochs": args.epochs, "fit_s": round(time.perf_counter() - t0, 1),
               "holdout": {k: model.holdout[k] for k in ("mode", "fraction", "groups", "n_train", "n_holdout")},
               "best_epoch": model.history.best_epoch}
        cal = model.calibration
        rec["calibration"] = {"n": int(cal.size), "quantiles_50_90_99": np.quantile(cal, [0.5, 0.9, 0.99]).round(4).tolist()}
        rec["heldout"] = _heldout_cross(model, {n: a for n, a in zip(synthetic.NORMAL_SECTIONS, normal)})
        for a in unseen:
            scored = tl.score(a, model, copy=True)
            p = scored.obs["tissue_mib_pvalue"].to_numpy()
            s = scored.obs["tissue_mib_score"].to_numpy()
            rec[a.obs["library_id"].iloc[0]] = uniformity(p) | {
                "n_flagged": int((scored.obs["tissue_mib_label"] == "anomalous").sum()), "n_spots": int(a.n_obs),
                "score_quantiles_50_90_99": np.quantile(s, [0.5, 0.9, 0.99]).round(4).tolist()}
        bc = []
        for a in cancer:
            scored = tl.score(a, model, copy=True)
            m = metrics.evaluate_adata(scored, protocol="paper", n_boot=10)
            bc.append({k: m[k] for k in ("auroc", "f1_oracle", "f1_calibrated", "n_flagged", "n_anomalous", "n_spots")})
        rec["bc"] = bc
        rec["bc_mean"] = {k: float(np.mean([b[k] for b in bc])) for k in ("auroc", "f1_oracle", "f1_calibrated")}
        rec["bc_flagged"] = int(sum(b["n_flagged"] for b in bc))
        print(json.dumps(rec), flush=True)
        records.append(rec)
    if args.out:
        args.out.write_text(json.dumps(records, indent=1))


def _heldout_cross(model, sections: dict) -> dict:
    """Each held-out section scored as a new one (its scores must equal its calibration scores),
    and its p-values against the other held-out sections' scores only: how different two
    healthy sections, treated identically, are from each other."""
    held = model.holdout["holdout_sections"]
    scores = {n: tl.score(sections[n], model, copy=True).obs["tissue_mib_score"].to_numpy() for n in held}
    pooled = np.sort(np.concatenate([scores[n] for n in held]))
    out = {"scores_equal_calibration": bool(np.allclose(pooled, np.sort(model.calibration)))}
    for n in held:
        others = np.concatenate([scores[m] for m in held if m != n])
        if others.size:
            out[n] = uniformity(conformal_pvalues(scores[n], others))
    return out


if __name__ == "__main__":
    main()
