"""`tissue-mib bench her2st`: the real-data evaluation on the papers' cancer sections."""

from __future__ import annotations

from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, load_config

DEFAULT_METHODS = "gene-svdd,omib,ibma,e-mib,l-mib,c-mib,concat-svdd,histo-svdd"


def her2st(
    data: Path | None = typer.Option(None, "--data", help="The her2st folder (default: the catalogue's her2st source)."),
    labels_dir: Path | None = typer.Option(None, "--labels-dir", help="Folder of {section}_labeled_coordinates.tsv; for the sections it holds it replaces DATA/pathologist_labels, a section with no file in either is scored, not evaluated."),
    methods: str = typer.Option(DEFAULT_METHODS, "--methods", help="Comma-separated methods; gene-svdd and knn-pca run on genes for every target."),
    targets: str | None = typer.Option(None, "--targets", help="Comma-separated labelled sections to report on genes (default: every section with pathologist labels)."),
    variants: str | None = typer.Option(None, "--variants", help="Comma-separated candidate gene settings, chosen per section by inner splits (default knn,knn10; also centre, unscaled, pca50, pca50-trim20; see docs/her2st.md)."),
    weak: bool = typer.Option(True, "--weak/--no-weak", help="Also score the unlabelled patients' sections against the weak expression-cluster labels."),
    genes: bool = typer.Option(True, "--genes/--no-genes", help="Run the genes part (leave one patient out); --no-genes runs only genes + histology on A1."),
    out: Path = typer.Option(Path("runs/her2st"), "--out", "-o", help="Results JSON, ROC curves, maps and models."),
    epochs: int = typer.Option(20, "--epochs", callback=at_least(1, "--epochs")),
    config: Path | None = typer.Option(None, "--config", "-c", help="A tl.fit preset (YAML) for every model, e.g. a lighter histology encoder."),
    device: str = typer.Option("auto", "--device"),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Comma-separated seeds; every reported model is trained per seed."),
) -> None:
    """Evaluate on her2st A1..D1 (the papers' BC-A..D), leaving one patient out, training on other patients' non-cancer spots.

    Examples:

      tissue-mib bench her2st --out runs/her2st

      tissue-mib bench her2st --methods gene-svdd --targets A1,B1 --epochs 5 --seeds 0
    """
    from tissue_mib.bench import her2st as bench
    from tissue_mib.cli.bench._grid import parse_seeds
    from tissue_mib.io import catalogue

    data_dir = data or catalogue.her2st_dir()
    records = bench.run(
        data_dir=data_dir,
        labels_dir=labels_dir,
        methods=[m for m in methods.split(",") if m],
        targets=[t for t in targets.split(",") if t] if targets else None,
        out=out,
        epochs=epochs,
        config=load_config(config) or None,
        device=device,
        seeds=parse_seeds(seeds, "--seeds"),
        variants=tuple(v for v in variants.split(",") if v) if variants else None,
        weak=weak,
        genes=genes,
    )
    typer.echo((out / "her2st_table.md").read_text())
    typer.echo(f"results: {out / 'her2st_results.json'} ({len(records)} records)")


def register(app: typer.Typer) -> None:
    app.command("her2st")(her2st)
