"""`tissue-mib bench sim`: the OMIB paper's SIM-I/II/III benchmark, beta sweep and MINE budget."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table
from tissue_mib.cli.bench._grid import exit_on_failures, parse_floats, parse_ints, parse_seeds
from tissue_mib.errors import InputError


def sim(
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes and epochs (seconds; for tests, not for numbers)."),
    datasets: str | None = typer.Option(None, "--datasets", help="Comma-separated of I, II, III (default all; quick: I)."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated table rows (default all): omib, ibma, e-mib, l-mib, c-mib, concat, 'x1 alone', 'x2 alone', 'authentic optimum', '\\[a0] alone', '\\[a1; a2] alone'."),
    seeds: str | None = typer.Option(None, "--seeds", help="Comma-separated training/data seeds (default 0,1,2)."),
    epochs: int | None = typer.Option(None, "--epochs", callback=at_least(1, "--epochs"), help="Epochs per run (paper: 100); OMIB's warm-up gets a tenth more."),
    n: int | None = typer.Option(None, "--n", callback=at_least(10, "--n"), help="Samples per data set, split 9:1 (paper: 10000)."),
    b1: int | None = typer.Option(None, "--b1", callback=at_least(1, "--b1"), help="Size of the superfluous block b1 (default d11; lost in the paper)."),
    b2: int | None = typer.Option(None, "--b2", callback=at_least(1, "--b2"), help="Size of the superfluous block b2 (default d21)."),
    sweep: bool = typer.Option(True, "--sweep/--no-sweep", help="Also run the MINE budget study and the beta sweep (Figure 3)."),
    betas: str | None = typer.Option(None, "--betas", help="Comma-separated fixed betas of the sweep (default 1e-6..10, 8 points)."),
    mine_steps: str | None = typer.Option(None, "--mine-budgets", help="Comma-separated MINE step budgets to compare (default 100,500,2000)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for sim_results.json, sim_table.md and PNGs."),
    device: str = typer.Option("auto", "--device"),
    jobs: int = typer.Option(1, "--jobs", "-j", callback=at_least(1, "--jobs"), help="Cells run at once, each in its own process with cores/jobs threads (same seeds; e.g. 4 on an 8-core laptop)."),
) -> None:
    """Accuracy of OMIB, IBMA, E-MIB, L-MIB, C-MIB, concat and single views on SIM-I..III, with the paper's Table 2.

    The defaults are the paper's setting (n = 10,000 split 9:1, Adam lr 1e-4, 100 epochs,
    seeds 0,1,2, all three data sets, every row, the beta sweep): hours on a CPU; the log
    gives a time estimate after the first cell. A cell that fails (e.g. a non-finite loss)
    is recorded with its error and the rest run; the exit code is then 3 (bad options: 2).

    Examples:

      tissue-mib bench sim --quick --out runs/sim-quick

      tissue-mib bench sim --datasets I,III --seeds 0,1,2 --epochs 100 --out runs/sim
    """
    from tissue_mib.bench.sim import ROWS, SimConfig, run_sim

    cfg = SimConfig.quick() if quick else SimConfig()
    changes = {}
    if datasets:
        changes["datasets"] = tuple(d.strip().upper() for d in datasets.split(",") if d.strip())
        changes["sweep_dataset"] = changes["datasets"][0]
    if methods:
        changes["rows"] = tuple(m.strip() for m in methods.split(",") if m.strip())
        unknown = [m for m in changes["rows"] if m not in ROWS]
        if unknown:
            raise InputError(f"option --methods: unknown row(s) {unknown}; choose from {list(ROWS)}")
    if seeds:
        changes["seeds"] = parse_seeds(seeds, "--seeds")
    if n:
        changes["n"] = n
    changes.update({k: v for k, v in {"b1": b1, "b2": b2}.items() if v is not None})
    if betas:
        changes["betas"] = parse_floats(betas, "--betas")
    if mine_steps:
        changes["mine_budgets"] = parse_ints(mine_steps, "--mine-budgets")
    cell = cfg.cell if epochs is None else replace(cfg.cell, epochs=epochs, warmup_epochs=None)
    cfg = replace(cfg, cell=replace(cell, device=device), **changes)
    show(run_sim(cfg, out=out, sweep=sweep, jobs=jobs), cfg, out)


def show(result: dict, cfg, out: Path | None) -> None:
    """Print a bench sim result (table, MINE budget, beta sweep) and exit 3 when cells failed."""
    from tissue_mib.bench.sim import BAYES_NOTE, limit_columns, table_columns

    echo_table(result["table"], table_columns(cfg), title="bench sim: test accuracy, mean ± sd over seeds (paper: OMIB Table 2)")
    echo_table(result["bayes_limit"], limit_columns(cfg), title=f"Bayes limit: {BAYES_NOTE}")
    if "beta_sweep" in result:
        echo_table(result["mine_budget"], ["steps", "H1", "H2", "I12", "M_l", "M_u", "seconds"], title="MINE estimates by budget")
        peak = "no run finished" if result["beta_peak"] is None else f"peak at beta = {result['beta_peak']:.3g}"
        sweep_rows = [{**r, "beta": f"{r['beta']:.3g}"} for r in result["beta_sweep"]]
        echo_table(sweep_rows, ["beta", "seed", "accuracy"], title=f"beta sweep on SIM-{cfg.sweep_dataset} ({peak})")
    typer.echo(f"total {result['seconds']:.0f} s" + (f"; results in {out}" if out else ""))
    exit_on_failures(result)


def register(app: typer.Typer) -> None:
    app.command("sim")(sim)
