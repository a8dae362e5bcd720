"""`tissue-mib bench cxr`: image + report embeddings, 5 thorax findings, per-finding AUROC and mAUC."""

import typer

from tissue_mib.cli.bench._workflow import make_command


def register(app: typer.Typer) -> None:
    app.command("cxr")(make_command(
        "cxr", summary="Chest X-ray findings from image and report embeddings (multi-label, AUROC per finding and mAUC).",
        example="tissue-mib bench cxr --data chexpert_embeddings.parquet --out runs/cxr"))
