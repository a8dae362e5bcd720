"""`tissue-mib bench her2st`: the real-data evaluation on the papers' cancer sections."""

from __future__ import annotations

from pathlib import Path

import typer

from tissue_mib.cli._common import echo_table, load_config

DEFAULT_METHODS = "gene-svdd,omib,ibma,e-mib,l-mib,c-mib,concat-svdd,histo-svdd"


def her2st(
    data: Path | None = typer.Option(None, "--data", help="The her2st folder (default: the catalogue's her2st source)."),
    labels_dir: Path | None = typer.Option(None, "--labels-dir", help="Folder of {section}_labeled_coordinates.tsv (default: DATA/pathologist_labels)."),
    methods: str = typer.Option(DEFAULT_METHODS, "--methods", help="Comma-separated methods; gene-svdd and knn-pca run on genes for every target."),
    targets: str | None = typer.Option(None, "--targets", help="Comma-separated sections to score on genes (default A1,B1,C1,D1,E1,F1,G2,H1)."),
    out: Path = typer.Option(Path("runs/her2st"), "--out", "-o", help="Results JSON, ROC curves, maps and models."),
    epochs: int = typer.Option(20, "--epochs"),
    config: Path | None = typer.Option(None, "--config", "-c", help="A tl.fit preset (YAML) for every model, e.g. a lighter histology encoder."),
    device: str = typer.Option("auto", "--device"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Evaluate on her2st A1..D1 (the papers' BC-A..D), training on other patients' non-cancer spots.

    Examples:

      tissue-mib bench her2st --out runs/her2st

      tissue-mib bench her2st --methods gene-svdd --targets A1,B1 --epochs 5
    """
    from tissue_mib.bench import her2st as bench
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
        seed=seed,
    )
    cols = ["section", "paper_name", "protocol", "method", "modalities", "auroc", "auroc_ci", "ap", "prevalence", "f1_oracle", "f1_calibrated", "n_spots", "n_anomalous"]
    echo_table(records, cols, title="her2st (f1_oracle flags exactly as many spots as are anomalous: an oracle; compare prevalence)")
    typer.echo(f"results: {out / 'her2st_results.json'}")


def register(app: typer.Typer) -> None:
    app.command("her2st")(her2st)
