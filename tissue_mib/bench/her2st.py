"""`bench her2st`: the real-data evaluation on her2st (the papers' BC-A..D are A1..D1).

There is no healthy tissue in her2st, so training uses the spots that the authors'
expression clusters call non-cancer (`obs['weak_is_cancer'] == False`) in sections of
*other* patients, and the labelled section is scored against its pathologist labels.

- genes: for every target section S of patient P, train gene-svdd on the weakly non-cancer
  spots of all sections of the other patients, score S; compare with a k-nearest-neighbour
  distance on PCA of the same panel genes. Protocols `paper` (every spot, `undetermined` =
  normal) and `strict` (`undetermined` left out).
- genes + histology: train on the weakly non-cancer spots of the sections with images (B4,
  C2-C6), score A1 (the only labelled section with an image) with every requested method.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write, plain

logger = logging.getLogger(__name__)

LABELLED = ("A1", "B1", "C1", "D1")
WITHHELD = ("E1", "F1", "G2", "H1")
IMAGE_SECTIONS = ("B4", "C2", "C3", "C4", "C5", "C6")
PAPER_NAMES = {"A1": "BC-A", "B1": "BC-B", "C1": "BC-C", "D1": "BC-D"}
MULTIMODAL_METHODS = ("omib", "ibma", "e-mib", "l-mib", "c-mib", "concat-svdd", "gene-svdd", "histo-svdd")
PROTOCOLS = ("paper", "strict")


def all_sections(data_dir: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in (Path(data_dir) / "counts").glob("*.tsv.gz"))


def _healthy(adata):
    """The weakly non-cancer spots of one section (expression-cluster labels)."""
    keep = ~adata.obs["weak_is_cancer"].fillna(True).astype(bool).to_numpy()
    return adata[keep].copy()


def run(
    *,
    data_dir: Path,
    labels_dir: Path | None,
    methods: list[str],
    out: Path,
    targets: list[str] | None = None,
    epochs: int = 20,
    config: dict | None = None,
    device: str = "auto",
    seed: int = 0,
) -> list[dict]:
    """Run both parts; write `out/her2st_results.json`, maps, ROC curves and models. Returns the records.

    `config`: a `tl.fit` preset applied to every model (e.g. a lighter histology encoder).
    """
    from tissue_mib import io, metrics, pl, pp, tl
    from tissue_mib.bench.reference import knn_pca_scores
    from tissue_mib.pipeline import score_sections
    from tissue_mib.settings import progress

    out = Path(out)
    names = all_sections(data_dir)
    targets = list(targets or (*LABELLED, *WITHHELD))
    unknown = sorted(set(targets) - set(names))
    if unknown:
        raise InputError(f"--targets: {', '.join(unknown)} not in {Path(data_dir) / 'counts'}")
    read = {s: io.read(data_dir, section=s, labels_dir=labels_dir) for s in progress(names, desc="reading her2st")}
    records: list[dict] = []
    curves: dict[str, dict] = {}

    for target in targets:
        patient = target[0]
        train = [_healthy(read[s]) for s in names if s[0] != patient]
        model = tl.fit(train, method="gene-svdd", modalities=("genes",), config=config, epochs=epochs, device=device,
                       seed=seed)  # fmt: skip
        model.save(out / "models" / f"gene-svdd-not-{patient}")
        scored, recs = score_sections([read[target]], model, out_dir=out / "scored" / "genes", protocols=PROTOCOLS,
                                      method_label="gene-svdd")  # fmt: skip
        if not recs:
            logger.info("%s: no pathologist labels found; scored but not evaluated", target)
            continue
        # the classic reference on the same panel genes: kNN distance in PCA space
        train_x = pp.prepare(train, panel=model.panel, config=model.prep)[0].X
        test = pp.prepare(read[target], panel=model.panel, config=model.prep)[0]
        knn = knn_pca_scores(np.asarray(train_x), np.asarray(test.X), seed=seed)
        knn = pd.Series(knn, index=test.obs_names).reindex(scored[0].obs_names).to_numpy()  # NaN: no counts
        for protocol in PROTOCOLS:
            y, mask = metrics.truth(scored[0], protocol=protocol)
            recs.append({"section": target, "method": "knn-pca", "protocol": protocol,
                         **metrics.evaluate(knn[mask], y[mask])})  # fmt: skip
        y, mask = metrics.truth(scored[0], protocol="paper")
        mask &= np.isfinite(knn) & np.isfinite(scored[0].obs["tissue_mib_score"].to_numpy())
        curves[f"{target} gene-svdd"] = (y[mask], scored[0].obs["tissue_mib_score"].to_numpy()[mask])
        curves[f"{target} knn-pca"] = (y[mask], knn[mask])
        records += [r | {"modalities": "genes", "paper_name": PAPER_NAMES.get(target, "")} for r in recs]

    multimodal = [m for m in methods if m in MULTIMODAL_METHODS]
    if multimodal:
        train = [_healthy(read[s]) for s in IMAGE_SECTIONS]
        for method in multimodal:
            model = tl.fit(train, method=method, config=config, epochs=epochs, device=device, seed=seed)
            model.save(out / "models" / f"{method}-genes+histology")
            scored, recs = score_sections([read["A1"]], model, out_dir=out / "scored" / method, protocols=PROTOCOLS,
                                          method_label=method)  # fmt: skip
            y, mask = metrics.truth(scored[0], protocol="paper")
            mask &= np.isfinite(scored[0].obs["tissue_mib_score"].to_numpy())
            curves[f"A1 {method} (genes+histology)"] = (y[mask], scored[0].obs["tissue_mib_score"].to_numpy()[mask])
            records += [r | {"modalities": "+".join(model.modalities), "paper_name": "BC-A"} for r in recs]

    pl.roc_curves(curves, title="her2st, paper protocol", out=out / "her2st_roc.png")
    with atomic_write(out / "her2st_results.json") as tmp:
        tmp.write_text(json.dumps(plain(records), indent=2))
    return records
