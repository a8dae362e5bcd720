"""H&E-like rendering of a synthetic section, vectorised with numpy.

Each pixel gets a texture class (stroma, duct epithelium, lumen, adipose, immune, tumour);
classes set a background haematoxylin (H) and eosin (E) concentration and a nuclear density
and size. Nuclei are soft discs scattered with `np.bincount`; stroma carries fibres
(anisotropic noise), adipose the membranes of fat vacuoles (Worley F2-F1 cells). Stains
combine by Beer-Lambert optical densities; the section's batch effect scales H, E and
brightness and tilts the stain vectors.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from tissue_mib.datasets.synthetic.config import ANOMALY_KINDS, DOMAINS
from tissue_mib.datasets.synthetic.layout import OUTSIDE, Layout, smooth_field

# texture class -> (nuclei per 1000 µm², nucleus radius µm, radius sd µm, nucleus H, background H, background E)
TEXTURES = {
    "glass": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "stroma": (0.6, 2.4, 0.3, 1.2, 0.03, 0.55),
    "epithelium": (9.0, 3.0, 0.4, 1.1, 0.10, 0.32),
    "lumen": (0.0, 0.0, 0.0, 0.0, 0.01, 0.08),
    "adipose": (0.15, 2.4, 0.3, 1.2, 0.0, 0.0),
    "immune": (16.0, 2.1, 0.2, 1.5, 0.05, 0.22),
    "tumour": (8.0, 3.8, 0.9, 0.9, 0.16, 0.34),
}
CLASSES = tuple(TEXTURES)
_H_VECTOR = np.array([0.59, 0.73, 0.34])  # optical density per unit haematoxylin (R, G, B)
_E_VECTOR = np.array([0.16, 0.86, 0.48])  # optical density per unit eosin
_ADIPOCYTE_UM = 65.0  # fat vacuole diameter
_MEMBRANE_UM = 1.5


def texture_classes(layout: Layout) -> np.ndarray:
    """uint8 (H, W) index into the texture classes; histology anomalies (histology, both) are tumour."""
    classes = np.zeros(layout.domain_map.shape, dtype=np.uint8)
    for domain, texture in (("stroma", "stroma"), ("duct", "epithelium"), ("adipose", "adipose"), ("immune", "immune")):
        classes[layout.domain_map == DOMAINS.index(domain)] = CLASSES.index(texture)
    classes[layout.lumen] = CLASSES.index("lumen")
    histo = (layout.anomaly_map == ANOMALY_KINDS.index("histology")) | (layout.anomaly_map == ANOMALY_KINDS.index("both"))
    classes[histo] = CLASSES.index("tumour")
    classes[layout.domain_map == OUTSIDE] = CLASSES.index("glass")
    return classes


def _nuclei(rng: np.random.Generator, classes: np.ndarray, mpp: float) -> np.ndarray:
    """Haematoxylin of nuclei (float32 (H, W)): soft discs placed as a Poisson process per class."""
    shape = classes.shape
    flat = classes.ravel()
    centres, radii, darkness = [], [], []
    for c, (density, radius, radius_sd, dark, _, _) in enumerate(TEXTURES.values()):
        if density == 0:
            continue
        pixels = np.flatnonzero(flat == c)
        n = rng.poisson(density / 1000 * pixels.size * mpp**2)
        centres.append(pixels[rng.integers(0, pixels.size, n)] if pixels.size else np.zeros(0, np.int64))
        radii.append(np.clip(rng.normal(radius, radius_sd, centres[-1].size), 1.2, None) / mpp)
        darkness.append(dark * rng.uniform(0.8, 1.2, centres[-1].size))
    centres, radii, darkness = np.concatenate(centres), np.concatenate(radii), np.concatenate(darkness)
    rows, cols = np.divmod(centres, shape[1])
    out = np.zeros(shape[0] * shape[1], dtype=np.float64)
    # Stamp nuclei in radius bins of 0.25 px so that each bin shares one offset set.
    bins = np.round(radii * 4) / 4
    for r in np.unique(bins):
        sel = bins == r
        n = int(math.ceil(r)) + 1
        dy, dx = np.mgrid[-n : n + 1, -n : n + 1]
        weight = 1 / (1 + np.exp((np.hypot(dy, dx) - r) / 0.35))
        keep = weight > 0.02
        dy, dx, weight = dy[keep], dx[keep], weight[keep]
        rr = np.clip(rows[sel, None] + dy[None], 0, shape[0] - 1)
        cc = np.clip(cols[sel, None] + dx[None], 0, shape[1] - 1)
        out += np.bincount((rr * shape[1] + cc).ravel(), weights=(darkness[sel, None] * weight[None]).ravel(), minlength=out.size)
    return np.minimum(out, 1.8).reshape(shape).astype(np.float32)


def _fibres(rng: np.random.Generator, shape: tuple[int, int], mpp: float) -> np.ndarray:
    """Stroma fibre texture in [0, 1]: streaky noise whose orientation drifts across the section."""
    streak = 4.0 / mpp
    along_x = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (0.6, streak))
    along_y = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (streak, 0.6))
    w = 1 / (1 + np.exp(-3 * smooth_field(rng, shape, mpp=mpp, scale_um=250.0)))
    fib = w * along_x / along_x.std() + (1 - w) * along_y / along_y.std()
    return 1 / (1 + np.exp(-1.5 * fib))


def _membranes(rng: np.random.Generator, shape: tuple[int, int], mpp: float) -> np.ndarray:
    """Fat vacuole membranes in [0, 1]: Worley noise F2 - F1 on a jittered lattice, thin where small."""
    cell = _ADIPOCYTE_UM / mpp
    n_rows, n_cols = int(shape[0] / cell) + 3, int(shape[1] / cell) + 3
    seed_y = (np.arange(n_rows)[:, None] - 1 + rng.uniform(0.1, 0.9, (n_rows, n_cols))) * cell
    seed_x = (np.arange(n_cols)[None, :] - 1 + rng.uniform(0.1, 0.9, (n_rows, n_cols))) * cell
    y = np.arange(shape[0], dtype=np.float32)[:, None]
    x = np.arange(shape[1], dtype=np.float32)[None, :]
    cy, cx = (y / cell).astype(np.int64) + 1, (x / cell).astype(np.int64) + 1
    d1 = np.full(shape, np.inf, dtype=np.float32)
    d2 = np.full(shape, np.inf, dtype=np.float32)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            sy = seed_y[cy + oy, cx + ox].astype(np.float32)
            sx = seed_x[cy + oy, cx + ox].astype(np.float32)
            d = (y - sy) ** 2 + (x - sx) ** 2
            d2 = np.minimum(d2, np.maximum(d1, d))
            d1 = np.minimum(d1, d)
    gap = np.sqrt(d2) - np.sqrt(d1)
    return np.exp(-((gap * mpp / _MEMBRANE_UM) ** 2))


def render(rng: np.random.Generator, layout: Layout, *, mpp: float) -> np.ndarray:
    """The full-resolution H&E image (uint8 (H, W, 3)) of `layout` with a section-level stain batch effect."""
    classes = texture_classes(layout)
    shape = classes.shape
    table = np.array(list(TEXTURES.values()), dtype=np.float32)
    h = table[classes, 4] + _nuclei(rng, classes, mpp)
    e = table[classes, 5]
    stroma = classes == CLASSES.index("stroma")
    e = np.where(stroma, e * (0.5 + 0.9 * _fibres(rng, shape, mpp)), e)
    adipose = classes == CLASSES.index("adipose")
    if adipose.any():
        rows, cols = np.flatnonzero(adipose.any(1)), np.flatnonzero(adipose.any(0))
        box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        e[box] = np.where(adipose[box], 0.65 * _membranes(rng, adipose[box].shape, mpp), e[box])

    # Section batch effect: stain amounts, stain hues and brightness; thickness varies smoothly.
    h *= np.float32(np.exp(rng.normal(0, 0.08)))
    e *= np.float32(np.exp(rng.normal(0, 0.08)))
    h_vec = _H_VECTOR + rng.normal(0, 0.03, 3)
    e_vec = _E_VECTOR + rng.normal(0, 0.03, 3)
    thickness = 1 + 0.08 * smooth_field(rng, shape, mpp=mpp, scale_um=500.0)
    brightness = 255 * rng.uniform(0.94, 0.99)
    rgb = np.empty((*shape, 3), dtype=np.uint8)
    for ch in range(3):
        od = (h * np.float32(h_vec[ch] / np.linalg.norm(h_vec)) + e * np.float32(e_vec[ch] / np.linalg.norm(e_vec))) * thickness
        value = brightness * np.exp(-od) + rng.normal(0, 2.0, shape).astype(np.float32)
        rgb[..., ch] = np.clip(np.rint(value), 0, 255).astype(np.uint8)
    return rgb
