"""Where things are in a synthetic section: the Visium grid, the tissue, its domains and the anomalies.

Everything is drawn in the full-resolution pixel frame (`mpp` micrometres per pixel) from
smooth random fields, so that domains and anomalies are spatially coherent blobs; a spot's
labels are read from the pixel maps, which keeps spots, genes and the image consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from tissue_mib.datasets.synthetic.config import ANOMALY_KINDS, DOMAINS, SPACING_UM, SPOT_UM, CohortConfig

OUTSIDE = 255  # code of pixels outside the tissue in the domain and anomaly maps
_ROW_UM = SPACING_UM * math.sqrt(3) / 2  # vertical distance between grid rows
_FIELD_CELL_UM = 20.0  # resolution of the smooth random fields before upsampling


@dataclass
class Layout:
    """Pixel maps (H, W) and the spot table of one section.

    `domain_map`: index into DOMAINS (OUTSIDE off tissue); `lumen`: bool, duct lumina;
    `anomaly_map`: index into ANOMALY_KINDS (OUTSIDE off tissue); `spots`: every grid spot
    with `array_row`, `array_col`, `pxl_row_in_fullres`, `pxl_col_in_fullres`, `in_tissue`.
    """

    domain_map: np.ndarray
    lumen: np.ndarray
    anomaly_map: np.ndarray
    spots: pd.DataFrame


def image_shape(config: CohortConfig) -> tuple[int, int]:
    """(height, width) in pixels of the full-resolution frame holding the grid plus margins."""
    width_um = 2 * config.margin_um + (2 * config.spots_per_row - 1) * SPACING_UM / 2
    height_um = 2 * config.margin_um + (config.rows - 1) * _ROW_UM
    return math.ceil(height_um / config.mpp) + 1, math.ceil(width_um / config.mpp) + 1


def hex_grid(config: CohortConfig) -> pd.DataFrame:
    """The Visium grid: `array_col` steps by 2 with the row parity as offset (50 µm per column unit)."""
    rows = np.repeat(np.arange(config.rows), config.spots_per_row)
    cols = 2 * np.tile(np.arange(config.spots_per_row), config.rows) + rows % 2
    x_um = config.margin_um + cols * SPACING_UM / 2
    y_um = config.margin_um + rows * _ROW_UM
    return pd.DataFrame(
        {
            "array_row": rows,
            "array_col": cols,
            "pxl_row_in_fullres": np.rint(y_um / config.mpp).astype(np.int64),
            "pxl_col_in_fullres": np.rint(x_um / config.mpp).astype(np.int64),
        }
    )


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], *, mpp: float, scale_um: float) -> np.ndarray:
    """A standardised Gaussian random field (float32, `shape`) with correlation length `scale_um`."""
    coarse = (math.ceil(shape[0] * mpp / _FIELD_CELL_UM) + 1, math.ceil(shape[1] * mpp / _FIELD_CELL_UM) + 1)
    field = ndimage.gaussian_filter(rng.standard_normal(coarse), scale_um / _FIELD_CELL_UM, mode="reflect")
    field = (field - field.mean()) / field.std()
    zoom = (shape[0] / coarse[0], shape[1] / coarse[1])
    return ndimage.zoom(field.astype(np.float32), zoom, order=1, grid_mode=True, mode="nearest")[: shape[0], : shape[1]]


def _at_spots(values: np.ndarray, spots: pd.DataFrame) -> np.ndarray:
    return values[spots["pxl_row_in_fullres"].to_numpy(), spots["pxl_col_in_fullres"].to_numpy()]


def _top_fraction_threshold(values: np.ndarray, n_top: int) -> float:
    """The threshold t such that exactly `n_top` of `values` are >= t (distinct values)."""
    return float(np.sort(values)[::-1][n_top - 1]) if n_top > 0 else np.inf


def _draw_blobs(mask: np.ndarray, centres: np.ndarray, radii: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Set `mask` True inside irregular discs (pixel centres (n, 2) as row, col; radii in px); returns their inner 40 % (lumina)."""
    inner = np.zeros_like(mask)
    height, width = mask.shape
    for (cy, cx), r in zip(centres, radii):
        r_max = int(math.ceil(r * 1.15)) + 1
        y0, y1 = max(0, int(cy) - r_max), min(height, int(cy) + r_max + 1)
        x0, x1 = max(0, int(cx) - r_max), min(width, int(cx) + r_max + 1)
        phase = rng.uniform(0, 2 * np.pi, 2)
        if y0 >= y1 or x0 >= x1:  # jittered off the image
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        theta = np.arctan2(dy, dx)
        edge = r * (1 + 0.08 * np.sin(2 * theta + phase[0]) + 0.06 * np.sin(3 * theta + phase[1]))
        dist = np.hypot(dy, dx)
        mask[y0:y1, x0:x1] |= dist <= edge
        inner[y0:y1, x0:x1] |= dist <= 0.4 * edge
    return inner


def make_layout(rng: np.random.Generator, config: CohortConfig, *, anomaly_fraction: float) -> Layout:
    """Draw the tissue, its domains and (if `anomaly_fraction` > 0) the anomalous regions."""
    shape = image_shape(config)
    mpp = config.mpp
    spots = hex_grid(config)

    # Tissue: an ellipse with a wobbly border, cut so that the spot count falls in spots_range.
    yy = np.linspace(-1, 1, shape[0], dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :]
    tissue_field = 1 - (xx / 0.95) ** 2 - (yy / 0.95) ** 2 + 0.25 * smooth_field(rng, shape, mpp=mpp, scale_um=600.0)
    n_tissue = int(rng.integers(config.spots_range[0], config.spots_range[1] + 1))
    tissue = tissue_field >= _top_fraction_threshold(_at_spots(tissue_field, spots), n_tissue)
    spots["in_tissue"] = _at_spots(tissue, spots).astype(np.int64)
    del tissue_field

    # Domains: adipose where a smooth field is high, then immune aggregates and ducts (in lobules) on stroma.
    domain = np.full(shape, DOMAINS.index("stroma"), dtype=np.uint8)
    adipose = smooth_field(rng, shape, mpp=mpp, scale_um=350.0)
    adipose = adipose >= np.quantile(adipose[tissue], 0.72)
    domain[adipose] = DOMAINS.index("adipose")
    area_mm2 = tissue.sum() * (mpp / 1000) ** 2
    candidates = np.flatnonzero(tissue & ~adipose)

    def centres(n: int) -> np.ndarray:
        picks = candidates[rng.integers(0, candidates.size, n)]
        return np.column_stack(np.unravel_index(picks, shape)).astype(np.float64)

    immune = np.zeros(shape, dtype=bool)
    n_immune = max(1, rng.poisson(1.2 * area_mm2))
    _draw_blobs(immune, centres(n_immune), rng.uniform(70, 140, n_immune) / mpp, rng)
    domain[immune & ~adipose] = DOMAINS.index("immune")
    ducts = np.zeros(shape, dtype=bool)
    lobules = centres(max(1, rng.poisson(1.5 * area_mm2)))
    per_lobule = rng.poisson(5, len(lobules)) + 1
    duct_centres = np.repeat(lobules, per_lobule, axis=0) + rng.normal(0, 160 / mpp, (per_lobule.sum(), 2))
    lumen = _draw_blobs(ducts, duct_centres, rng.uniform(55, 110, len(duct_centres)) / mpp, rng)
    domain[ducts] = DOMAINS.index("duct")
    domain[~tissue] = OUTSIDE
    lumen &= ducts & tissue

    # Anomalies: the top `anomaly_fraction` of a smooth field (blobs like tumours); a second field
    # splits them into thirds, histology | both | genes, so each kind is a coherent region.
    anomaly = np.full(shape, ANOMALY_KINDS.index("normal"), dtype=np.uint8)
    n_anomalous = int(round(anomaly_fraction * n_tissue))
    if n_anomalous:
        field = smooth_field(rng, shape, mpp=mpp, scale_um=300.0)
        region = field >= _top_fraction_threshold(_at_spots(field, spots)[spots["in_tissue"] == 1], n_anomalous)
        kind_field = smooth_field(rng, shape, mpp=mpp, scale_um=220.0)
        at = _at_spots(kind_field, spots)[(spots["in_tissue"] == 1).to_numpy() & _at_spots(region, spots)]
        low, high = np.quantile(at, [1 / 3, 2 / 3])
        kinds = np.select([kind_field < low, kind_field < high], [ANOMALY_KINDS.index("histology"), ANOMALY_KINDS.index("both")], ANOMALY_KINDS.index("genes"))
        anomaly[region] = kinds[region]
    anomaly[~tissue] = OUTSIDE
    return Layout(domain_map=domain, lumen=lumen, anomaly_map=anomaly, spots=spots)


def spot_disc_offsets(config: CohortConfig) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets (px) of the pixels inside one spot's 55 µm disc."""
    r = SPOT_UM / 2 / config.mpp
    n = int(math.ceil(r))
    dy, dx = np.mgrid[-n : n + 1, -n : n + 1]
    inside = dy**2 + dx**2 <= r**2
    return dy[inside], dx[inside]


def spot_composition(layout: Layout, config: CohortConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per in-tissue spot: domain shares of its disc (n, len(DOMAINS)) and its share of gene-anomalous tissue (n,)."""
    spots = layout.spots[layout.spots["in_tissue"] == 1]
    dy, dx = spot_disc_offsets(config)
    rows = np.clip(spots["pxl_row_in_fullres"].to_numpy()[:, None] + dy[None], 0, layout.domain_map.shape[0] - 1)
    cols = np.clip(spots["pxl_col_in_fullres"].to_numpy()[:, None] + dx[None], 0, layout.domain_map.shape[1] - 1)
    domains = layout.domain_map[rows, cols]
    on_tissue = np.maximum((domains != OUTSIDE).sum(1, keepdims=True), 1)
    composition = np.stack([(domains == d).sum(1) for d in range(len(DOMAINS))], axis=1) / on_tissue
    kinds = layout.anomaly_map[rows, cols]
    gene_kinds = (kinds == ANOMALY_KINDS.index("genes")) | (kinds == ANOMALY_KINDS.index("both"))
    return composition, gene_kinds.sum(1) / on_tissue[:, 0]
