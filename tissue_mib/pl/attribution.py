"""Which modality drives a flag: per-modality scores of every spot, side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from tissue_mib.errors import InputError
from tissue_mib.pl.sections import section_view
from tissue_mib.pl.maps import _save

GENES, HISTOLOGY = "tissue_mib_score_genes", "tissue_mib_score_histology"


def _relative(values: np.ndarray, key: str) -> np.ndarray:
    median = np.nanmedian(values) if np.isfinite(values).any() else np.nan
    if not np.isfinite(median) or median <= 0:
        raise InputError(f"obs['{key}']: no positive scores (NaN for a method without this head?)")
    return values / median


def attribution(adata, *, color: str | None = None, library_id: str | None = None, ax=None, out: str | Path | None = None):
    """Scatter of the genes score (x) against the histology score (y), one point per spot.

    The heads' scores live on different scales, so each axis is divided by its median over the
    section: 1 = a typical spot of this section. Points are coloured by the categorical
    `obs[color]` (default: `anomaly_kind` when present, else `tissue_mib_label`). Both axes are
    on a log scale when all values are positive; spots above the dashed diagonal are unusual
    mainly in histology, below it mainly in genes. With `out`, the PNG is written atomically and
    the figure closed. Returns the axes.
    """
    for key in (GENES, HISTOLOGY):
        if key not in adata.obs:
            raise InputError(f"obs['{key}']: missing; attribution needs a model with gene and histology heads")
    view = section_view(adata, library_id)
    obs = adata.obs[view.mask]
    color = color or next((c for c in ("anomaly_kind", "tissue_mib_label") if c in obs), None)
    if color is not None and color not in obs:
        raise InputError(f"obs['{color}']: missing; cannot colour the attribution plot by it")
    x, y = (_relative(obs[key].to_numpy(np.float64), key) for key in (GENES, HISTOLOGY))
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(5.8, 5.2), layout="constrained")
    groups = obs[color].astype(str) if color else None
    cats = list(dict.fromkeys(groups)) if groups is not None else [None]
    for i, cat in enumerate(sorted(cats, key=lambda c: (c != "normal", str(c)))):
        sel = np.ones(len(x), bool) if cat is None else (groups == cat).to_numpy()
        ax.scatter(x[sel], y[sel], s=12, alpha=0.75, color=plt.get_cmap("tab10")(i), label=cat, linewidths=0)
    ok = np.isfinite(x) & np.isfinite(y)
    if np.all(x[ok] > 0) and np.all(y[ok] > 0):
        ax.set_xscale("log", base=2)  # ticks at 1/4, 1/2, 1, 2, 4 x the typical spot
        ax.set_yscale("log", base=2)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
    lo, hi = min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())
    ax.plot([lo, hi], [lo, hi], ls="--", c="0.5", lw=1)
    ax.set_xlabel("genes score / section median")
    ax.set_ylabel("histology score / section median")
    ax.set_title(f"{view.name}: which modality drives the score\nabove the diagonal: histology, below: genes", fontsize=10)
    if color:
        ax.legend(title=color, fontsize=8, markerscale=1.5)
    if out is not None:
        _save(ax.figure, out)
    return ax
