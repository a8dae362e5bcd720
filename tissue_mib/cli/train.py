"""`tissue-mib train`: healthy sections -> a model directory."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table, load_config, read_sections, seed_in_range


def train(
    normal: list[str] = typer.Option(..., "--normal", "-n", help="Healthy sections: catalogue names (NB-A..H, SYN-NB-A..H), paths or globs. Repeat or comma-separate."),
    method: str = typer.Option("omib", "--method", "-m", help="omib, ibma, e-mib, l-mib, c-mib, concat-svdd, gene-svdd, histo-svdd."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML preset: a path, or a shipped preset name (omib, ibma, e-mib, l-mib, c-mib, concat-svdd, gene-svdd, histo-svdd); command-line options win."),
    out: Path = typer.Option(Path("runs/model"), "--out", "-o", help="Model directory to write."),
    epochs: int | None = typer.Option(None, "--epochs", "-e", callback=at_least(1, "--epochs"), help="Training epochs (main phase; OMIB's warm-up keeps its preset)."),
    genes_only: bool = typer.Option(False, "--genes-only", help="Use the genes alone (sections without images)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", callback=seed_in_range("--seed"), help="Random seed (training is deterministic on CPU in fp32)."),
    folds: int = typer.Option(1, "--folds", callback=at_least(1, "--folds"), help="Cross-fit K models, each holding out another K-th of the sections, so every section calibrates (K times the training; docs/outputs.md)."),
) -> None:
    """Train a model on healthy sections and write it to a model directory.

    Examples:

      tissue-mib train --normal SYN-NB-A..H --method omib --out runs/omib

      tissue-mib train --normal NB-A..H --method ibma --config ibma --out runs/ibma --device cuda

      tissue-mib train --normal SYN-NB-A..H --method omib --folds 4 --out runs/omib-cf   # calls with more power
    """
    from tissue_mib import tl

    specs = [s for item in normal for s in item.split(",") if s]
    params = load_config(config)
    start = time.perf_counter()
    adatas = read_sections(specs)
    modalities = ("genes",) if genes_only else ("genes", "histology")
    model = tl.fit(adatas, method=method, config=params, modalities=modalities, epochs=epochs, device=device, seed=seed,
                   folds=folds)  # fmt: skip
    model.save(out)
    elapsed = time.perf_counter() - start

    rows = [{"section": str(a.obs["section"].iloc[0]), "spots": a.n_obs, "genes": a.n_vars} for a in adatas]
    echo_table(rows, ["section", "spots", "genes"], title=f"trained {method} on {len(adatas)} section(s)")
    typer.echo(model.summary())
    typer.echo(f"model directory: {out}  ({elapsed:.1f} s in all)")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
