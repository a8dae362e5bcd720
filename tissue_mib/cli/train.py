"""`tissue-mib train`: healthy sections -> a model directory."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table, load_config, read_sections, seed_in_range
from tissue_mib.checks import check_float
from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


def train(
    normal: list[str] = typer.Option(..., "--normal", "-n", help="Healthy sections: catalogue names (NB-A..H, SYN-NB-A..H), paths or globs. Repeat or comma-separate."),
    method: str = typer.Option("omib", "--method", "-m", help="omib, ibma, e-mib, l-mib, c-mib, concat-svdd, gene-svdd, histo-svdd."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML preset: a path, or a shipped preset name (omib, ibma, e-mib, l-mib, c-mib, concat-svdd, gene-svdd, histo-svdd); command-line options win."),
    out: Path = typer.Option(Path("runs/model"), "--out", "-o", help="Model directory to write."),
    epochs: int | None = typer.Option(None, "--epochs", "-e", callback=at_least(1, "--epochs"), help="Training epochs (main phase; OMIB's warm-up keeps its preset)."),
    genes_only: bool = typer.Option(False, "--genes-only", help="Use the genes alone (sections without images)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16 (encoders); fp32 on CPU makes runs and resumed runs bit-identical."),
    seed: int = typer.Option(0, "--seed", callback=seed_in_range("--seed"), help="Random seed (training is deterministic on CPU in fp32)."),
    folds: int = typer.Option(1, "--folds", callback=at_least(1, "--folds"), help="Cross-fit K models, each holding out another K-th of the sections, so every section calibrates (K times the training; docs/outputs.md)."),
    knn_fraction: float | None = typer.Option(None, "--knn-fraction", callback=lambda v: v if v is None else check_float(v, name="--knn-fraction", lo=0.0, hi=0.5), help="Share of the training spots the knn score averages over [default: the preset's, else 0.1]; 0: the 10 nearest (docs/outputs.md, impure references)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint (same options; bit for bit on CPU in fp32)."),
    checkpoint_dir: Path | None = typer.Option(None, "--checkpoint-dir", help="Where the per-epoch checkpoint goes [default: OUT.checkpoint]; removed once the model is written."),
) -> None:
    """Train a model on healthy sections and write it to a model directory.

    A checkpoint is written after every epoch to --checkpoint-dir (default OUT.checkpoint);
    after a kill, the same command with --resume continues from it. OUT is locked while the
    command runs (.OUT.lock beside it; docs/cli.md). Under torchrun each process trains its share
    of every batch and rank 0 writes OUT (docs/distributed.md).

    Examples:

      tissue-mib train --normal SYN-NB-A..H --method omib --out runs/omib

      tissue-mib train --normal NB-A..H --method ibma --config ibma --out runs/ibma --device cuda

      tissue-mib train --normal SYN-NB-A..H --method omib --folds 4 --out runs/omib-cf   # calls with more power

      tissue-mib train --normal NB-A..H --method ibma --config ibma --out runs/ibma --resume   # after a kill

      torchrun --nproc_per_node 8 --no-python tissue-mib train --normal NB-A..H --method omib --out runs/omib
    """
    from tissue_mib import tl
    from tissue_mib.lock import model_lock
    from tissue_mib.train import distributed

    specs = [s for item in normal for s in item.split(",") if s]
    params = load_config(config)
    checkpoint_dir = checkpoint_dir or out.with_name(f"{out.name}.checkpoint")
    start = time.perf_counter()
    main = distributed.is_main()
    with model_lock(out) if main else contextlib.nullcontext():
        _check_checkpoint(checkpoint_dir, resume=resume)
        with distributed.main_first():  # rank 0 materialises catalogue sections, the others read them
            adatas = read_sections(specs)
        modalities = ("genes",) if genes_only else ("genes", "histology")
        model = tl.fit(adatas, method=method, config=params, modalities=modalities, epochs=epochs, device=device,
                       precision=precision, seed=seed, knn_fraction=knn_fraction, folds=folds, out=out, checkpoint_dir=checkpoint_dir,
                       resume=resume)  # fmt: skip
        if main:
            _drop_checkpoint(checkpoint_dir)
    elapsed = time.perf_counter() - start
    if not main:
        return

    rows = [{"section": str(a.obs["section"].iloc[0]), "spots": a.n_obs, "genes": a.n_vars} for a in adatas]
    echo_table(rows, ["section", "spots", "genes"], title=f"trained {method} on {len(adatas)} section(s)")
    typer.echo(model.summary())
    typer.echo(f"model directory: {out}  ({elapsed:.1f} s in all)")


def _check_checkpoint(checkpoint_dir: Path, *, resume: bool) -> None:
    """A checkpoint left by an interrupted run is continued only with --resume, never silently overwritten."""
    from tissue_mib.train.checkpoint import CHECKPOINT_NAME

    left = sorted(checkpoint_dir.glob(f"**/{CHECKPOINT_NAME}")) if checkpoint_dir.is_dir() else []  # and fold-k/
    if left and not resume:
        raise InputError(f"{left[0]}: an interrupted run left this checkpoint; add --resume to continue it, "
                         f"or delete {checkpoint_dir} to start over")  # fmt: skip
    if resume and not left:
        logger.warning("--resume: no checkpoint in %s, training from the start", checkpoint_dir)


def _drop_checkpoint(checkpoint_dir: Path) -> None:
    """The model directory now holds the result: remove the checkpoint (and its folder when left empty)."""
    from tissue_mib.train.checkpoint import CHECKPOINT_NAME

    for last in sorted(checkpoint_dir.glob(f"**/{CHECKPOINT_NAME}")) if checkpoint_dir.is_dir() else []:
        last.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            last.parent.rmdir()
    with contextlib.suppress(OSError):
        checkpoint_dir.rmdir()


def register(app: typer.Typer) -> None:
    app.command("train")(train)
