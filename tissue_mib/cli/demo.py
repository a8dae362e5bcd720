"""`tissue-mib demo`: the whole loop on the built-in synthetic cohort."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from tissue_mib.checks import check_float
from tissue_mib.cli._common import at_least, echo_table, seed_in_range

DEMO_METHODS = ("omib", "ibma", "concat-svdd", "gene-svdd", "histo-svdd")


def demo(
    full: bool = typer.Option(False, "--full", help="The paper-sized setting: full cohort (8 x 2,000-3,000 spots), ResNet-18, more epochs."),
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Where the cohort, models, maps and tables go."),
    methods: str = typer.Option(",".join(DEMO_METHODS), "--methods", help="Comma-separated methods to train and compare."),
    epochs: int | None = typer.Option(None, "--epochs", callback=at_least(1, "--epochs"), help="Override the epochs of every method."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16 (encoders); auto: bf16 only where this machine runs it faster (docs/engine.md)."),
    seed: int = typer.Option(0, "--seed", callback=seed_in_range("--seed")),
    folds: int = typer.Option(1, "--folds", callback=at_least(1, "--folds"), help="Cross-fit each method K times (tissue-mib train --folds)."),
    contamination: float = typer.Option(0.0, "--contamination", callback=lambda v: check_float(v, name="--contamination", lo=0.0, hi=0.5, hi_open=True), help="Make this share of the healthy reference's spots anomalous (demo-data --contamination) and train with it declared (the trimmed SVDD loss; docs/outputs.md)."),
    smooth: int | None = typer.Option(None, "--smooth", callback=at_least(0, "--smooth"), help="Calls on scores averaged over N-hop neighbourhoods (tissue-mib score --smooth; default: 2 with --folds, else 0)."),
) -> None:
    """Write the synthetic cohort, train OMIB, IBMA and the baselines on SYN-NB-A..H, score SYN-BC-A..D,
    print AUROC/AP/F1 per section and method, and write anomaly maps.

    Examples:

      tissue-mib demo                      # about 3-5 minutes on a 2-core laptop CPU

      tissue-mib demo --full --device cuda

      tissue-mib demo --folds 4 --smooth 2     # cross-fitted calls (4x the training; docs/outputs.md)

      tissue-mib demo --folds 4 --contamination 0.1     # a 10%-impure healthy reference, declared
    """
    from tissue_mib.demo import run_demo

    start = time.perf_counter()
    records, healthy = run_demo(out=out, full=full, methods=[m for m in methods.split(",") if m], epochs=epochs,
                                device=device, precision=precision, seed=seed, folds=folds, smooth=smooth,
                                contamination=contamination)  # fmt: skip
    cols = ["method", "section", "auroc", "ap", "prevalence", "f1_oracle", "f1_calibrated", "n_flagged", "n_spots"]
    echo_table(records, cols, title="SYN-BC-A..D (f1_oracle flags exactly as many spots as are anomalous: an oracle; "
                                    "f1_calibrated: the label-free calls at fdr 0.05)")  # fmt: skip
    echo_table(healthy, ["method", "section", "n_flagged", "n_spots", "flagged_pct"],
               title="unseen healthy SYN-NB-I..P: spots flagged by the same calls (about 1% or less expected)")
    typer.echo(f"outputs in {out}  ({time.perf_counter() - start:.0f} s)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
