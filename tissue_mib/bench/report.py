"""Writers shared by the benchmarks: markdown tables, the JSON result file, and PNG plots.

Every writer goes through `tissue_mib.utils.atomic_write`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tissue_mib.utils import atomic_write, plain


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample sd (ddof=1; 0 for a single value) of finite `values`; NaN when none."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_sd(values: Sequence[float]) -> str:
    """'0.812 ± 0.004' over the finite values (or '0.812' for one, '—' for none)."""
    m, s = mean_sd(values)
    if not math.isfinite(m):
        return "—"
    n_finite = sum(1 for v in values if v is not None and math.isfinite(v))
    return f"{m:.3f}" if n_finite == 1 else f"{m:.3f} ± {s:.3f}"


def failed_note(cells: Sequence[Mapping]) -> str:
    """' (k of n failed)' for benchmark records with status 'failed' among `cells`; '' when none."""
    n_failed = sum(r.get("status") == "failed" for r in cells)
    return f" ({n_failed} of {len(cells)} failed)" if n_failed else ""


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    """A GitHub markdown table of `rows` (floats to 3 decimals, missing cells empty)."""

    def cell(v) -> str:
        if isinstance(v, float):
            return "—" if not math.isfinite(v) else f"{v:.3f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_json(path: str | Path, result: Mapping) -> Path:
    """Write `result` as indented JSON (numpy values as plain numbers, NaN as null)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(plain(result), indent=2) + "\n")
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file (e.g. a markdown table) atomically."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(text)
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG (dpi 120) atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_write(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def bar_plot(groups: Mapping[str, Mapping[str, Sequence[float]]], *, ylabel: str, title: str,
             reference: Mapping[str, Mapping[str, float]] | None = None):
    """Grouped bars (mean ± sd over seeds): `groups[group][method] = values`; optional paper
    values drawn as black ticks (`reference[group][method]`). Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(groups)
    methods = list(dict.fromkeys(m for g in groups.values() for m in g))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(methods) + 2), 3.8))
    x = np.arange(len(methods))
    for i, g in enumerate(names):
        stats = [mean_sd(groups[g].get(m, [])) for m in methods]
        pos = x + (i - (len(names) - 1) / 2) * width
        ax.bar(pos, [s[0] for s in stats], width, yerr=[s[1] for s in stats], label=g, capsize=2)
        if reference and g in reference:
            ref = [reference[g].get(m, np.nan) for m in methods]
            ax.scatter(pos, ref, marker="_", s=200, color="black", zorder=3,
                       label="paper" if i == 0 else None)
    ax.set_xticks(x, methods, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    lows = [mean_sd(v)[0] for g in groups.values() for v in g.values()]
    low = np.nanmin(lows) if lows else 0.0
    ax.set_ylim(max(0.0, low - 0.1) if np.isfinite(low) else 0.0, 1.0)
    ax.legend(fontsize=8, ncol=2)
    return fig
