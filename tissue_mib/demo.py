"""The demo: synthetic cohort -> train several methods -> score SYN-BC-A..D -> table and maps.

Each model also scores eight healthy sections it never saw (SYN-NB-I..P, same generator, their
own random streams, always clean): the share of their spots flagged shows what the label-free
calls do on healthy tissue (docs/outputs.md: at most about 1% expected at fdr 0.05).
`contamination` makes that share of the healthy reference anomalous (`demo-data
--contamination`) and tells the training so (`TrainConfig.contamination`: the trimmed SVDD loss).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tissue_mib.lock import folder_lock
from tissue_mib.logs import step
from tissue_mib.utils import atomic_write, remove_partials

NORMAL = [f"SYN-NB-{c}" for c in "ABCDEFGH"]
CANCER = [f"SYN-BC-{c}" for c in "ABCD"]
UNSEEN = [f"SYN-NB-{c}" for c in "IJKLMNOP"]
METRICS_FILE = "demo_metrics.json"

# Light setting for a 2-core CPU (the default) and the paper-sized one (--full).
SETTINGS = {
    False: {"modalities": {"histology": {"encoder": "small-cnn"}}, "epochs": 8},
    True: {"modalities": {"histology": {"encoder": "resnet18", "stem": "cifar"}}, "epochs": 50},
}


def run_demo(
    *, out: Path, full: bool, methods: list[str], epochs: int | None, device: str, seed: int, folds: int = 1,
    smooth: int | None = None, precision: str = "auto", contamination: float = 0.0,
) -> tuple[list[dict], list[dict]]:
    """Run the demo end to end, holding the lock of `out`; returns (one metric record per method
    and SYN-BC section, one record per method and unseen healthy section: section, method,
    n_flagged, n_spots, flagged_pct)."""
    with folder_lock(out, what="demo folder"):
        remove_partials(out, [METRICS_FILE])
        return _run(out=Path(out), full=full, methods=methods, epochs=epochs, device=device, seed=seed, folds=folds,
                    smooth=smooth, precision=precision, contamination=contamination)  # fmt: skip


def _run(
    *, out: Path, full: bool, methods: list[str], epochs: int | None, device: str, seed: int, folds: int, smooth: int | None,
    precision: str, contamination: float,
) -> tuple[list[dict], list[dict]]:
    from tissue_mib import io, tl
    from tissue_mib.datasets import synthetic
    from tissue_mib.pipeline import score_sections

    cohort = out / ("cohort-full" if full else "cohort-small")
    # reuse the folder only if it holds this cohort (size, seed, contamination, generator version), not any older one
    unseen_dir = cohort / "unseen"
    if not synthetic.is_complete(cohort, small=not full, seed=seed, contamination=contamination):
        shutil.rmtree(unseen_dir, ignore_errors=True)  # written with the cohort's size and seed, or not kept
        synthetic.write_cohort(cohort, small=not full, seed=seed, contamination=contamination)
    with step(f"read {len(NORMAL)} healthy, {len(CANCER)} cancer and {len(UNSEEN)} unseen healthy sections") as line:
        normal = [io.read(cohort / f"{n}.h5ad") for n in NORMAL]
        cancer = [io.read(cohort / f"{n}.h5ad") for n in CANCER]
        unseen = [io.read(p if p.is_file() else synthetic.write_section(unseen_dir, n, small=not full, seed=seed))
                  for n, p in ((n, unseen_dir / f"{n}.h5ad") for n in UNSEEN)]  # fmt: skip
        line.detail = f"{', '.join(f'{sum(a.n_obs for a in group):,}' for group in (normal, cancer, unseen))} spots from {cohort}"

    setting = SETTINGS[full]
    records: list[dict] = []
    healthy: list[dict] = []
    for method in methods:
        model = tl.fit(
            normal,
            method=method,
            config={"modalities": setting["modalities"], "train": {"contamination": contamination}},
            epochs=epochs or setting["epochs"],
            device=device,
            precision=precision,
            seed=seed,
            folds=folds,
        )
        model.save(out / "models" / method)
        _, recs = score_sections(cancer, model, out_dir=out / "scored" / method, smooth=smooth, method_label=method)
        records.extend(recs)
        with step(f"score {len(unseen)} unseen healthy sections with {method}") as line:  # calls only: no truth to evaluate
            for scored in (tl.score(a, model, smooth=smooth, copy=True) for a in unseen):
                n_flagged = int((scored.obs["tissue_mib_label"] == "anomalous").sum())
                healthy.append({"method": method, "section": str(scored.obs["section"].iloc[0]), "n_flagged": n_flagged,
                                "n_spots": scored.n_obs, "flagged_pct": 100.0 * n_flagged / scored.n_obs})  # fmt: skip
            line.detail = ", ".join(f"{h['section']} {h['n_flagged']}/{h['n_spots']}" for h in healthy[-len(unseen):]) + " flagged"
    with atomic_write(out / METRICS_FILE) as tmp:
        tmp.write_text(json.dumps({"cancer": records, "unseen_healthy": healthy}, indent=2, default=float))
    return records, healthy
