"""`tissue-mib demo-data`: write the built-in synthetic cohort and print a per-section summary."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def demo_data(
    small: bool = typer.Option(False, "--small", help="A few hundred spots and 500 genes per section (seconds) instead of 2,100-2,900 spots and 2,000 genes."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the cohort [default: the catalogue's synthetic folder, $TISSUE_MIB_SYNTHETIC_DIR or the user cache]."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same cohort."),
    n_jobs: int = typer.Option(1, "--n-jobs", "-j", help="Sections written in parallel processes."),
    force: bool = typer.Option(False, "--force", help="Write again even if the same cohort is already there."),
) -> None:
    """Write SYN-NB-A..H (healthy) and SYN-BC-A..D (planted anomalies) as Space Ranger folders + .h5ad.

    Examples:

      tissue-mib demo-data --small

      tissue-mib demo-data --out data/synthetic --seed 1
    """
    from rich.console import Console
    from rich.table import Table

    from tissue_mib.datasets import synthetic
    from tissue_mib.io.catalogue import synthetic_dir

    out = out or synthetic_dir()
    start = time.perf_counter()
    if force or not synthetic.is_complete(out, small=small, seed=seed):
        synthetic.write_cohort(out, small=small, seed=seed, n_jobs=n_jobs)
        note = f"written in {time.perf_counter() - start:.0f} s"
    else:
        note = "already there (use --force to write again)"
    summary = synthetic.summary_table(out)
    table = Table(title=f"synthetic cohort in {out}: {note}")
    for col in summary.columns:
        table.add_column(col, justify="left" if col in ("section", "domains") else "right")
    for row in summary.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    app.command("demo-data")(demo_data)
