"""A picture of one synthetic section: its H&E image with the domains and the anomalies outlined.

Regenerate the figure of docs/synthetic-cohort.md with
`python -m tissue_mib.datasets.synthetic.plot SYN-BC-B docs/img/synthetic_SYN-BC-B.png`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from tissue_mib.datasets.synthetic import histology
from tissue_mib.datasets.synthetic.config import ANOMALY_KINDS, DOMAINS, SPOT_UM
from tissue_mib.datasets.synthetic.section import SyntheticSection, generate_section
from tissue_mib.utils import atomic_write

DOMAIN_COLOURS = {"duct": "#1b9e77", "adipose": "#666666", "immune": "#7570b3"}
KIND_COLOURS = {"genes": "#0072b2", "histology": "#e69f00", "both": "#000000"}


CROPS = ("stroma", "duct", "adipose", "immune", "tumour")
_CROP_UM = 200.0


def _texture_crops(section: SyntheticSection, axes) -> None:
    """Full-resolution 200 µm crops of each texture, with a 55 µm spot circle for scale."""
    from matplotlib.patches import Circle
    from scipy import ndimage

    classes = histology.texture_classes(section.layout)
    half = int(_CROP_UM / section.mpp / 2)
    for ax, name in zip(axes, CROPS):
        ax.set_axis_off()
        if name == "duct":
            mask = section.layout.domain_map == DOMAINS.index("duct")
        else:
            mask = classes == histology.CLASSES.index(name)
        coarse = ndimage.uniform_filter(mask[::4, ::4].astype(np.float32), size=2 * half // 4)
        if coarse.max() < 0.3:
            ax.set_title(f"{name}: none here", fontsize=9)
            continue
        row, col = (4 * v for v in np.unravel_index(np.argmax(coarse), coarse.shape))
        row = int(np.clip(row, half, section.image.shape[0] - half))
        col = int(np.clip(col, half, section.image.shape[1] - half))
        ax.imshow(section.image[row - half : row + half, col - half : col + half])
        ax.add_patch(Circle((half, half), SPOT_UM / section.mpp / 2, fill=False, color="black", lw=1.2, ls="--"))
        ax.set_title(f"{name} ({_CROP_UM:.0f} µm)" if name != "tumour" else f"tumour texture ({_CROP_UM:.0f} µm)", fontsize=9)


def plot_section(section: SyntheticSection, path: str | os.PathLike, *, max_px: int = 1200, dpi: int = 120) -> Path:
    """Write a PNG: H&E with domain borders (stroma unmarked), H&E with the anomaly regions by kind, and
    full-resolution crops of each texture with a 55 µm spot circle."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    step = max(1, int(np.ceil(max(section.image.shape[:2]) / max_px)))
    image = section.image[::step, ::step]
    domains = section.layout.domain_map[::step, ::step]
    kinds = section.layout.anomaly_map[::step, ::step]
    extent = (0, section.image.shape[1] * section.mpp / 1000, section.image.shape[0] * section.mpp / 1000, 0)
    fig = plt.figure(figsize=(13, 8.8), layout="constrained")
    grid = fig.add_gridspec(2, 2 * len(CROPS), height_ratios=[3.2, 1])
    axes = [fig.add_subplot(grid[0, : len(CROPS)]), fig.add_subplot(grid[0, len(CROPS) :])]
    _texture_crops(section, [fig.add_subplot(grid[1, 2 * i : 2 * i + 2]) for i in range(len(CROPS))])
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
