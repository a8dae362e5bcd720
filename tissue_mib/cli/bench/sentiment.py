"""`tissue-mib bench sentiment`: text/audio/vision sequences (CMU-MOSI aligned layout), regression in [-3, 3];
`bench sentiment-convert` turns an aligned pickle into the pickle-free .npz layout."""

from pathlib import Path

import typer

from tissue_mib.cli.bench._workflow import make_command


def convert(
    src: Path = typer.Argument(..., help="Aligned pickle (dict of train/valid/test splits)."),
    dst: Path = typer.Argument(..., help="Output .npz (keys <split>_<field>)."),
    replace_inf: float | None = typer.Option(None, "--replace-inf", help="Value for +-inf features (MMSA's MOSI audio holds -inf; its loader uses 0)."),
) -> None:
    """Convert an aligned sentiment pickle to .npz, reading it with the restricted unpickler.

    Example: tissue-mib bench sentiment-convert aligned_50.pkl mosi.npz --replace-inf 0
    """
    from tissue_mib.datasets.workflows import pickle_to_npz

    typer.echo(f"wrote {pickle_to_npz(src, dst, replace_inf=replace_inf)}")


def register(app: typer.Typer) -> None:
    app.command("sentiment")(make_command(
        "sentiment", summary="Sentiment intensity from text, audio and vision sequences (MAE, Corr, Acc-2, F1, Acc-7).",
        example="tissue-mib bench sentiment --data mosi.npz --out runs/sentiment"))
    app.command("sentiment-convert")(convert)
