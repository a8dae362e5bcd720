"""A picture of one synthetic section: its H&E image with the domains and the anomalies outlined.

Regenerate the figure of docs/synthetic-cohort.md with
`python -m tissue_mib.datasets.synthetic.plot SYN-BC-B docs/img/synthetic_SYN-BC-B.png`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from tissue_mib.datasets.synthetic.config import ANOMALY_KINDS, DOMAINS
from tissue_mib.datasets.synthetic.section import SyntheticSection, generate_section
from tissue_mib.utils import atomic_write

DOMAIN_COLOURS = {"duct": "#1b9e77", "adipose": "#666666", "immune": "#7570b3"}
KIND_COLOURS = {"genes": "#0072b2", "histology": "#e69f00", "both": "#000000"}


def plot_section(section: SyntheticSection, path: str | os.PathLike, *, max_px: int = 1200, dpi: int = 120) -> Path:
    """Write a PNG: left, H&E with domain borders (stroma unmarked); right, H&E with anomaly regions by kind."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    step = max(1, int(np.ceil(max(section.image.shape[:2]) / max_px)))
    image = section.image[::step, ::step]
    domains = section.layout.domain_map[::step, ::step]
    kinds = section.layout.anomaly_map[::step, ::step]
    extent = (0, section.image.shape[1] * section.mpp / 1000, section.image.shape[0] * section.mpp / 1000, 0)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2), constrained_layout=True)
    for ax in axes:
        ax.imshow(image, extent=extent)
        ax.set_xlabel("mm")
    axes[0].set_ylabel("mm")

    def outline(ax, mask, colour, width):
        ys = np.linspace(extent[3], extent[2], mask.shape[0])
        xs = np.linspace(extent[0], extent[1], mask.shape[1])
        ax.contour(xs, ys, mask.astype(np.float32), levels=[0.5], colors=[colour], linewidths=width)

    for name, colour in DOMAIN_COLOURS.items():
        outline(axes[0], domains == DOMAINS.index(name), colour, 1.2)
    for name, colour in KIND_COLOURS.items():
        outline(axes[1], kinds == ANOMALY_KINDS.index(name), colour, 2.0)
    counts = section.truth["anomaly_kind"].value_counts()
    n = len(section.truth)
    axes[0].set_title(f"{section.name}: H&E and tissue domains ({n} spots; anomalies on the right)")
    axes[1].set_title(f"planted anomalies: {(section.truth['anomaly_kind'] != 'normal').mean():.1%} of spots")
    axes[0].legend(
        handles=[Line2D([], [], color=c, lw=2, label=f"{d} ({(section.truth['domain'] == d).sum()} spots)") for d, c in DOMAIN_COLOURS.items()],
        loc="lower left", fontsize=9, framealpha=0.9, title=f"stroma: the rest ({(section.truth['domain'] == 'stroma').sum()} spots)", title_fontsize=9,
    )
    labels = {"genes": "genes only (normal H&E)", "histology": "histology only (normal genes)", "both": "genes and histology"}
    axes[1].legend(
        handles=[Line2D([], [], color=c, lw=2.5, label=f"{labels[k]}: {counts.get(k, 0)} spots") for k, c in KIND_COLOURS.items()],
        loc="lower left", fontsize=9, framealpha=0.9,
    )
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Plot one synthetic section (H&E, domains, anomalies) to a PNG.")
    parser.add_argument("section", help="SYN-NB-A..H or SYN-BC-A..D")
    parser.add_argument("png", type=Path)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plot_section(generate_section(args.section, small=args.small, seed=args.seed), args.png)


if __name__ == "__main__":
    main()
