"""`tissue-mib bench merge`: one table, JSON and plots from `bench sim` / `bench mfeat` runs made apart."""

from __future__ import annotations

from pathlib import Path

import typer


def merge(
    runs: list[Path] = typer.Argument(..., help="Result folders (or their sim_results.json / mfeat_results.json), two or more."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the merged JSON, table and PNGs."),
) -> None:
    """Pool the cells of grids run apart (e.g. one seed per process or machine) into one result.

    The runs must share every setting but the grid axes (data sets or view sets, rows or
    methods, seeds, normal digits, betas); a cell found twice is taken from the first run
    given. The table and plots are those one run of the whole grid would write.

    Example:

      tissue-mib bench sim --seeds 0 --out runs/s0 &  tissue-mib bench sim --seeds 1 --out runs/s1

      tissue-mib bench merge runs/s0 runs/s1 --out runs/sim
    """
    from tissue_mib.bench.merge import merge_runs
    from tissue_mib.cli.bench import mfeat, sim

    result, cfg = merge_runs(runs, out=out)
    {"sim": sim, "mfeat": mfeat}[result["benchmark"]].show(result, cfg, out)


def register(app: typer.Typer) -> None:
    app.command("merge")(merge)
