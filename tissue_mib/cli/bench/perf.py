"""`tissue-mib bench perf`: speed figures on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tissue_mib.cli._common import echo_table


def perf(
    quick: bool = typer.Option(False, "--quick", help="Small sizes (seconds): checks the benchmark runs."),
    method: str = typer.Option("omib", "--method"),
    histology_encoder: str = typer.Option("small-cnn", "--histology-encoder", help="small-cnn, resnet18, ..."),
    device: str = typer.Option("auto", "--device"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for perf.json (the figures with their units)."),
) -> None:
    """The machine (CPU, GEMM GFLOP/s in fp32 and bf16, what precision auto picks), patches/s
    from an in-memory image, preprocessing time of an 8 x 2,500-spot cohort, and
    training/scoring spots/s in fp32 and bf16.

    Examples:

      tissue-mib bench perf

      tissue-mib bench perf --quick --out runs/perf

      tissue-mib bench perf --histology-encoder resnet18 --device cuda
    """
    from tissue_mib.bench.perf import perf_machine, perf_training
    from tissue_mib.pp.benchmark import perf_patches, perf_prepare
    from tissue_mib.utils import atomic_write

    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; --out takes a folder (perf.json is written in it)", param_hint="--out")
    n_spots = 300 if quick else 2500
    machine = perf_machine(device=device, quick=quick)
    patches = perf_patches(n_patches=2000 if quick else 20_000, repeats=1 if quick else 3)
    prep = perf_prepare(n_sections=2 if quick else 8, n_spots=n_spots, n_genes=2000 if quick else 15_000)
    training = perf_training(method=method, histology_encoder=histology_encoder, n_spots=n_spots,
                             n_genes=500 if quick else 3000, device=device)  # fmt: skip
    flags = ", ".join(f for f, on in machine["cpu_flags"].items() if on) or "unknown"
    typer.echo(f"machine: {machine['cpu_model']} ({machine['arch']}), torch CPU capability {machine['torch_cpu_capability']}, "
               f"flags {flags}; {machine['cores']} cores, {machine['torch_threads']} torch threads, "
               f"load average {patches['load_avg_1min']:.1f}")  # fmt: skip
    typer.echo(f"GEMM {machine['gemm_n']}^2 on {machine['torch_threads']} threads: fp32 {machine['gemm_fp32_gflops']:.1f} GFLOP/s, "
               f"bf16 {machine['gemm_bf16_gflops']:.1f} GFLOP/s; on 1 thread ({machine['gemm_1thread_n']}^2): "
               f"fp32 {machine['gemm_1thread_fp32_gflops']:.1f}, bf16 {machine['gemm_1thread_bf16_gflops']:.1f} GFLOP/s")  # fmt: skip
    typer.echo(f"precision auto on {machine['device']}: {machine['precision_auto']} ({machine['precision_auto_reason']})")
    typer.echo(f"patches: {patches['patches_per_s']:,.0f} patches/s ({patches['n_patches']} patches, {patches['size']}x{patches['size']} px)")
    typer.echo(f"prepare: {prep['n_sections']} x {prep['n_spots']} spots in {prep['seconds']:.1f} s "
               f"({prep['seconds_cached']:.1f} s from the cache)")  # fmt: skip
    echo_table(training, ["bench", "precision", "device", "spots", "epoch_s", "train_spots_per_s", "setup_s", "score_spots_per_s"])
    if out is not None:
        with atomic_write(out / "perf.json") as tmp:
            tmp.write_text(json.dumps({"machine": machine, "patches": patches, "prepare": prep, "training": training}, indent=2))
        typer.echo(f"figures in {out / 'perf.json'}")


def register(app: typer.Typer) -> None:
    app.command("perf")(perf)
