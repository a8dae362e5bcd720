"""ROC curves of several methods or sections on one plot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from tissue_mib.errors import InputError
from tissue_mib.metrics import auroc
from tissue_mib.pl.maps import _save


def roc_curves(curves: Mapping[str, Mapping | tuple], *, title: str = "ROC", ax=None, out: str | Path | None = None):
    """Plot one ROC curve per entry of `curves`: name -> {"y": bool (N,), "score": (N,)} or (y, score).

    The legend gives each curve's AUROC; the diagonal is chance. With `out`, the PNG is written
    atomically and the figure closed. Returns the axes.
    """
    if not curves:
        raise InputError("roc_curves: no curves to plot")
    own_figure = ax is None
    if own_figure:
        height = 5.0 + 0.18 * max(0, len(curves) - 8)
        _, ax = plt.subplots(figsize=(6.2, height), layout="constrained")
    for name, curve in curves.items():
        y, score = (curve["y"], curve["score"]) if isinstance(curve, Mapping) else curve
        y = np.asarray(y, dtype=bool)
        fpr, tpr, _ = roc_curve(y, np.asarray(score, dtype=np.float64))
        ax.plot(fpr, tpr, lw=1.6, label=f"{name} (AUROC {auroc(y, score):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1, label="chance")
    ax.set_xlabel("false positive rate (normal spots flagged)")
    ax.set_ylabel("true positive rate (anomalous spots flagged)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    if out is not None:
        _save(ax.figure, out)
    return ax
