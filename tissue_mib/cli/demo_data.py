"""`tissue-mib demo-data`: write the built-in synthetic cohort and print a per-section summary."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, seed_in_range
from tissue_mib.errors import InputError


def demo_data(
    small: bool = typer.Option(False, "--small", help="A few hundred spots and 500 genes per section (seconds) instead of 2,100-2,900 spots and 2,000 genes."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the cohort [default: the catalogue's synthetic folder, $TISSUE_MIB_SYNTHETIC_DIR or the user cache]."),
    seed: int = typer.Option(0, "--seed", callback=seed_in_range("--seed"), help="Random seed; the same seed writes the same cohort."),
    fractions: str | None = typer.Option(None, "--anomaly-fractions", help="Anomalous share of SYN-BC-A..D, 4 comma-separated values [default: 0.876,0.214,0.722,0.454]."),
    contamination_text: str = typer.Option(
        "0",
        "--contamination",
        metavar="FRAC",
        help="Share (0 to 0.5) of the healthy sections' (SYN-NB-A..H) spots made anomalous with the same planted anomalies as SYN-BC, so the healthy reference is impure; the truth is in obs['anomaly_kind'].",
    ),
    n_jobs: int = typer.Option(1, "--n-jobs", "-j", callback=at_least(1, "--n-jobs"), help="Sections written in parallel processes."),
    force: bool = typer.Option(False, "--force", help="Write again even if the same cohort is already there."),
) -> None:
    """Write SYN-NB-A..H (healthy) and SYN-BC-A..D (planted anomalies) as Space Ranger folders + .h5ad.

    Examples:

      tissue-mib demo-data --small

      tissue-mib demo-data --out data/synthetic --seed 1

      tissue-mib demo-data --small --contamination 0.1 --out data/syn-10pc
    """
    from rich.console import Console
    from rich.table import Table

    from tissue_mib.datasets import synthetic
    from tissue_mib.io.catalogue import synthetic_dir

    out = out or synthetic_dir()
    anomaly_fractions = _parse_fractions(fractions)
    contamination = _parse_contamination(contamination_text)
    start = time.perf_counter()
    if force or not synthetic.is_complete(out, small=small, seed=seed, anomaly_fractions=anomaly_fractions, contamination=contamination):
        synthetic.write_cohort(out, small=small, seed=seed, anomaly_fractions=anomaly_fractions, contamination=contamination, n_jobs=n_jobs)
        note = f"written in {time.perf_counter() - start:.0f} s"
    else:
        note = "already there (use --force to write again)"
    summary = synthetic.summary_table(out)
    if contamination:
        note += f"; healthy sections contaminated: {contamination:g} of their spots"
    table = Table(title=f"synthetic cohort in {out}: {note}")
    for col in summary.columns:
        table.add_column(col, justify="left" if col in ("section", "domains") else "right")
    for row in summary.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=160).print(table)


def _parse_fractions(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--anomaly-fractions: expected comma-separated numbers, got {text!r}") from None


def _parse_contamination(text: str) -> float:
    """--contamination: a number in [0, 0.5]; anything else is a one-line usage error (exit 2)."""
    from tissue_mib.datasets.synthetic import MAX_CONTAMINATION

    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--contamination: expected a number between 0 and {MAX_CONTAMINATION}, got {text!r}") from None
    if not 0 <= value <= MAX_CONTAMINATION:
        raise InputError(f"--contamination: expected a number between 0 and {MAX_CONTAMINATION}, got {text}")
    return value


def register(app: typer.Typer) -> None:
    app.command("demo-data")(demo_data)
