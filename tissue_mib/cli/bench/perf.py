"""`tissue-mib bench perf`: speed figures on this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from tissue_mib.cli._common import echo_table


def perf(
    quick: bool = typer.Option(False, "--quick", help="Small sizes (seconds): checks the benchmark runs."),
    method: str = typer.Option("omib", "--method"),
    histology_encoder: str = typer.Option("small-cnn", "--histology-encoder", help="small-cnn, resnet18, ..."),
    device: str = typer.Option("auto", "--device"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the figures as JSON here."),
) -> None:
    """Patches/s from an in-memory image, preprocessing time of an 8 x 2,500-spot cohort, and
    training/scoring spots/s in fp32 and bf16.

    Examples:

      tissue-mib bench perf

      tissue-mib bench perf --histology-encoder resnet18 --device cuda
    """
    from tissue_mib.bench.perf import perf_training
    from tissue_mib.pp.benchmark import perf_patches, perf_prepare
    from tissue_mib.utils import atomic_write

    n_spots = 300 if quick else 2500
    patches = perf_patches(n_patches=2000 if quick else 20_000, repeats=1 if quick else 3)
    prep = perf_prepare(n_sections=2 if quick else 8, n_spots=n_spots, n_genes=2000 if quick else 15_000)
    training = perf_training(method=method, histology_encoder=histology_encoder, n_spots=n_spots,
                             n_genes=500 if quick else 3000, device=device)  # fmt: skip
    typer.echo(f"machine: {os.cpu_count()} CPU cores, load average {patches['load_avg_1min']:.1f}")
    typer.echo(f"patches: {patches['patches_per_s']:,.0f} patches/s ({patches['n_patches']} patches, {patches['size']}x{patches['size']} px)")
    typer.echo(f"prepare: {prep['n_sections']} x {prep['n_spots']} spots in {prep['seconds']:.1f} s "
               f"({prep['seconds_cached']:.1f} s from the cache)")  # fmt: skip
    echo_table(training, ["bench", "precision", "device", "spots", "epoch_s", "train_spots_per_s", "setup_s", "score_spots_per_s"])
    if out is not None:
        with atomic_write(out) as tmp:
            tmp.write_text(json.dumps({"patches": patches, "prepare": prep, "training": training}, indent=2))


def register(app: typer.Typer) -> None:
    app.command("perf")(perf)
