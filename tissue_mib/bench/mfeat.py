"""`bench mfeat`: real multi-view data (UCI Multiple Features digits) through every method.

- classification: 10 digits from two or three views (e.g. fou + fac, + zer), accuracy;
- one-class anomaly detection under Deep SVDD: train on the training rows of one digit
  (normal), score every test row, AUROC with the other digits as anomalies.
Both on the fixed stratified split of `datasets.mfeat`, over several training seeds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from tissue_mib import __version__
from tissue_mib.bench.metrics import accuracy
from tissue_mib.bench.report import bar_plot, failed_note, fmt_mean_sd, markdown_table, mean_sd, save_figure, write_json, write_text
from tissue_mib.bench.run import Cell, config_from_dict, encoder_spec, failures, fit_predict, guarded, run_cells
from tissue_mib.datasets.mfeat import MFEAT_VIEWS, load_mfeat
from tissue_mib.errors import InputError
from tissue_mib.logs import STEP
from tissue_mib.metrics import auroc

logger = logging.getLogger(__name__)

FUSION_METHODS = ("omib", "ibma", "e-mib", "l-mib", "c-mib", "concat")
#: classification method -> its Deep SVDD counterpart where the registry names it differently
SVDD_NAMES = {"concat": "concat-svdd"}


@dataclass
class MfeatConfig:
    """Everything `run_mfeat` does; recorded in the JSON."""

    view_sets: tuple[tuple[str, ...], ...] = (("fou", "fac"), ("fou", "fac", "zer"))
    methods: tuple[str, ...] = (*FUSION_METHODS, "single")
    seeds: tuple[int, ...] = (0, 1, 2)
    normal_digits: tuple[int, ...] = tuple(range(10))
    cell: Cell = field(default_factory=lambda: Cell(epochs=50, lr=1e-3, batch_size=128))
    svdd_cell: Cell = field(default_factory=lambda: Cell(epochs=50, lr=1e-3, weight_decay=1e-4, batch_size=64))
    mine_steps: int = 200
    latent_dim: int = 256

    @classmethod
    def from_dict(cls, d: dict) -> MfeatConfig:
        """The config recorded in a result JSON (`asdict` of an MfeatConfig)."""
        return config_from_dict(cls, d)

    @classmethod
    def quick(cls) -> MfeatConfig:
        """Tiny settings for tests: seconds, not meaningful numbers."""
        return cls(view_sets=(("fou", "fac"),), methods=("omib", "concat", "single"), seeds=(0,), normal_digits=(0,),
                   cell=Cell(epochs=2, warmup_epochs=1, lr=1e-3), svdd_cell=Cell(epochs=2, warmup_epochs=1, lr=1e-3),
                   mine_steps=10, latent_dim=32)


def _rows(cfg: MfeatConfig, views: tuple[str, ...]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(row name, method, views used) for one view set; `single` expands to one row per view;
    a method that does not take this many modalities (IBMA: two) is left out (logged)."""
    from tissue_mib.methods import METHODS

    out = []
    for m in cfg.methods:
        if m == "single":
            out += [(f"{v} alone", "single", (v,)) for v in views]
        elif len(views) in METHODS.get(m).n_modalities:
            out.append((m, m, views))
        else:
            logger.info("mfeat: %s takes %s modalities, not %d; left out for %s", m, METHODS.get(m).n_modalities,
                        len(views), "+".join(views))
    return out


def _params(method: str, views: tuple[str, ...], cfg: MfeatConfig) -> dict:
    params = {"latent_dim": cfg.latent_dim}
    if method == "single":
        params["modality"] = views[0]
    if method == "omib":
        params.update(mine_steps=cfg.mine_steps, k=cfg.latent_dim)
    return params


@lru_cache(maxsize=1)
def _load(root: str, views: tuple[str, ...]):
    """`load_mfeat`, kept for the next cell (every cell of a run reads the same views)."""
    return load_mfeat(root, views=views)


def _fit(label: str, metric: str, score, method: str, **kw) -> dict:
    """Fit and predict one cell: status 'ok', `{metric: score(pred)}` and seconds; a cell that
    raises (e.g. OMIB's beta bounds from MINE, a non-finite loss) gets status 'failed', a NaN
    metric and its error line, and the grid goes on."""

    def run():
        pred, _, sec = fit_predict(method, **kw)
        return score(pred), sec

    out, error = guarded(label, run)
    if error is not None:
        return {"status": "failed", "cell": label, "error": error, metric: float("nan")}
    logger.log(STEP, "%s: %s %.3f", label, metric, out[0])
    return {"status": "ok", metric: out[0], "seconds": round(out[1], 2)}


def _data(d, views, rows, y):
    from tissue_mib.train import MultiModalData

    return MultiModalData(modalities={v: d.views[v][rows] for v in views}, y=y)


def classification_cell(root: str, cfg: MfeatConfig, views: tuple[str, ...], seed: int, row: str, method: str,
                        used: tuple[str, ...]) -> dict:
    """The record of one 10-digit classification cell (`row` = `method` on views `used`)."""
    d = _load(root, _all_views(cfg))
    tag = "+".join(views)
    return {"views": tag, "row": row, "seed": seed, **_fit(
        f"mfeat {tag} {row} seed {seed}", "accuracy", lambda p: accuracy(d.y[d.test], p["probs"]), method,
        modalities={v: encoder_spec(d.views[v]) for v in used}, task={"kind": "multiclass", "n_classes": 10},
        train=_data(d, used, d.train, d.y[d.train]), test=_data(d, used, d.test, d.y[d.test]), cell=cfg.cell,
        seed=seed, params=_params(method, used, cfg))}


def anomaly_cell(root: str, cfg: MfeatConfig, views: tuple[str, ...], seed: int, row: str, method: str,
                 used: tuple[str, ...], digit: int) -> dict:
    """The record of one one-class cell: Deep SVDD on the training rows of `digit`, AUROC on every test row."""
    d = _load(root, _all_views(cfg))
    tag = "+".join(views)
    normal = d.train[d.y[d.train] == digit]
    return {"views": tag, "row": row, "seed": seed, "normal_digit": digit, **_fit(
        f"mfeat {tag} {row} seed {seed} normal {digit}", "auroc", lambda p: auroc(d.y[d.test] != digit, p["score"]),
        SVDD_NAMES.get(method, method), modalities={v: encoder_spec(d.views[v]) for v in used}, task={"kind": "svdd"},
        train=_data(d, used, normal, None), test=_data(d, used, d.test, None), cell=cfg.svdd_cell, seed=seed,
        params=_params(method, used, cfg))}


def _all_views(cfg: MfeatConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for vs in cfg.view_sets for v in vs))


def run_mfeat(root: str | Path, cfg: MfeatConfig, *, out: str | Path | None = None, jobs: int = 1) -> dict:
    """Run both tasks on the mfeat folder `root`; write `mfeat_results.json`, `mfeat_table.md`,
    `bench_mfeat_accuracy.png` and `bench_mfeat_auroc.png` to `out`. jobs: cells run in that
    many worker processes at once (`run_cells`)."""
    bad = [v for vs in cfg.view_sets for v in vs if v not in MFEAT_VIEWS]
    if bad or any(not 2 <= len(vs) <= 3 for vs in cfg.view_sets):
        raise InputError(f"mfeat view sets must hold 2 or 3 of {sorted(MFEAT_VIEWS)} (option views), got {cfg.view_sets}")
    if any(not 0 <= d <= 9 for d in cfg.normal_digits):
        raise InputError(f"normal digits must be in 0..9 (option normal-digits), got {cfg.normal_digits}")
    if not cfg.seeds:
        raise InputError("bench mfeat needs at least one seed (option seeds)")
    unknown = sorted(set(cfg.methods) - {*FUSION_METHODS, "single"})
    if unknown:
        raise InputError(f"unknown bench mfeat method(s) {unknown} (option methods); choose from {[*FUSION_METHODS, 'single']}")
    start = time.perf_counter()
    root = str(root)
    d = _load(root, _all_views(cfg))  # checks the files before any cell
    cells, is_cls = [], []
    for views in cfg.view_sets:
        for seed in cfg.seeds:
            for row, method, used in _rows(cfg, views):
                cells.append(partial(classification_cell, root, cfg, views, seed, row, method, used))
                cells += [partial(anomaly_cell, root, cfg, views, seed, row, method, used, digit) for digit in cfg.normal_digits]
                is_cls += [True] + [False] * len(cfg.normal_digits)
    done = run_cells(cells, jobs=jobs, name="bench mfeat", every=1 + len(cfg.normal_digits))
    result = assemble(cfg, [r for r, c in zip(done, is_cls) if c], [r for r, c in zip(done, is_cls) if not c],
                      split={"train": int(d.train.size), "test": int(d.test.size)}, seconds=time.perf_counter() - start)
    if out is not None:
        write_outputs(result, cfg, Path(out))
    return result


def assemble(cfg: MfeatConfig, cls_records: list[dict], svdd_records: list[dict], *, split: dict, seconds: float) -> dict:
    """The result dict of a run (or of merged runs): config, split, records, table and failures."""
    return {"benchmark": "mfeat", "version": __version__, "config": asdict(cfg), "split": split,
            "classification": cls_records, "anomaly": svdd_records, "table": summarise(cls_records, svdd_records, cfg),
            "failures": failures(cls_records + svdd_records), "seconds": round(seconds, 1)}


def summarise(cls_records: list[dict], svdd_records: list[dict], cfg: MfeatConfig) -> list[dict]:
    """One row per method: accuracy and AUROC (mean ± sd over seeds; AUROC averaged over
    normal digits first), with "(k of n failed)" where cells failed."""
    rows = []
    names = list(dict.fromkeys(r["row"] for r in cls_records))
    tags = ["+".join(vs) for vs in cfg.view_sets]
    for name in names:
        line = {"method": name}
        for tag in tags:
            cls = [r for r in cls_records if r["views"] == tag and r["row"] == name]
            if not cls:
                continue
            acc = [r["accuracy"] for r in cls]
            svdd = [r for r in svdd_records if r["views"] == tag and r["row"] == name]
            # a seed with a failed normal digit has a NaN mean and is left out of mean ± sd
            per_seed = [float(np.mean([r["auroc"] for r in svdd if r["seed"] == s])) for s in cfg.seeds]
            line[f"acc {tag}"] = fmt_mean_sd(acc) + failed_note(cls)
            line[f"AUROC {tag}"] = fmt_mean_sd(per_seed) + failed_note(svdd)
            line[f"acc {tag} mean"] = mean_sd(acc)[0]
            line[f"AUROC {tag} mean"] = mean_sd(per_seed)[0]
        rows.append(line)
    return rows


def table_columns(cfg: MfeatConfig) -> list[str]:
    tags = ["+".join(vs) for vs in cfg.view_sets]
    return ["method", *[f"acc {t}" for t in tags], *[f"AUROC {t}" for t in tags]]


def write_outputs(result: dict, cfg: MfeatConfig, out: Path) -> None:
    """The JSON, the markdown table and the two PNGs of a `run_mfeat` result."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "mfeat_results.json", result)
    write_text(out / "mfeat_table.md", markdown_table(result["table"], table_columns(cfg)))
    tags = ["+".join(vs) for vs in cfg.view_sets]
    for key, metric, fname in (("classification", "accuracy", "bench_mfeat_accuracy.png"),
                               ("anomaly", "auroc", "bench_mfeat_auroc.png")):
        groups = {t: {} for t in tags}
        for r in result[key]:
            groups[r["views"]].setdefault(r["row"], []).append(r[metric])
        title = "mfeat: 10-digit accuracy" if key == "classification" else "mfeat: one-class Deep SVDD AUROC"
        save_figure(bar_plot(groups, ylabel=metric, title=title), out / fname)
