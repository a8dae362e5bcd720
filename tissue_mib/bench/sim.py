"""`bench sim`: the OMIB paper's synthetic benchmark (section 6, appendix F, Table 2, Figure 3).

Three parts, all through the shared methods and engine:
- accuracy table: every method on SIM-I/II/III over seeds, mean ± sd, the paper's Table 2
  beside it, plus `single` on the true task-relevant blocks [a0; a1; a2] (the authentic
  optimum) and on [a0] and [a1; a2] alone;
- beta sweep (Figure 3): OMIB with a fixed beta on a log grid, with M_l and M_u from MINE;
- MINE budget: how H(v1), H(v2), I(v1; v2), M_l, M_u move with the estimator's step budget.
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
from tissue_mib.bench.run import Cell, config_from_dict, failures, fit_predict, guarded, run_cells
from tissue_mib.datasets.sim import make_sim, sim_layout
from tissue_mib.errors import InputError
from tissue_mib.logs import STEP
from tissue_mib.settings import progress

logger = logging.getLogger(__name__)

FUSION_METHODS = ("omib", "ibma", "e-mib", "l-mib", "c-mib", "concat")
#: rows that are `single` on one feature view: row name -> view
VIEW_ROWS = {"x1 alone": "x1", "x2 alone": "x2", "authentic optimum": "authentic", "[a0] alone": "a0",
             "[a1; a2] alone": "a1a2"}
ROWS = (*FUSION_METHODS, *VIEW_ROWS)
#: task-relevant blocks a view row sees; fusion rows and the authentic optimum see a0, a1, a2
VIEW_BLOCKS = {"x1 alone": ("a0", "a1"), "x2 alone": ("a0", "a2"), "[a0] alone": ("a0",), "[a1; a2] alone": ("a1", "a2")}
#: OMIB paper Table 2 (accuracy; columns SIM-I and SIM-III); "union of both" is read as concat.
PAPER_TABLE2 = {
    "SIM-I": {"omib": 0.892, "authentic optimum": 0.909, "[a0] alone": 0.707, "[a1; a2] alone": 0.737,
              "x1 alone": 0.748, "x2 alone": 0.82, "concat": 0.858},
    "SIM-III": {"omib": 0.890, "authentic optimum": 0.908, "[a0] alone": 0.686, "[a1; a2] alone": 0.744,
                "x1 alone": 0.792, "x2 alone": 0.78, "concat": 0.866},
}
TASK = {"kind": "multiclass", "n_classes": 2}
BAYES_NOTE = "the best expected accuracy any classifier can reach from the row's inputs (from the drawn delta)"


@dataclass
class SimConfig:
    """Everything `run_sim` does; recorded in the JSON. Sizes as in the paper unless `quick`."""

    datasets: tuple[str, ...] = ("I", "II", "III")
    rows: tuple[str, ...] = ROWS
    seeds: tuple[int, ...] = (0, 1, 2)
    n: int = 10_000
    b1: int | None = None
    b2: int | None = None
    scale: float = 1.0
    latent_dim: int = 256
    cell: Cell = field(default_factory=Cell)
    sweep_dataset: str = "I"
    betas: tuple[float, ...] = tuple(float(b) for b in np.logspace(-6, 1, 8))
    mine_steps: int = 500
    pca_dim: int = 256
    mine_budgets: tuple[int, ...] = (100, 500, 2000)

    @classmethod
    def from_dict(cls, d: dict) -> SimConfig:
        """The config recorded in a result JSON (`asdict` of a SimConfig)."""
        return config_from_dict(cls, d)

    def data_options(self) -> dict:
        """The `make_sim` / `sim_layout` options every data set of the run shares."""
        return {"n": self.n, "b1": self.b1, "b2": self.b2, "scale": self.scale}

    @classmethod
    def quick(cls) -> SimConfig:
        """Tiny sizes for tests: seconds, not meaningful numbers."""
        return cls(datasets=("I",), seeds=(0,), n=300, scale=0.1, latent_dim=32,
                   cell=Cell(epochs=2, warmup_epochs=1, batch_size=64),
                   betas=(1e-4, 1e-1), mine_steps=10, pca_dim=4096, mine_budgets=(5, 10))


def _views(data) -> dict[str, np.ndarray]:
    d0 = data.params["d0"]
    return {"x1": data.x1, "x2": data.x2, "authentic": data.authentic, "a0": data.authentic[:, :d0],
            "a1a2": data.authentic[:, d0:]}


def _omib_params(cfg: SimConfig) -> dict:
    return {"mine_steps": cfg.mine_steps, "pca_dim": cfg.pca_dim, "k": cfg.latent_dim}


def _row_spec(row: str, views: dict[str, np.ndarray]) -> tuple[str, dict[str, np.ndarray], dict]:
    """(method, arrays by modality, extra params) of one table row."""
    if row in VIEW_ROWS:
        view = VIEW_ROWS[row]
        return "single", {view: views[view]}, {"modality": view}
    return row, {"x1": views["x1"], "x2": views["x2"]}, {}


def _fit_accuracy(method, arrays, params, data, cfg: SimConfig, seed: int) -> tuple[float, object, float]:
    from tissue_mib.bench.run import encoder_spec
    from tissue_mib.train import MultiModalData

    train = MultiModalData(modalities={k: v[data.train] for k, v in arrays.items()}, y=data.y[data.train])
    test = MultiModalData(modalities={k: v[data.test] for k, v in arrays.items()}, y=data.y[data.test])
    specs = {k: encoder_spec(v) for k, v in arrays.items()}
    out, model, seconds = fit_predict(method, modalities=specs, task=TASK, train=train, test=test, cell=cfg.cell,
                                      seed=seed, params={"latent_dim": cfg.latent_dim, **params})
    return accuracy(data.y[data.test], out["probs"]), model, seconds


def check(cfg: SimConfig) -> None:
    """Refuse bad options before any training (InputError), so a grid fails only on cells."""
    unknown = [r for r in cfg.rows if r not in ROWS]
    if unknown:
        raise InputError(f"unknown bench sim row(s) {unknown} (option methods); choose from {list(ROWS)}")
    for ds in dict.fromkeys((*cfg.datasets, cfg.sweep_dataset)):
        sim_layout(ds, **cfg.data_options())
    if not cfg.seeds:
        raise InputError("bench sim needs at least one seed (option seeds)")


@lru_cache(maxsize=1)
def _sim_data(kind: str, seed: int, n: int, b1: int | None, b2: int | None, scale: float):
    """`make_sim`, kept for the next cell of the same data set (cells run data set by data set)."""
    return make_sim(kind, seed=seed, n=n, b1=b1, b2=b2, scale=scale)


def _cell_record(fields: dict, label: str, method: str, arrays, params, data, cfg: SimConfig, seed: int) -> dict:
    """`fields` plus status / accuracy / seconds (or the error) of one guarded cell, and OMIB's
    beta, M_l and M_u (beta only where `fields` has none: the sweep's fixed value stays exact)."""
    out, error = guarded(label, lambda: _fit_accuracy(method, arrays, params, data, cfg, seed))
    if error is not None:
        return {**fields, "status": "failed", "cell": label, "error": error, "accuracy": float("nan")}
    acc, model, seconds = out
    rec = {**fields, "status": "ok", "accuracy": acc, "seconds": round(seconds, 2)}
    if method == "omib":
        rec.update({k: float(getattr(model, k)) for k in ("beta", "M_l", "M_u") if k not in fields})
    logger.log(STEP, "%s: accuracy %.3f", label, acc)
    return rec


def table_cell(cfg: SimConfig, kind: str, seed: int, row: str) -> dict:
    """The record of one table cell: `row` on SIM-`kind` with `seed`."""
    data = _sim_data(kind, seed, **cfg.data_options())
    method, arrays, params = _row_spec(row, _views(data))
    if method == "omib":
        params.update(_omib_params(cfg))
    fields = {"dataset": data.params["kind"], "row": row, "method": method, "seed": seed}
    return _cell_record(fields, f"{data.params['kind']} {row} seed {seed}", method, arrays, params, data, cfg, seed)


def sweep_cell(cfg: SimConfig, seed: int, beta: float) -> dict:
    """The record of one beta-sweep run: OMIB with a fixed `beta` on SIM-`sweep_dataset`."""
    data = _sim_data(cfg.sweep_dataset, seed, **cfg.data_options())
    views = _views(data)
    params = {**_omib_params(cfg), "beta": float(beta)}
    return _cell_record({"beta": float(beta), "seed": seed}, f"SIM-{cfg.sweep_dataset} beta {beta:.3g} seed {seed}", "omib",
                        {"x1": views["x1"], "x2": views["x2"]}, params, data, cfg, seed)


def summarise(records: list[dict], cfg: SimConfig) -> list[dict]:
    """One table row per method: mean ± sd per data set and the paper's value beside it."""
    rows = []
    names = [f"SIM-{d}" for d in cfg.datasets]
    for row in cfg.rows:
        line = {"method": row}
        for ds in names:
            cells = [r for r in records if r["dataset"] == ds and r["row"] == row]
            acc = [r["accuracy"] for r in cells]
            line[ds] = fmt_mean_sd(acc) + failed_note(cells)
            line[f"{ds} mean"], line[f"{ds} sd"] = mean_sd(acc)
            if ds in PAPER_TABLE2:
                line[f"paper {ds}"] = PAPER_TABLE2[ds].get(row)
        rows.append(line)
    return rows


def bayes_limits(cfg: SimConfig, records: list[dict]) -> list[dict]:
    """Per row, the best expected accuracy any classifier can reach from the row's inputs
    (`SimData.bayes_accuracy` of the blocks it sees), per data set, mean over the seeds of
    `records`: the ceiling each row of the table is measured against."""
    limits: dict[str, dict[str, list[float]]] = {row: {} for row in cfg.rows}
    for ds in cfg.datasets:
        for seed in sorted({r["seed"] for r in records if r["dataset"] == f"SIM-{ds}"}):
            data = _sim_data(ds, seed, **cfg.data_options())
            for row in cfg.rows:
                value = data.bayes_accuracy(VIEW_BLOCKS.get(row, ("a0", "a1", "a2")))
                limits[row].setdefault(f"SIM-{ds}", []).append(value)
    return [{"method": row, **{ds: float(np.mean(v)) for ds, v in by_ds.items()}} for row, by_ds in limits.items()]


def limit_columns(cfg: SimConfig) -> list[str]:
    """Columns of the Bayes-limit table: method, then one per data set."""
    return ["method", *(f"SIM-{d}" for d in cfg.datasets)]


def table_columns(cfg: SimConfig) -> list[str]:
    cols = ["method"]
    for d in cfg.datasets:
        cols.append(f"SIM-{d}")
        if f"SIM-{d}" in PAPER_TABLE2:
            cols.append(f"paper SIM-{d}")
    return cols


def mine_budget(cfg: SimConfig) -> list[dict]:
    """MINE estimates of H(x1), H(x2), I(x1; x2) and the bounds M_l, M_u per step budget,
    on the sweep data set's training rows (OMIB's own MINE and `beta_bounds`)."""
    from tissue_mib.nn.objectives.omib import beta_bounds, entropy, estimate_mi

    data = make_sim(cfg.sweep_dataset, seed=cfg.seeds[0], **cfg.data_options())
    rows = data.train[:4096]
    x1, x2 = data.x1[rows], data.x2[rows]
    out = []
    for steps in progress(cfg.mine_budgets, desc="MINE budget"):
        start = time.perf_counter()
        kw = dict(steps=steps, batch_size=256, lr=1e-3, seed=cfg.seeds[0], max_dim=cfg.pca_dim)
        h1, h2, i12 = entropy(x1, **kw), entropy(x2, **kw), estimate_mi(x1, x2, **kw)
        try:
            m_l, m_u = beta_bounds(h1, h2, i12)
        except InputError as err:  # a tiny budget can give H1 + H2 <= I12
            logger.warning("MINE budget %d steps: %s", steps, err)
            m_l = m_u = float("nan")
        out.append({"steps": steps, "H1": h1, "H2": h2, "I12": i12, "M_l": m_l, "M_u": m_u,
                    "seconds": round(time.perf_counter() - start, 2)})
    return out


def plot_sweep(sweep: list[dict], bounds: list[dict], *, title: str):
    """Accuracy vs beta (log axis, mean ± sd over seeds) with M_l and M_u of every MINE budget."""
    import matplotlib.pyplot as plt

    betas = sorted({r["beta"] for r in sweep})
    stats = [mean_sd([r["accuracy"] for r in sweep if r["beta"] == b]) for b in betas]
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.errorbar(betas, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o", capsize=2, label="OMIB, fixed β")
    ax.set_xscale("log")
    colours = plt.cm.viridis(np.linspace(0.1, 0.9, max(1, len(bounds))))
    for c, b in zip(colours, bounds):
        if np.isfinite(b["M_l"]) and np.isfinite(b["M_u"]):
            ax.axvline(b["M_l"], color=c, ls=":", lw=1)
            ax.axvline(b["M_u"], color=c, ls="--", lw=1, label=f"M_l (:) / M_u (--), MINE {b['steps']} steps")
    ax.set_xlabel("β")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def run_sim(cfg: SimConfig, *, out: str | Path | None = None, sweep: bool = True, jobs: int = 1) -> dict:
    """Run the table (and, with `sweep`, the MINE budget study and the beta sweep); write
    `sim_results.json`, `sim_table.md`, `bench_sim_accuracy.png` and `bench_sim_beta.png` to `out`.

    jobs: cells run in that many worker processes at once (`run_cells`). A cell that raises
    is recorded with status 'failed' and its error line, and the grid goes on.
    """
    check(cfg)
    start = time.perf_counter()
    cells = [partial(table_cell, cfg, kind, seed, row) for kind in cfg.datasets for seed in cfg.seeds for row in cfg.rows]
    n_table = len(cells)
    if sweep:
        cells += [partial(sweep_cell, cfg, seed, beta) for seed in cfg.seeds for beta in cfg.betas]
        cells.append(partial(mine_budget, cfg))
    done = run_cells(cells, jobs=jobs, name="bench sim", every=len(cfg.rows))
    records = done[:n_table]
    betas, mine = (done[n_table:-1], done[-1]) if sweep else (None, None)
    result = assemble(cfg, records, mine_budget=mine, beta_sweep=betas, seconds=time.perf_counter() - start)
    if out is not None:
        write_outputs(result, cfg, Path(out))
    return result


def assemble(cfg: SimConfig, records: list[dict], *, mine_budget: list[dict] | None = None,
             beta_sweep: list[dict] | None = None, seconds: float) -> dict:
    """The result dict of a run (or of merged runs): config, records, table, failures and,
    when given, the MINE budget study, the beta sweep and its peak."""
    result = {"benchmark": "sim", "version": __version__, "config": asdict(cfg), "records": records,
              "table": summarise(records, cfg), "bayes_limit": bayes_limits(cfg, records), "paper_table2": PAPER_TABLE2}
    if beta_sweep is not None:
        result["mine_budget"] = mine_budget
        result["beta_sweep"] = beta_sweep
        finished = [r for r in beta_sweep if r["status"] == "ok"]
        result["beta_peak"] = max(finished, key=lambda r: r["accuracy"])["beta"] if finished else None
    result["failures"] = failures(records + (beta_sweep or []))
    result["seconds"] = round(seconds, 1)
    return result


def write_outputs(result: dict, cfg: SimConfig, out: Path) -> None:
    """The JSON, the markdown table and the PNGs of a `run_sim` result."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sim_results.json", result)
    text = markdown_table(result["table"], table_columns(cfg))
    text += (f"\nBayes limit: {BAYES_NOTE}, mean over seeds:\n\n"
             + markdown_table(result["bayes_limit"], limit_columns(cfg)))
    if "mine_budget" in result:
        text += "\nMINE budget (SIM-" + cfg.sweep_dataset + "):\n\n" + markdown_table(
            result["mine_budget"], ["steps", "H1", "H2", "I12", "M_l", "M_u", "seconds"])
        betas = sorted({r["beta"] for r in result["beta_sweep"]})
        sweep = [{"beta": f"{b:.3g}", "accuracy": fmt_mean_sd([r["accuracy"] for r in result["beta_sweep"] if r["beta"] == b])}
                 for b in betas]
        text += "\nOMIB with fixed beta (SIM-" + cfg.sweep_dataset + "), accuracy mean ± sd over seeds:\n\n" + markdown_table(
            sweep, ["beta", "accuracy"])
    write_text(out / "sim_table.md", text)
    groups = {f"SIM-{d}": {row: [r["accuracy"] for r in result["records"] if r["dataset"] == f"SIM-{d}" and r["row"] == row]
                           for row in cfg.rows} for d in cfg.datasets}
    save_figure(bar_plot(groups, ylabel="test accuracy", title="bench sim (bars: ours, ticks: paper Table 2)",
                         reference=PAPER_TABLE2), out / "bench_sim_accuracy.png")
    if "beta_sweep" in result:
        save_figure(plot_sweep(result["beta_sweep"], result["mine_budget"], title=f"β sweep on SIM-{cfg.sweep_dataset}"),
                    out / "bench_sim_beta.png")
