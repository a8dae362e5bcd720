"""`bench contamination`: how much an impure healthy reference costs, and what the trimmed loss buys back.

For each reference contamination level the small synthetic cohort is written once with that
share of the healthy sections' spots anomalous (`write_cohort(..., contamination=level)`,
one cohort seed, so the tissue is the same and only the contamination differs). Each method
is trained on SYN-NB-A..H as `tissue-mib demo` does (its light setting: small-cnn histology,
8 epochs), once per trimmed-loss setting (`TrainConfig.contamination`: `match` = the level,
or a fixed share) and seed, and scores SYN-BC-A..D (`pipeline.score_sections`, nothing
written). A record holds the AUROC per section and their mean; the table gives the mean
over seeds per method x level x trim, the loss against level 0 (same method, trim setting
and seed) and the change against trim 0 at the same level.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from tissue_mib import __version__
from tissue_mib.bench.report import failed_note, fmt_mean_sd, markdown_table, mean_sd, write_json, write_text
from tissue_mib.bench.run import failures, guarded, run_cells
from tissue_mib.demo import CANCER, NORMAL, SETTINGS
from tissue_mib.errors import InputError
from tissue_mib.logs import STEP, details

logger = logging.getLogger(__name__)

#: the methods `tissue-mib demo` trains (tissue_mib.cli.demo.DEMO_METHODS)
METHODS = ("omib", "ibma", "concat-svdd", "gene-svdd", "histo-svdd")
MATCH = "match"
#: a trimmed share must stay below this (TrainConfig.contamination)
MAX_TRIM = 0.5


@dataclass
class ContaminationConfig:
    """Everything `run_contamination` does; recorded in the JSON.

    levels: reference contamination of the written cohorts. trims: trimmed-loss settings,
    `"match"` (the trim equals the level) or a share as text (`"0"`, `"0.1"`; see
    `parse_trims`). cohort_seed: the seed of every cohort; seeds: training seeds.
    threads: torch (and BLAS) threads for the whole run; None leaves them as they are.
    """

    levels: tuple[float, ...] = (0.0, 0.1, 0.2)
    trims: tuple[str, ...] = ("0", MATCH)
    methods: tuple[str, ...] = METHODS
    epochs: int = SETTINGS[False]["epochs"]
    seeds: tuple[int, ...] = (0,)
    cohort_seed: int = 0
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self):
        # canonical forms, so that 0.0, "0" and "0.0" are one setting; floats are taken too
        self.trims = parse_trims(",".join(str(t) for t in self.trims))
        from tissue_mib.datasets.synthetic.section import check_contamination

        self.levels = tuple(check_contamination(v) for v in self.levels)
        self.methods = tuple(self.methods)
        self.seeds = tuple(int(s) for s in self.seeds)


def parse_trims(text: str) -> tuple[str, ...]:
    """`"0,match,0.05"` -> ("0", "match", "0.05"): `match` or shares in [0, 0.5), as canonical text (%g)."""
    labels = []
    for token in (t.strip().lower() for t in text.split(",")):
        if not token:
            continue
        if token == MATCH:
            labels.append(MATCH)
            continue
        try:
            value = float(token)
        except ValueError:
            raise InputError(f"option --trim: {token!r} is neither 'match' nor a number") from None
        if not 0.0 <= value < MAX_TRIM:  # also rejects nan
            raise InputError(f"option --trim: {token} must be in [0, {MAX_TRIM})")
        labels.append(f"{value:g}")
    if not labels:
        raise InputError("option --trim: give at least one setting (e.g. 0,match)")
    return tuple(dict.fromkeys(labels))


def trim_value(label: str, level: float) -> float:
    """The trimmed share a setting gives at a contamination level."""
    return float(level) if label == MATCH else float(label)


def check(cfg: ContaminationConfig) -> None:
    """Bad options stop here, before any cohort is written or model trained."""
    from tissue_mib.datasets.synthetic.section import check_contamination
    from tissue_mib.methods import METHODS as REGISTRY
    from tissue_mib.train.device import resolve_device

    if not cfg.levels:
        raise InputError("option --levels: give at least one level (e.g. 0,0.1,0.2)")
    if len(set(cfg.levels)) != len(cfg.levels):
        raise InputError(f"option --levels: {list(cfg.levels)} repeats a level")
    for level in cfg.levels:
        check_contamination(level)
    for label in cfg.trims:
        for level in cfg.levels:
            if not trim_value(label, level) < MAX_TRIM:
                raise InputError(f"option --trim: {label} at level {level:g} trims {trim_value(label, level):g}; "
                                 f"the trimmed share must be below {MAX_TRIM}")  # fmt: skip
    if not cfg.methods:
        raise InputError("option --methods: give at least one method")
    for m in cfg.methods:
        REGISTRY.get(m)  # an unknown name is an InputError naming the known ones
    if not isinstance(cfg.epochs, int) or cfg.epochs < 1:
        raise InputError(f"option --epochs must be an integer >= 1, got {cfg.epochs!r}")
    if not cfg.seeds:
        raise InputError("option --seeds: give at least one seed")
    if cfg.threads is not None and cfg.threads < 1:
        raise InputError(f"option --threads must be >= 1, got {cfg.threads}")
    resolve_device(cfg.device)


def cohort_dir(out: Path, level: float) -> Path:
    """Where the cohort of one level goes: `OUT/cohort-c<level>` (reused while complete)."""
    return Path(out) / f"cohort-c{level:g}"


@contextlib.contextmanager
def _threads(n: int | None):
    """Torch and BLAS (numpy, scipy, scikit-learn) use `n` threads within the block; None: as they are."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    from tissue_mib.train.device import cpu_threads

    with cpu_threads(n), threadpool_limits(n):
        yield


def _cohort(out: Path, level: float, seed: int) -> Path:
    from tissue_mib.datasets import synthetic

    folder = cohort_dir(out, level)
    if not synthetic.is_complete(folder, small=True, seed=seed, contamination=level):
        logger.info("writing the small cohort with reference contamination %g to %s", level, folder)
        synthetic.write_cohort(folder, small=True, seed=seed, contamination=level)
    return folder


def _anomalous_share(sections) -> float:
    """The share of the training spots that are anomalous (truth column)."""
    kinds = np.concatenate([a.obs["anomaly_kind"].astype(str).to_numpy() for a in sections])
    return float(np.mean(kinds != "normal"))


def train_score(cfg: ContaminationConfig, normal, cancer, method: str, level: float, trim: float, seed: int) -> dict:
    """Train `method` on `normal` with the trimmed loss `trim`; the metric records of `cancer`."""
    from tissue_mib import tl
    from tissue_mib.pipeline import score_sections

    start = time.perf_counter()
    config = {"modalities": SETTINGS[False]["modalities"], "train": {"contamination": trim, "threads": cfg.threads}}
    with details():
        model = tl.fit(normal, method=method, config=config, epochs=cfg.epochs, device=cfg.device, seed=seed)
        _, recs = score_sections(cancer, model, out_dir=None, method_label=method)
    return {"records": recs, "seconds": time.perf_counter() - start}


def cell(cfg: ContaminationConfig, normal, cancer, share: float, method: str, level: float, trim: float, seed: int) -> dict:
    """One guarded cell: its record with status, AUROC per section and mean (or the error)."""
    label = f"{method} level {level:g} trim {trim:g} seed {seed}"
    fields = {"method": method, "level": float(level), "trim_value": float(trim), "seed": int(seed),
              "reference_anomalous_share": share}  # fmt: skip
    out, error = guarded(label, lambda: train_score(cfg, normal, cancer, method, level, trim, seed))
    if error is not None:
        return {**fields, "status": "failed", "cell": label, "error": error, "auroc": float("nan")}
    by_section = {r["section"]: r for r in out["records"]}
    aurocs = {s: by_section[s].get("auroc") for s in CANCER if s in by_section}
    ap = {s: by_section[s].get("ap") for s in CANCER if s in by_section}
    finite = [v for v in aurocs.values() if v is not None and math.isfinite(v)]
    logger.log(STEP, "%s: mean AUROC %.3f in %.0f s", label, np.mean(finite) if finite else float("nan"), out["seconds"])
    return {**fields, "status": "ok", "auroc": float(np.mean(finite)) if finite else float("nan"),
            "auroc_sections": aurocs, "ap_sections": ap, "seconds": round(out["seconds"], 1)}  # fmt: skip


def run_contamination(cfg: ContaminationConfig, *, out: str | Path) -> dict:
    """Write the cohorts under `out`, run every cell, write `contamination_results.json` and
    `contamination_table.md` there; return the result dict.

    Settings that give the same trimmed share at a level (`0` and `match` at level 0) train
    one model; its record is repeated under each setting (`same_model_as`).
    """
    from tissue_mib import io

    check(cfg)
    out = Path(out)
    start = time.perf_counter()
    with _threads(cfg.threads):
        folders = {level: _cohort(out, level, cfg.cohort_seed) for level in cfg.levels}
        normal = {level: [io.read(folders[level] / f"{n}.h5ad") for n in NORMAL] for level in cfg.levels}
        # SYN-BC-A..D do not depend on the reference contamination: read once
        cancer = [io.read(folders[cfg.levels[0]] / f"{n}.h5ad") for n in CANCER]
        share = {level: _anomalous_share(normal[level]) for level in cfg.levels}
        keys = [(level, method, trim, seed) for level in cfg.levels for method in cfg.methods
                for trim in dict.fromkeys(trim_value(t, level) for t in cfg.trims) for seed in cfg.seeds]  # fmt: skip
        cells = [partial(cell, cfg, normal[level], cancer, share[level], method, level, trim, seed)
                 for level, method, trim, seed in keys]  # fmt: skip
        done = dict(zip(keys, run_cells(cells, name="bench contamination", every=max(1, len(cells) // len(cfg.levels)))))
    records = []
    for level in cfg.levels:
        for method in cfg.methods:
            first: dict[float, str] = {}
            for label in cfg.trims:
                value = trim_value(label, level)
                for seed in cfg.seeds:
                    rec = {**done[(level, method, value, seed)], "trim": label}
                    if value in first and first[value] != label:
                        rec["same_model_as"] = first[value]
                    records.append(rec)
                first.setdefault(value, label)
    _add_losses(records)
    result = {"benchmark": "contamination", "version": __version__, "config": asdict(cfg),
              "cohorts": {f"{level:g}": str(folders[level]) for level in cfg.levels},
              "records": records, "table": summarise(records, cfg), "failures": failures(records),
              "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    write_outputs(result, cfg, out)
    return result


def _add_losses(records: list[dict]) -> None:
    """`loss`: AUROC at level 0 (same method, trim setting, seed) minus this AUROC (positive:
    worse than the clean reference); `vs_trim0`: this AUROC minus that of trim 0 at the same
    level (positive: the trim helps). None where the partner is missing or failed."""
    auroc = {(r["method"], r["level"], r["trim"], r["seed"]): r["auroc"] for r in records if r["status"] == "ok"}
    for r in records:
        own = auroc.get((r["method"], r["level"], r["trim"], r["seed"]))
        base = auroc.get((r["method"], 0.0, r["trim"], r["seed"]))
        untrimmed = auroc.get((r["method"], r["level"], "0", r["seed"]))
        r["loss"] = base - own if own is not None and base is not None else None
        r["vs_trim0"] = own - untrimmed if own is not None and untrimmed is not None else None


def _values(cells: list[dict], key: str) -> list[float]:
    return [r[key] for r in cells if r.get(key) is not None]


def summarise(records: list[dict], cfg: ContaminationConfig) -> list[dict]:
    """One row per method x level x trim setting: mean ± sd over seeds (text) and the numbers."""
    rows = []
    for method in cfg.methods:
        for level in cfg.levels:
            for label in cfg.trims:
                cells = [r for r in records if r["method"] == method and r["level"] == level and r["trim"] == label]
                value = trim_value(label, level)
                row = {"method": method, "level": f"{level:g}", "trim": f"{label} ({value:g})" if label == MATCH else label,
                       "trimmed": value, "n_seeds": len(cells),
                       "AUROC": fmt_mean_sd([r["auroc"] for r in cells]) + failed_note(cells),
                       "loss vs level 0": fmt_mean_sd(_values(cells, "loss")),
                       "vs trim 0": fmt_mean_sd(_values(cells, "vs_trim0"))}  # fmt: skip
                row["auroc_mean"], row["auroc_sd"] = mean_sd([r["auroc"] for r in cells])
                row["loss_mean"], row["loss_sd"] = mean_sd(_values(cells, "loss"))
                row["vs_trim0_mean"], row["vs_trim0_sd"] = mean_sd(_values(cells, "vs_trim0"))
                for s in CANCER:
                    row[s] = mean_sd([r["auroc_sections"].get(s) for r in cells if r["status"] == "ok"])[0]
                rows.append(row)
    return rows


def table_columns() -> list[str]:
    return ["method", "level", "trim", "AUROC", "loss vs level 0", "vs trim 0", *CANCER]


def table_text(result: dict) -> str:
    """The markdown of `contamination_table.md`."""
    cfg = result["config"]
    seeds = ", ".join(map(str, cfg["seeds"]))
    head = (f"Mean AUROC over SYN-BC-A..D (small cohort, cohort seed {cfg['cohort_seed']}; {cfg['epochs']} epochs; "
            f"training seed(s) {seeds}{', mean ± sd over seeds' if len(cfg['seeds']) > 1 else ''}). level: the share of "
            "anomalous spots in the healthy reference SYN-NB-A..H; trim: the trimmed-loss setting (`match` = the level); "
            "loss vs level 0: AUROC at level 0 (same method, trim, seed) minus this one; vs trim 0: this AUROC minus "
            "trim 0's at the same level.\n\n")  # fmt: skip
    return head + markdown_table(result["table"], table_columns())


def write_outputs(result: dict, cfg: ContaminationConfig, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "contamination_results.json", result)
    write_text(out / "contamination_table.md", table_text(result))
