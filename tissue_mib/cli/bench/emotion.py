"""`tissue-mib bench emotion`: audio + video emotion recognition (CREMA-D layout), 6 classes, accuracy."""

import typer

from tissue_mib.cli.bench._workflow import make_command


def register(app: typer.Typer) -> None:
    app.command("emotion")(make_command(
        "emotion", summary="Emotion recognition from audio and video (6 classes, accuracy) through a registered method.",
        example="tissue-mib bench emotion --data cremad_features.npz --out runs/emotion"))
