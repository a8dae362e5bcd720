"""`tissue-mib bench perf`: speed figures on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table


def perf(
    quick: bool = typer.Option(False, "--quick", help="Small sizes (seconds): checks the benchmark runs."),
    method: str = typer.Option("omib", "--method"),
    histology_encoder: str = typer.Option("small-cnn", "--histology-encoder", help="small-cnn, resnet18, ..."),
    device: str = typer.Option("auto", "--device"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for perf.json (the figures with their units)."),
    large_spots: int | None = typer.Option(None, "--large-spots", callback=at_least(1, "--large-spots"),
                                           help="Bins of the Visium HD-shaped section scored for memory (default 100,000; 5,000 with --quick)."),
) -> None:
    """The machine (CPU, GEMM GFLOP/s in fp32 and bf16, what precision auto picks), the
    histology encoders' samples/s, FLOPs and fraction of the GEMM bound in fp32, bf16 and auto,
    patches/s from an in-memory image, preprocessing time of an 8 x 2,500-spot cohort,
    training/scoring spots/s in fp32 and bf16, one OMIB and one IBMA epoch on that cohort with
    ResNet-18 and where its time goes, and `tl.score` on a 3,000-spot section and on a
    100,000-bin Visium HD-shaped one (seconds, spots/s), each step with its peak resident memory.

    Examples:

      tissue-mib bench perf

      tissue-mib bench perf --quick --out runs/perf

      tissue-mib bench perf --histology-encoder resnet18 --device cuda
    """
    from tissue_mib.bench.perf import perf_epochs, perf_histology, perf_machine, perf_scoring, perf_training
    from tissue_mib.pp.benchmark import perf_patches, perf_prepare
    from tissue_mib.utils import atomic_write

    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; --out takes a folder (perf.json is written in it)", param_hint="--out")
    n_spots = 300 if quick else 2500
    machine = perf_machine(device=device, quick=quick)
    gemm = {"fp32": machine["gemm_fp32_gflops"], "bf16": machine["gemm_bf16_gflops"]}
    histology = perf_histology(batch=32 if quick else 128, budget_s=1.5 if quick else 6.0, gemm_gflops=gemm, device=device)
    patches = perf_patches(n_patches=2000 if quick else 20_000, repeats=1 if quick else 3)
    prep = perf_prepare(n_sections=2 if quick else 8, n_spots=n_spots, n_genes=2000 if quick else 15_000)
    training = perf_training(method=method, histology_encoder=histology_encoder, n_spots=n_spots,
                             n_genes=500 if quick else 3000, device=device)  # fmt: skip
    epochs = perf_epochs(histology_encoder="small-cnn" if quick else "resnet18", n_sections=2 if quick else 8,
                         n_spots=n_spots, n_genes=500 if quick else 3000, device=device)  # fmt: skip
    scoring = perf_scoring(method=method, histology_encoder=histology_encoder, n_spots=1000 if quick else 3000,
                           large_spots=large_spots or (5000 if quick else 100_000), n_genes=500 if quick else 5000,
                           device=device)  # fmt: skip
    flags = ", ".join(f for f, on in machine["cpu_flags"].items() if on) or "unknown"
    typer.echo(f"machine: {machine['cpu_model']} ({machine['arch']}), torch CPU capability {machine['torch_cpu_capability']}, "
               f"flags {flags}; {machine['cores']} cores, {machine['torch_threads']} torch threads, "
               f"load average {patches['load_avg_1min']:.1f}")  # fmt: skip
    typer.echo(f"GEMM {machine['gemm_n']}^2 on {machine['torch_threads']} threads: fp32 {machine['gemm_fp32_gflops']:.1f} GFLOP/s, "
               f"bf16 {machine['gemm_bf16_gflops']:.1f} GFLOP/s; on 1 thread ({machine['gemm_1thread_n']}^2): "
               f"fp32 {machine['gemm_1thread_fp32_gflops']:.1f}, bf16 {machine['gemm_1thread_bf16_gflops']:.1f} GFLOP/s")  # fmt: skip
    typer.echo(f"precision auto on {machine['device']}: {machine['precision_auto']} ({machine['precision_auto_reason']})")
    echo_table(histology, ["encoder", "precision", "resolved", "batch", "gflop_train_per_sample", "forward_samples_per_s",
                           "train_samples_per_s", "train_gflops", "bound_train_samples_per_s", "fraction_of_bound"],
               title="histology encoders (train = forward + backward; bound = the faster precision's GEMM GFLOP/s):")  # fmt: skip
    typer.echo(f"patches: {patches['patches_per_s']:,.0f} patches/s ({patches['n_patches']} patches, {patches['size']}x{patches['size']} px), "
               f"peak {patches['peak_rss_gb']:.2f} GB")  # fmt: skip
    typer.echo(f"prepare: {prep['n_sections']} x {prep['n_spots']} spots in {prep['seconds']:.1f} s "
               f"({prep['seconds_cached']:.1f} s from the cache), peak {prep['peak_rss_gb']:.2f} GB")  # fmt: skip
    echo_table(training, ["bench", "precision", "device", "spots", "epoch_s", "train_spots_per_s", "setup_s", "score_spots_per_s",
                          "peak_rss_gb"])  # fmt: skip
    shares = [{**{k: r[k] for k in ("bench", "phase", "resolved", "spots", "epoch_s")},
               **{f"{k}_%": 100 * v for k, v in r["share"].items()}} for r in epochs]  # fmt: skip
    echo_table(shares, list(shares[0]), title="one epoch per phase, where its time goes (% of the epoch):")
    for name, block in scoring.items():
        typer.echo(f"{name}: {block['method']} scores {block['spots']:,} {block['layout']} spots from cached preprocessing "
                   f"in {block['seconds']:.1f} s ({block['spots_per_s']:,.0f} spots/s), peak {block['peak_rss_gb']:.2f} GB; "
                   f"preparing them {block['prepare_s']:.1f} s, peak {block['prepare_peak_rss_gb']:.2f} GB")  # fmt: skip
    if out is not None:
        figures = {"machine": machine, "histology": histology, "patches": patches, "prepare": prep, "training": training,
                   "epochs": epochs, **scoring}  # fmt: skip
        with atomic_write(out / "perf.json") as tmp:
            tmp.write_text(json.dumps(figures, indent=2))
        typer.echo(f"figures in {out / 'perf.json'}")


def register(app: typer.Typer) -> None:
    app.command("perf")(perf)
