"""Score sections with a trained model and write every output a user gets.

Shared by `tissue-mib score`, `tissue-mib demo` and `tissue-mib bench her2st`:
for each section `NAME` it writes, into `out_dir`,

- `NAME.scored.h5ad`: the DESIGN.md section 3 keys (no patches; `uns` references the cache),
- `NAME.map.png`: the score over the H&E, one colour scale shared by all sections scored together,
  flagged spots outlined,
- `NAME.flagged.geojson`: flagged regions as QuPath annotations,
- `NAME.region_genes.csv`: per flagged region, the genes that deviate most from the healthy reference,
- `NAME.metrics.json` when the section carries labels.

Every file is written to a hidden temporary name, fsynced and renamed, so a failure or a kill
leaves no partial output under these names. The folder's lock (`tissue_mib.lock`) is held
from the start of scoring to the last file, so two runs never write one folder at once; the
temporaries a killed run left for these sections are removed under it.

Under torchrun (`train.distributed`) the sections are shared out across the ranks: each rank
scores and writes its own, rank 0 holds the folder's lock while they do, and the colour scale
and the metric records are those of all the sections.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from tissue_mib.lock import folder_lock
from tissue_mib.logs import step
from tissue_mib.utils import atomic_write, plain, remove_partials

logger = logging.getLogger(__name__)

SCORE = "tissue_mib_score"
OUTPUTS = (".scored.h5ad", ".map.png", ".flagged.geojson", ".region_genes.csv", ".metrics.json")  # after NAME


def section_name(adata) -> str:
    """The section's name: `obs['section']` when set, else its library id."""
    for key in ("section", "library_id"):
        if key in adata.obs and adata.obs[key].nunique() == 1:
            return str(adata.obs[key].iloc[0])
    raise ValueError("adata holds several sections; score them one at a time")


def score_sections(
    adatas: Sequence,
    model,
    *,
    out_dir: str | Path | None,
    fdr: float = 0.05,
    smooth: int | None = None,
    adaptive: bool = True,
    min_region_spots: int = 1,
    protocols: Sequence[str] = ("paper",),
    method_label: str | None = None,
) -> tuple[list, list[dict]]:
    """Score each AnnData in `adatas` with `model`; write outputs to `out_dir` (None: write nothing).

    fdr, smooth (None: `tl.score`'s default), adaptive: the calls (`tl.score`); min_region_spots:
    the smallest flagged region kept (`tl.regions.flagged_regions`). Returns (scored AnnData
    list, metric records: one per labelled section and protocol); under torchrun, this rank's
    share of the scored sections and the records of all of them.
    """
    from tissue_mib.train import distributed

    calls = {"fdr": fdr, "adaptive": adaptive} | ({} if smooth is None else {"smooth": smooth})
    locked = out_dir is not None and distributed.is_main()
    with folder_lock(out_dir) if locked else contextlib.nullcontext():
        distributed.barrier()  # rank 0 holds the lock before any rank writes
        scored, records = _score(distributed.share(adatas), model, calls=calls, min_region_spots=min_region_spots,
                                 protocols=protocols, method_label=method_label)  # fmt: skip
        if out_dir is not None:
            _write(scored, records, Path(out_dir))
        distributed.barrier()  # every rank has written before the lock is released
    if distributed.active():  # every section's records, in the order of `adatas`
        per_section = distributed.gather_shares([[r for r in records if r["section"] == section_name(a)] for a in scored])
        records = [r for section in per_section for r in section]
    return scored, records


def _score(adatas, model, *, calls, min_region_spots, protocols, method_label) -> tuple[list, list[dict]]:
    from tissue_mib import metrics, pp, tl
    from tissue_mib.tl import regions

    with step(f"score {len(adatas)} section(s) with {method_label or model.name}") as line:
        scored = [tl.score(a, model, copy=True, **calls) for a in adatas]
        line.detail = ", ".join(f"{section_name(a)} {a.uns['tissue_mib']['n_flagged']}/{a.n_obs} flagged" for a in scored)
    records: list[dict] = []
    for ad in scored:
        regions.flagged_regions(ad, min_spots=min_region_spots)
        expression, _ = pp.prepare(ad, panel=model.panel, config=model.prep)  # served from the cache tl.score filled
        regions.rank_deviating_genes(ad, model.panel.reference(), expression=expression)
        if metrics.truth(ad, protocol=protocols[0])[0] is None:
            continue
        for protocol in protocols:
            rec = metrics.evaluate_adata(ad, protocol=protocol)
            records.append({"section": section_name(ad), "method": method_label or model.name, **rec})
    return scored, records


def _write(scored: list, records: list[dict], out_dir: Path) -> None:
    from anndata import AnnData

    from tissue_mib import pl
    from tissue_mib.export import geojson
    from tissue_mib.tl import regions
    from tissue_mib.train import distributed

    names = [section_name(a) for a in scored]
    remove_partials(out_dir, [name + suffix for name in names for suffix in OUTPUTS])
    with step(f"write scored AnnData, maps, GeoJSON and gene tables of {len(scored)} section(s)") as line:
        vmin, vmax = pl.shared_scale(distributed.gather([AnnData(obs=a.obs[[SCORE]]) for a in scored]))
        for name, ad in zip(names, scored):
            with atomic_write(out_dir / f"{name}.scored.h5ad") as tmp:
                ad.write_h5ad(tmp)
            pl.anomaly_map(ad, vmin=vmin, vmax=vmax, out=out_dir / f"{name}.map.png")
            geojson.write_geojson(ad, out_dir / f"{name}.flagged.geojson")
            regions.write_region_genes(ad, out_dir / f"{name}.region_genes.csv")
            section_records = [r for r in records if r["section"] == name]
            if section_records:
                with atomic_write(out_dir / f"{name}.metrics.json") as tmp:
                    tmp.write_text(json.dumps(plain(section_records), indent=2))
        line.detail = f"to {out_dir}"
