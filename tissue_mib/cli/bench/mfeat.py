"""`tissue-mib bench mfeat`: UCI Multiple Features digits, classification and one-class Deep SVDD."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table
from tissue_mib.cli.bench._grid import exit_on_failures, parse_ints, parse_seeds

DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "uci-mfeat"


def mfeat(
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="The uci-mfeat folder (mfeat-<view>.csv files)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny settings (seconds; for tests, not for numbers)."),
    views: str | None = typer.Option(None, "--views", help="View sets separated by ';', views by ',' (default 'fou,fac;fou,fac,zer')."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated: omib, ibma, e-mib, l-mib, c-mib, concat, single (default all)."),
    seeds: str | None = typer.Option(None, "--seeds", help="Comma-separated training seeds (default 0,1,2)."),
    normal_digits: str | None = typer.Option(None, "--normal-digits", help="Digits used in turn as the normal class (default 0..9)."),
    epochs: int | None = typer.Option(None, "--epochs", callback=at_least(1, "--epochs"), help="Epochs per run (default 50)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for mfeat_results.json, mfeat_table.md and PNGs."),
    device: str = typer.Option("auto", "--device"),
    jobs: int = typer.Option(1, "--jobs", "-j", callback=at_least(1, "--jobs"), help="Cells run at once, each in its own process with cores/jobs threads (same seeds; e.g. 4 on an 8-core laptop)."),
) -> None:
    """Every method on real multi-view digits: 10-class accuracy and one-class anomaly AUROC.

    A cell that fails (e.g. OMIB's MINE-based beta bounds, a non-finite loss) is recorded
    with its error and the rest run; the exit code is then 3 (bad options: 2).

    Examples:

      tissue-mib bench mfeat --quick

      tissue-mib bench mfeat --views 'fou,fac;fou,fac,zer' --seeds 0,1,2 --out runs/mfeat
    """
    from tissue_mib.bench.mfeat import MfeatConfig, run_mfeat

    cfg = MfeatConfig.quick() if quick else MfeatConfig()
    changes = {}
    if views:
        changes["view_sets"] = tuple(tuple(v.strip() for v in vs.split(",") if v.strip()) for vs in views.split(";") if vs.strip())
    if methods:
        changes["methods"] = tuple(m.strip() for m in methods.split(",") if m.strip())
    if seeds:
        changes["seeds"] = parse_seeds(seeds, "--seeds")
    if normal_digits:
        changes["normal_digits"] = parse_ints(normal_digits, "--normal-digits")
    cell, svdd_cell = cfg.cell, cfg.svdd_cell
    if epochs is not None:
        cell, svdd_cell = replace(cell, epochs=epochs, warmup_epochs=None), replace(svdd_cell, epochs=epochs, warmup_epochs=None)
    cfg = replace(cfg, cell=replace(cell, device=device), svdd_cell=replace(svdd_cell, device=device), **changes)
    show(run_mfeat(data, cfg, out=out, jobs=jobs), cfg, out)


def show(result: dict, cfg, out: Path | None) -> None:
    """Print a bench mfeat result table and exit 3 when cells failed."""
    from tissue_mib.bench.mfeat import table_columns

    echo_table(result["table"], table_columns(cfg),
               title="bench mfeat: 10-digit accuracy and one-class Deep SVDD AUROC (mean over normal digits), mean ± sd over seeds")
    typer.echo(f"total {result['seconds']:.0f} s" + (f"; results in {out}" if out else ""))
    exit_on_failures(result)


def register(app: typer.Typer) -> None:
    app.command("mfeat")(mfeat)
