"""Anomaly maps: the score on the H&E at the spots' true size, one colour scale across sections."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import EllipseCollection
from matplotlib.colors import Normalize

from tissue_mib.errors import InputError
from tissue_mib.pl.sections import library_ids, safe_name, section_view
from tissue_mib.utils import atomic_write

logger = logging.getLogger(__name__)

FLAG_COLOUR = "#00e5ff"  # cyan: visible on H&E pink/purple and on the colour map
UNSCORED_COLOUR = "#9e9e9e"  # spots without a score (dropped by preprocessing)


def shared_scale(adatas, *, key: str = "tissue_mib_score", percentiles: tuple[float, float] = (1.0, 99.0)) -> tuple[float, float]:
    """(vmin, vmax): the given percentiles of `obs[key]` pooled over all `adatas` (one AnnData or a list)."""
    adatas = [adatas] if hasattr(adatas, "obs") else list(adatas)
    values = [_values(a, key) for a in adatas]
    pooled = np.concatenate(values) if values else np.array([])
    if pooled.size == 0:
        raise InputError(f"obs['{key}']: no values to scale")
    vmin, vmax = (float(v) for v in np.percentile(pooled, percentiles))
    if vmax <= vmin:
        vmax = vmin + 1e-12 + abs(vmin) * 1e-6
    return vmin, vmax


def _values(adata, key: str) -> np.ndarray:
    if key not in adata.obs:
        raise InputError(f"obs['{key}']: missing; score the section first")
    v = adata.obs[key].to_numpy(dtype=np.float64)
    return v[np.isfinite(v)]


def _spots(ax, xy: np.ndarray, diameter: float, **kw) -> EllipseCollection:
    coll = EllipseCollection(
        np.full(len(xy), diameter), np.full(len(xy), diameter), np.zeros(len(xy)),
        units="xy", offsets=xy, offset_transform=ax.transData, **kw,
    )
    ax.add_collection(coll)
    return coll


def _frame(ax, view, *, margin: float) -> None:
    lo, hi = view.xy.min(axis=0) - margin, view.xy.max(axis=0) + margin
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])  # image rows grow downwards
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _tissue(ax, view, *, margin: float) -> None:
    if view.image is not None:
        ax.imshow(view.image)
    else:
        ax.set_facecolor("#f2f2f2")
    _frame(ax, view, margin=margin)


def anomaly_map(
    adata,
    *,
    key: str = "tissue_mib_score",
    library_id: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "RdYlBu_r",
    ax=None,
    out: str | Path | None = None,
):
    """Draw `obs[key]` of one section over its H&E (spots at their true diameter), flagged spots
    (`obs['tissue_mib_label'] == 'anomalous'`) outlined, a colour bar and the section name;
    unscored spots (NaN) are grey.

    Pass the same vmin/vmax to every section (`shared_scale`); they default to this section's
    1st–99th percentiles. Without `ax`, the figure shows the bare tissue on the left when an
    image exists. With `out`, the PNG is written atomically and the figure closed. Returns the axes.
    """
    view = section_view(adata, library_id)
    if key not in adata.obs:
        raise InputError(f"obs['{key}']: missing; score the section first")
    values = adata.obs[key].to_numpy(dtype=np.float64)[view.mask]
    if vmin is None or vmax is None:
        auto = shared_scale(adata[view.mask], key=key)
        vmin = auto[0] if vmin is None else vmin
        vmax = auto[1] if vmax is None else vmax
    margin = 1.5 * view.diameter
    own_figure = ax is None
    cax = None
    if own_figure:
        span = np.ptp(view.xy, axis=0) + 2 * margin
        panel_h = float(np.clip(6.0 * span[1] / max(span[0], 1e-9), 2.5, 12.0))
        n_panels = 2 if view.image is not None else 1
        fig = plt.figure(figsize=(6.0 * n_panels + 1.3, panel_h + 0.9), layout="constrained")
        axes = fig.subplots(1, n_panels + 1, width_ratios=[1.0] * n_panels + [0.04])
        if n_panels == 2:
            _tissue(axes[0], view, margin=margin)
            axes[0].set_title(f"{view.name}: H&E", fontsize=11)
        ax, cax = axes[-2], axes[-1]
    fig = ax.figure
    _tissue(ax, view, margin=margin)
    colours = plt.get_cmap(cmap).with_extremes(bad=UNSCORED_COLOUR)
    coll = _spots(ax, view.xy, view.diameter, cmap=colours, norm=Normalize(vmin, vmax), edgecolors="white", linewidths=0.3)
    coll.set_array(np.ma.masked_invalid(values))
    n_flagged = 0
    if "tissue_mib_label" in adata.obs:
        flagged = (adata.obs["tissue_mib_label"].astype(str) == "anomalous").to_numpy()[view.mask]
        n_flagged = int(flagged.sum())
        if n_flagged:
            _spots(ax, view.xy[flagged], view.diameter * 1.3, facecolors="none", edgecolors=FLAG_COLOUR, linewidths=1.6)
    cbar = fig.colorbar(coll, cax=cax, ax=None if cax is not None else ax, fraction=0.046, pad=0.02, extend="both")
    cbar.set_label(f"{key} (higher = more anomalous)" if key == "tissue_mib_score" else key)
    subtitle = f"{len(view.xy)} spots"
    if "tissue_mib_label" in adata.obs:
        fdr = adata.uns.get("tissue_mib", {}).get("fdr")
        subtitle = f"{n_flagged} of {len(view.xy)} spots flagged" + (f" at q ≤ {fdr:g}" if fdr else "") + " (ringed)"
    what = "anomaly score" if key == "tissue_mib_score" else key
    ax.set_title(f"{view.name}: {what}\n{subtitle}", fontsize=11)
    if out is not None:
        _save(fig, out)
    return ax


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    with atomic_write(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    plt.close(fig)
    logger.debug("wrote %s", out)
    return out


def anomaly_maps(adatas: Sequence, out_dir: str | Path, *, key: str = "tissue_mib_score", cmap: str = "RdYlBu_r") -> list[Path]:
    """One PNG per section (`{section}.map.png` in `out_dir`), all on one colour scale (`shared_scale`)."""
    adatas = [adatas] if hasattr(adatas, "obs") else list(adatas)
    vmin, vmax = shared_scale(adatas, key=key)
    paths = []
    for adata in adatas:
        for lib in library_ids(adata):
            name = section_view(adata, lib).name
            path = Path(out_dir) / f"{safe_name(name)}.map.png"
            anomaly_map(adata, key=key, library_id=lib, vmin=vmin, vmax=vmax, cmap=cmap, out=path)
            paths.append(path)
    return paths
