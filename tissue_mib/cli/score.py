"""`tissue-mib score`: score sections with a trained model; write scored AnnData, maps, GeoJSON, metrics."""

from __future__ import annotations

from pathlib import Path

import typer

from tissue_mib.cli._common import at_least, echo_table, open_unit, read_sections


def score(
    sections: list[str] = typer.Argument(..., help="Sections: paths (BC-A.h5ad, a Space Ranger folder), catalogue names (BC-A, SYN-BC-A..D) or globs."),
    model: Path = typer.Option(..., "--model", "-m", help="A model directory written by `tissue-mib train` or `bench her2st`."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Output folder."),
    fdr: float = typer.Option(0.05, "--fdr", callback=open_unit("--fdr"), help="Benjamini-Hochberg level at which spots are labelled anomalous."),
    smooth: int | None = typer.Option(None, "--smooth", callback=at_least(0, "--smooth"), help="Average the score over each spot's N-hop graph neighbourhood before calibrating (0: per spot; default: 2 for a cross-fitted model, else 0; docs/outputs.md)."),
    adaptive: bool = typer.Option(True, "--adaptive/--no-adaptive", help="Storey's adaptive BH (more power where most of a section is anomalous)."),
    min_region_spots: int = typer.Option(1, "--min-region-spots", callback=at_least(1, "--min-region-spots"), help="Smallest flagged region (in spots) written to the GeoJSON and region table."),
    labels_dir: Path | None = typer.Option(None, "--labels-dir", help="Folder of {section}_labeled_coordinates.tsv for metrics."),
    protocol: list[str] = typer.Option(["paper"], "--protocol", help="her2st labels: 'paper' (undetermined = normal) and/or 'strict' (undetermined left out); repeat for both."),
) -> None:
    """Score every spot of each SECTION and write NAME.scored.h5ad, NAME.map.png, NAME.flagged.geojson
    (and NAME.metrics.json when labels exist) into --out.

    Examples:

      tissue-mib score BC-A.h5ad --model runs/omib

      tissue-mib score SYN-BC-A..D --model runs/omib --out scored/ --fdr 0.1

      tissue-mib score BC-A --model runs/her2st/models/omib-genes+histology

      torchrun --nproc_per_node 4 --no-python tissue-mib score SYN-BC-A..D --model runs/omib --out scored/
    """
    from tissue_mib import tl
    from tissue_mib.pipeline import score_sections, section_name
    from tissue_mib.train import distributed

    trained = tl.load_model(model)
    with distributed.main_first():  # rank 0 materialises catalogue sections, the others read them
        adatas = read_sections(sections, labels_dir=labels_dir)
    scored, records = score_sections(adatas, trained, out_dir=out, fdr=fdr, smooth=smooth, adaptive=adaptive,
                                     min_region_spots=min_region_spots, protocols=protocol)  # fmt: skip
    rows = []
    for ad in scored:
        flagged = int((ad.obs["tissue_mib_label"] == "anomalous").sum())
        regions = len(ad.obs["tissue_mib_region"].cat.categories)
        rows.append({"section": section_name(ad), "spots": ad.n_obs, "flagged": flagged, "regions": regions,
                     "max_score": float(ad.obs["tissue_mib_score"].max())})  # fmt: skip
    rows = distributed.gather_shares(rows)  # under torchrun each rank scored its share of the sections
    if not distributed.is_main():
        return
    rule = scored[0].uns["tissue_mib"]["threshold_rule"] if scored else "BH q <= fdr"
    echo_table(rows, ["section", "spots", "flagged", "regions", "max_score"],
               title=f"scored with {model}: {rule.replace('fdr', str(fdr))}, scores averaged over "
                     f"{scored[0].uns['tissue_mib']['smooth_hops'] if scored else 0}-hop neighbourhoods")  # fmt: skip
    if records:
        cols = ["section", "protocol", "auroc", "auroc_ci", "ap", "prevalence", "f1_oracle", "f1_calibrated", "n_flagged", "n_spots"]
        echo_table(records, cols, title="metrics (f1_oracle flags exactly as many spots as are anomalous: an oracle; compare prevalence)")
    typer.echo(f"outputs in {out}")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
