"""The shared command behind `bench emotion|sentiment|cxr` (one thin recipe each)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import typer

from tissue_mib.cli._common import PRESETS, at_least, echo_table, load_config, seed_in_range


def make_command(name: str, *, summary: str, example: str):
    """A typer command function for workflow `name`."""

    def command(
        data: Path | None = typer.Option(None, "--data", help="The workflow's feature file (format: docs/workflows.md)."),
        synthetic: bool = typer.Option(False, "--synthetic", help="Write and use a small synthetic stand-in in the same format."),
        config: Path | None = typer.Option(None, "--config", help="YAML recipe overriding the defaults: a path, or the name of a shipped recipe (emotion, sentiment, cxr)."),
        method: str | None = typer.Option(None, "--method", help="Registered method: omib, ibma, e-mib, l-mib, c-mib, concat."),
        epochs: int | None = typer.Option(None, "--epochs", callback=at_least(1, "--epochs"), help="Training epochs (OMIB's warm-up gets a tenth more)."),
        seed: int | None = typer.Option(None, "--seed", callback=seed_in_range("--seed")),
        out: Path | None = typer.Option(None, "--out", "-o", help=f"Folder for {name}_results.json, {name}_table.md and a PNG."),
        device: str = typer.Option("auto", "--device"),
    ) -> None:
        from tissue_mib.bench.workflows import RECIPES, Recipe, run_workflow

        recipe = RECIPES[name]
        if config is not None:
            recipe = Recipe.from_dict(load_config(config, folder=PRESETS / "workflows"), base=recipe, source=str(config))
        if method:
            recipe = replace(recipe, method=method)
        if seed is not None:
            recipe = replace(recipe, seed=seed)
        if epochs is not None:  # Cell refuses epochs < 1
            recipe = replace(recipe, train=replace(recipe.train, epochs=epochs, warmup_epochs=None))
        recipe = replace(recipe, train=replace(recipe.train, device=device))
        with tempfile.TemporaryDirectory(prefix=f"tissue-mib-{name}-") as tmp:
            result = run_workflow(name, data=data, synthetic_dir=tmp if synthetic else None, recipe=recipe, out=out)
        metrics = result["metrics"]
        echo_table([{"method": recipe.method, **metrics}], ["method", *metrics],
                   title=f"bench {name} on {'a synthetic stand-in' if synthetic else data} (test split, {result['n_test']} rows)")
        typer.echo(f"total {result['seconds']:.0f} s" + (f"; results in {out}" if out else ""))

    command.__name__ = name
    command.__doc__ = f"{summary}\n\n    Examples:\n\n      tissue-mib bench {name} --synthetic\n\n      {example}\n    "
    return command
