"""`tissue-mib fetch`: download the papers' healthy references (NB-A..H) or any dataset of a CELLxGENE collection."""

from __future__ import annotations

import typer

from tissue_mib.datasets.cellxgene import COLLECTION
from tissue_mib.logs import step


def fetch(
    names: list[str] = typer.Argument(..., help="NB-A..H (the papers' healthy breast Visium) and/or CELLxGENE dataset ids."),
    collection: str = typer.Option(COLLECTION, "--collection", help="The CELLxGENE collection the names and ids are looked up in."),
) -> None:
    """Download H5AD files from CELLxGENE Discover into the user cache and register them in the user catalogue.

    NB-A..H are the Visium datasets of collection 4195ab4c-20bd-4cd3-8b3d-65601277e731, matched to the
    papers' spot counts (else taken in title order); a dataset id is registered under its own name.
    The API base URL can be set with TISSUE_MIB_CELLXGENE_API; the catalogue is TISSUE_MIB_CATALOGUE
    or <user config dir>/tissue-mib/sections.yaml.

    Examples:

      tissue-mib fetch NB-A..H && tissue-mib train --normal NB-A..H --method omib --out runs/omib-nb
    """
    from tissue_mib.datasets import cellxgene
    from tissue_mib.io import catalogue

    chosen = cellxgene.resolve(names, collection_id=collection)
    entries = {}
    for name, dataset, how in chosen:
        with step(f"fetch {name}") as line:
            path = cellxgene.download(dataset)
            line.detail = f"{path.stat().st_size / 1e6:,.1f} MB in {path.parent}"
        layer = cellxgene.counts_layer(path)
        entries[name] = {"path": str(path), **({"layer": layer} if layer else {})}
        spots = f"{dataset.n_spots:,} spots" if dataset.n_spots is not None else "spots unknown"
        typer.echo(f"{name} -> {dataset.dataset_id} {dataset.title!r} ({spots}; {how})")
    where = catalogue.register(entries)
    typer.echo(f"registered {', '.join(entries)} in {where}")


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch)
