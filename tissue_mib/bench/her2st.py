"""`bench her2st`: the real-data evaluation on her2st (the papers' BC-A..D are A1..D1).

There is no healthy tissue in her2st, so training uses the spots that the authors'
expression clusters call non-cancer (`obs['weak_is_cancer'] == False`) in sections of
*other* patients, and the labelled section is scored against its pathologist labels.

- genes: leave one patient out, the setting chosen by inner splits (`bench.her2st_cv`), per
  seed, beside the plain scanpy kNN recipe. Protocols `paper` (every spot, `undetermined` =
  normal) and `strict` (`undetermined` left out); weak labels for the unlabelled patients.
- genes + histology: train on the weakly non-cancer spots of the sections with images (B4,
  C2-C6), score A1 (the only labelled section with an image) with every requested method, per seed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tissue_mib.errors import InputError
from tissue_mib.logs import STEP, details
from tissue_mib.utils import atomic_write, plain

logger = logging.getLogger(__name__)

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


def labelled_sections(read: dict) -> list[str]:
    """Sections whose AnnData carries pathologist labels (any non-missing `obs['pathologist_label']`)."""
    return [s for s, a in read.items() if "pathologist_label" in a.obs and a.obs["pathologist_label"].notna().any()]


def _labels_for(section: str, labels_dir: Path | None) -> Path | None:
    """`labels_dir` when it holds `section`'s label file, else None (the data folder's own labels, if any):
    a labels folder adds to the labels the data folder has; a section in neither is scored, not evaluated."""
    if labels_dir is not None and (Path(labels_dir) / f"{section}_labeled_coordinates.tsv").is_file():
        return Path(labels_dir)
    return None


def read_sections(data_dir: Path, names: list[str], labels_dir: Path | None) -> dict:
    """Each section of `names` by name, with its pathologist labels from `labels_dir` where that folder
    holds its file, else from the data folder's own (if any); a section with neither is scored, not evaluated."""
    from tissue_mib import io
    from tissue_mib.settings import progress

    return {s: io.read(data_dir, section=s, labels_dir=_labels_for(s, labels_dir)) for s in progress(names, desc="reading her2st")}


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
    seeds: tuple[int, ...] = (0, 1, 2),
    variants: tuple[str, ...] | None = None,
    weak: bool = True,
    genes: bool = True,
) -> list[dict]:
    """Run both parts; write `out/her2st_results.json`, `out/her2st_table.md` and the ROC curves.
    Returns the records.

    targets: labelled sections to report on genes (default: every section with pathologist
    labels in `labels_dir`); sections without labels are scored against the weak labels only.
    variants: candidate gene settings (`her2st_cv.VARIANTS`; default `DEFAULT_VARIANTS`), chosen per target by
    the inner splits. `config`: a `tl.fit` preset applied to every model (e.g. a lighter
    histology encoder). seeds: every outer model and every multimodal model is trained per seed.
    genes: run the genes part (False: only genes + histology on A1).
    """
    from tissue_mib.bench.her2st_cv import DEFAULT_VARIANTS, VARIANTS, run_genes, summary

    out = Path(out)
    names = all_sections(data_dir)
    if targets:
        unknown = sorted(set(targets) - set(names))
        if unknown:
            raise InputError(f"--targets: {', '.join(unknown)} not in {Path(data_dir) / 'counts'}")
    variants = tuple(variants or DEFAULT_VARIANTS)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise InputError(f"--variants: {', '.join(unknown)} unknown; known: {', '.join(VARIANTS)}")
    if not seeds:
        raise InputError("--seeds: give at least one seed")
    read = read_sections(data_dir, names, labels_dir)
    labelled = labelled_sections(read)
    targets = [t for t in (targets or labelled) if t in labelled]
    if not targets:
        raise InputError(f"no pathologist labels for any target section in {labels_dir or Path(data_dir) / 'pathologist_labels'}")
    healthy = {s: _healthy(a) for s, a in read.items()}
    records = []
    if genes:
        records = run_genes(read=read, healthy=healthy, labelled=labelled, targets=targets, variants=variants,
                            seeds=tuple(seeds), epochs=epochs, config=config, device=device, weak=weak)  # fmt: skip
    for r in records:
        r |= {"modalities": "genes", "paper_name": PAPER_NAMES.get(r["section"], "")}
    multimodal = [m for m in methods if m in MULTIMODAL_METHODS]
    if multimodal and "A1" in labelled:
        records += _multimodal(read, multimodal, out=out, epochs=epochs, config=config, device=device, seeds=seeds)
    result = {"records": records, "summary": summary(records), "summary_multimodal": _summary_multimodal(records),
              "settings": {"epochs": epochs, "seeds": list(seeds), "variants": list(variants), "targets": targets}}
    with atomic_write(out / "her2st_results.json") as tmp:
        tmp.write_text(json.dumps(plain(result), indent=2))
    write_table(result, out / "her2st_table.md")
    return records


def _multimodal(read: dict, methods: list[str], *, out: Path, epochs: int, config, device: str, seeds) -> list[dict]:
    """Every method, per seed, trained on the weakly non-cancer spots of B4 and C2-C6, scoring A1."""
    from tissue_mib import tl
    from tissue_mib.bench.her2st_cv import depth_correlations
    from tissue_mib.pipeline import score_sections

    train = [_healthy(read[s]) for s in IMAGE_SECTIONS]
    records = []
    for method in methods:
        for seed in seeds:
            with details():
                model = tl.fit(train, method=method, config=config, epochs=epochs, device=device, seed=seed)
                scored, recs = score_sections([read["A1"]], model, out_dir=out / "scored" / method if seed == seeds[0] else None,
                                              protocols=PROTOCOLS, method_label=method)  # fmt: skip
            depth = depth_correlations(read["A1"], scored[0].obs["tissue_mib_score"].to_numpy())
            logger.log(STEP, "A1 %s seed %d: AUROC %s", method, seed, [r["auroc"] for r in recs])
            records += [r | depth | {"split": "multimodal", "seed": seed, "variant": method,
                                     "modalities": "+".join(model.modalities), "paper_name": "BC-A"} for r in recs]  # fmt: skip
    return records


def _summary_multimodal(records: list[dict], protocol: str = "paper") -> list[dict]:
    from tissue_mib.bench.report import mean_sd

    rows = []
    for method in dict.fromkeys(r["method"] for r in records if r.get("split") == "multimodal"):
        aurocs = [r["auroc"] for r in records if r.get("split") == "multimodal" and r["method"] == method
                  and r["protocol"] == protocol]  # fmt: skip
        m, sd = mean_sd(aurocs)
        modalities = next(r["modalities"] for r in records if r.get("split") == "multimodal" and r["method"] == method)
        rows.append({"section": "A1", "method": method, "modalities": modalities,
                     "n_seeds": len(aurocs), "auroc_mean": m, "auroc_sd": sd,
                     "auroc_min": min(aurocs), "auroc_max": max(aurocs),
                     "spearman_depth": mean_sd([r["spearman_depth"] for r in records if r.get("split") == "multimodal"
                                                and r["method"] == method and r["protocol"] == protocol])[0]})  # fmt: skip
    return rows


def write_table(result: dict, path: Path) -> Path:
    """The markdown tables of docs/her2st.md from a results dict (`her2st_results.json`)."""
    from tissue_mib.bench.report import markdown_table

    cols = ["section", "variant", "selected_variant", "n_seeds", "auroc_mean", "auroc_sd", "auroc_min", "auroc_max",
            "knn_auroc", "spearman_depth", "spearman_genes", "spearman_depth_normal", "f1_oracle", "f1_calibrated",
            "n_flagged"]  # fmt: skip
    outer = [r for r in result["summary"] if r["split"] == "outer"]
    weak = [r for r in result["summary"] if r["split"] == "weak"]
    settings = result["settings"]
    text = ""
    if outer:
        text += (f"Genes, leave one patient out (`paper` protocol; epochs {settings['epochs']}, seeds "
                 f"{', '.join(map(str, settings['seeds']))}). `selected`: the variant the inner splits chose for "
                 "that section, without its labels.\n\n" + markdown_table(outer, cols))
    if weak:
        text += "\nWeak labels (expression clusters; seed " + str(settings["seeds"][0]) + "), sections of patients without pathologist labels:\n\n"
        text += markdown_table(weak, [c for c in cols if c != "selected_variant"])
    if result.get("summary_multimodal"):
        text += "\nGenes + histology, trained on B4 and C2-C6, scoring A1:\n\n"
        text += markdown_table(result["summary_multimodal"], ["section", "method", "modalities", "n_seeds", "auroc_mean",
                                                              "auroc_sd", "auroc_min", "auroc_max", "spearman_depth"])  # fmt: skip
    with atomic_write(path) as tmp:
        tmp.write_text(text.lstrip("\n"))
    return path
