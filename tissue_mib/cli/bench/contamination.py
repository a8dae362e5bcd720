"""`tissue-mib bench contamination`: an impure healthy reference, with and without the trimmed SVDD loss."""

from __future__ import annotations

from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table, seed_in_range
from tissue_mib.cli.bench._grid import exit_on_failures, parse_floats, parse_seeds


def contamination(
    levels: str = typer.Option("0,0.1,0.2", "--levels", help="Comma-separated reference contaminations (0-0.5): the share of SYN-NB-A..H spots made anomalous; one small cohort each."),
    trim: str = typer.Option("0,match", "--trim", help="Comma-separated trimmed-loss settings (TrainConfig.contamination): 'match' (= the level) or a share in [0, 0.5)."),
    methods: str = typer.Option("omib,ibma,concat-svdd,gene-svdd,histo-svdd", "--methods", help="Comma-separated methods (default: the demo's five)."),
    epochs: int = typer.Option(8, "--epochs", callback=at_least(1, "--epochs"), help="Epochs of every method (default: the demo's 8)."),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated training seeds; several give mean ± sd."),
    cohort_seed: int = typer.Option(0, "--cohort-seed", callback=seed_in_range("--cohort-seed"), help="Seed of every cohort (the tissue; only the contamination differs between levels)."),
    threads: int | None = typer.Option(None, "--threads", callback=at_least(1, "--threads"), help="Torch and BLAS threads (default: as they are; 1 on a shared CPU)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Path = typer.Option(Path("runs/contamination"), "--out", "-o", help="Folder for the cohorts, contamination_results.json and contamination_table.md."),
) -> None:
    """Train each method on SYN-NB-A..H with a share of their spots anomalous, score SYN-BC-A..D: mean AUROC
    per method x level x trim setting, with the loss against the clean reference (level 0).

    The demo's light setting (small cohort, small-cnn histology). A cell that fails is
    recorded with its error and the rest run; the exit code is then 3 (bad options: 2).

    Examples:

      tissue-mib bench contamination --out runs/contamination

      tissue-mib bench contamination --methods gene-svdd --levels 0,0.2 --trim 0,match,0.05 --seeds 0,1 --threads 1
    """
    from tissue_mib.bench.contamination import ContaminationConfig, parse_trims, run_contamination, table_columns

    cfg = ContaminationConfig(
        levels=parse_floats(levels, "--levels"),
        trims=parse_trims(trim),
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        epochs=epochs,
        seeds=parse_seeds(seeds, "--seeds"),
        cohort_seed=cohort_seed,
        threads=threads,
        device=device,
    )
    result = run_contamination(cfg, out=out)
    echo_table(result["table"], table_columns(),
               title="bench contamination: mean AUROC over SYN-BC-A..D; loss against level 0 (same method, trim, seed)")  # fmt: skip
    typer.echo(f"total {result['seconds']:.0f} s; results in {out}")
    exit_on_failures(result)


def register(app: typer.Typer) -> None:
    app.command("contamination")(contamination)
