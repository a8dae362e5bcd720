"""`bench merge`: one result from `bench sim` or `bench mfeat` grids run apart.

A paper-sized grid is hours of CPU; split it over processes or machines (e.g. one
`--seeds` per process) and merge the result folders: records are pooled, the table, JSON
and plots are made again exactly as one run would make them. The runs must agree on every
setting but the grid axes (data sets, rows, seeds, ...); the training device is not
compared. A cell present in two runs is taken from the first that finished it: a failed
cell is replaced by a later run's finished one (re-run the failed cells alone and merge);
two finished values that differ (e.g. other thread counts or code versions) keep the first,
with a warning.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tissue_mib.bench.mfeat import FUSION_METHODS as MFEAT_METHODS
from tissue_mib.bench.sim import ROWS as SIM_ROWS
from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Grid:
    """How to merge one benchmark's results."""

    file: str  # result file name in a run folder
    axes: tuple[str, ...]  # config fields that may differ between runs (pooled)
    records: dict[str, tuple[tuple[str, ...], str]]  # record list -> (key fields, metric)
    optional: tuple[str, ...] = ()  # config fields compared only among runs that have `optional_records`
    optional_records: str | None = None
    order: tuple[tuple[str, tuple], ...] = ()  # (axis, its values in table order) for pooled axes of names


GRIDS = {
    "sim": _Grid("sim_results.json", ("datasets", "rows", "seeds"),
                 {"records": (("dataset", "row", "seed"), "accuracy"), "beta_sweep": (("beta", "seed"), "accuracy")},
                 optional=("sweep_dataset", "betas", "mine_budgets"), optional_records="beta_sweep",
                 order=(("datasets", ("I", "II", "III")), ("rows", SIM_ROWS))),
    "mfeat": _Grid("mfeat_results.json", ("view_sets", "methods", "seeds", "normal_digits"),
                   {"classification": (("views", "row", "seed"), "accuracy"),
                    "anomaly": (("views", "row", "seed", "normal_digit"), "auroc")},
                   order=(("methods", (*MFEAT_METHODS, "single")),)),
}


def load_result(path: str | Path) -> tuple[dict, Path]:
    """The result dict of a run folder (its `*_results.json`) or of a result file; InputError
    naming the path when it is missing, not JSON or not a sim/mfeat result."""
    path = Path(path)
    if path.is_dir():
        found = [path / g.file for g in GRIDS.values() if (path / g.file).is_file()]
        if not found:
            raise InputError(f"{path}: no {' or '.join(g.file for g in GRIDS.values())} in this folder")
        path = found[0]
    if not path.is_file():
        raise InputError(f"{path}: no such result file or folder")
    try:
        result = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a JSON result file ({err})") from None
    if not isinstance(result, dict) or result.get("benchmark") not in GRIDS or "config" not in result:
        raise InputError(f"{path}: not a bench sim or bench mfeat result (field 'benchmark')")
    return result, path


def _union(values: Sequence, order: Sequence = ()) -> tuple:
    """Values of a grid axis over runs: numbers sorted, names in `order` (others after, as first seen)."""
    out = tuple(dict.fromkeys(_hashable(v) for vs in values for v in vs))
    if all(isinstance(v, (int, float)) for v in out):
        return tuple(sorted(out))
    rank = {v: i for i, v in enumerate(order)}
    return tuple(sorted(out, key=lambda v: rank.get(v, len(rank))))


def _hashable(v):
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def merge_results(results: Sequence[dict], paths: Sequence[Path], *, out: str | Path | None = None) -> tuple[dict, object]:
    """Pool the records of `results` (dicts from `load_result`); return (merged result, config)
    and write the benchmark's JSON, table and PNGs to `out`."""
    kinds = {r["benchmark"] for r in results}
    if len(kinds) != 1:
        raise InputError(f"bench merge: runs of different benchmarks {sorted(kinds)} cannot be merged")
    kind = kinds.pop()
    grid = GRIDS[kind]

    def fixed(r: dict, keep_optional: bool) -> dict:
        cfg = {k: v for k, v in r["config"].items() if k not in grid.axes and (keep_optional or k not in grid.optional)}
        for name in ("cell", "svdd_cell"):
            if name in cfg:
                cfg[name] = {k: v for k, v in cfg[name].items() if k != "device"}
        return cfg

    with_opt = [i for i, r in enumerate(results) if grid.optional_records and grid.optional_records in r]
    for i, r in enumerate(results[1:], start=1):
        _check_same(fixed(results[0], False), fixed(r, False), paths[0], paths[i])
    for i in with_opt[1:]:
        a, b = results[with_opt[0]]["config"], results[i]["config"]
        _check_same({k: a[k] for k in grid.optional if k != "betas"}, {k: b[k] for k in grid.optional if k != "betas"},
                    paths[with_opt[0]], paths[i])
    config = dict(results[with_opt[0] if with_opt else 0]["config"])
    for axis in grid.axes:
        config[axis] = _union([r["config"][axis] for r in results], dict(grid.order).get(axis, ()))
    if with_opt and "betas" in grid.optional:
        config["betas"] = _union([results[i]["config"]["betas"] for i in with_opt])
    for name in ("cell", "svdd_cell"):
        if name in config:
            config[name] = {**config[name], "device": "auto"}

    pooled = {name: _pool(name, key, metric, results, paths) for name, (key, metric) in grid.records.items()}
    seconds = sum(r.get("seconds") or 0.0 for r in results)
    sources = [{"path": str(p), "version": r.get("version"), "seconds": r.get("seconds"),
                "device": r["config"].get("cell", {}).get("device")} for r, p in zip(results, paths)]
    if kind == "sim":
        from tissue_mib.bench.sim import SimConfig, assemble, write_outputs

        cfg = SimConfig.from_dict(config)
        sweep = {"mine_budget": results[with_opt[0]].get("mine_budget"), "beta_sweep": pooled["beta_sweep"]} if with_opt else {}
        merged = assemble(cfg, pooled["records"], seconds=seconds, **sweep)
    else:
        from tissue_mib.bench.mfeat import MfeatConfig, assemble, write_outputs

        cfg = MfeatConfig.from_dict(config)
        splits = {json.dumps(r.get("split"), sort_keys=True) for r in results}
        if len(splits) != 1:
            raise InputError(f"bench merge: the runs used different train/test splits {sorted(splits)}")
        merged = assemble(cfg, pooled["classification"], pooled["anomaly"], split=results[0]["split"], seconds=seconds)
    merged["merged_from"] = sources
    if out is not None:
        write_outputs(merged, cfg, Path(out))
    return merged, cfg


def _check_same(a: dict, b: dict, path_a: Path, path_b: Path) -> None:
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        k = diff[0]
        raise InputError(f"bench merge: {path_b} differs from {path_a} in setting '{k}' ({b.get(k)!r} vs {a.get(k)!r}); "
                         "only the grid axes may differ")


def _pool(name: str, key: tuple[str, ...], metric: str, results: Sequence[dict], paths: Sequence[Path]) -> list[dict]:
    """Records of list `name` over runs, one per key (see the module docstring for repeats)."""
    seen: dict[tuple, tuple[dict, Path]] = {}
    for r, path in zip(results, paths):
        for rec in r.get(name) or []:
            k = tuple(rec[f] for f in key)
            if k in seen:
                first, first_path = seen[k]
                if first.get("status") == "failed" and rec.get("status") != "failed":
                    logger.info("bench merge: %s %s failed in %s, finished in %s", name, dict(zip(key, k)), first_path, path)
                    seen[k] = (rec, path)
                elif rec.get("status") != "failed" and not _same(first.get(metric), rec.get(metric)):
                    logger.warning("bench merge: %s %s is %s in %s but %s in %s; keeping the first", name,
                                   dict(zip(key, k)), first.get(metric), first_path, rec.get(metric), path)
                continue
            seen[k] = (rec, path)
    return [rec for rec, _ in seen.values()]


def merge_runs(paths: Sequence[str | Path], *, out: str | Path | None = None) -> tuple[dict, object]:
    """Load every run (folder or result file) and merge them (`merge_results`)."""
    if len(paths) < 2:
        raise InputError("bench merge needs at least two result folders or files")
    loaded = [load_result(p) for p in paths]
    return merge_results([r for r, _ in loaded], [p for _, p in loaded], out=out)
