"""Macenko stain normalisation of H&E patches (Macenko et al. 2009), in numpy."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

# Reference stain matrix (columns: haematoxylin, eosin; rows: OD of R, G, B) and the 99th
# percentile concentrations, the usual values of the reference implementation.
HE_REF = np.array([[0.5626, 0.2159], [0.7201, 0.8012], [0.4062, 0.5581]])
MAX_C_REF = np.array([1.9705, 1.0308])


def stain_vectors(od: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """(3, 2) unit stain vectors (H, E) from tissue optical densities (n, 3)."""
    _, vecs = np.linalg.eigh(np.cov(od.T))
    plane = vecs[:, 1:3] * np.where(vecs[:, 1:3].sum(axis=0) < 0, -1.0, 1.0)
    proj = od @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    return np.stack([v1, v2] if v1[0] > v2[0] else [v2, v1], axis=1)


def macenko_normalize(patches: np.ndarray, *, background: float = 240.0, beta: float = 0.15, alpha: float = 1.0,
                      max_pixels: int = 200_000, seed: int = 0) -> np.ndarray:
    """Map the H&E stains of one section's patches (N, P, P, 3) uint8 onto the reference stains.

    Stain vectors and 99th-percentile concentrations are estimated on up to `max_pixels`
    tissue pixels (optical density above `beta` in every channel), sampled with `seed`.
    Returns uint8 of the same shape; unchanged (with a warning) when there is too little tissue.
    """
    shape = patches.shape
    od = -np.log((patches.reshape(-1, 3).astype(np.float32) + 1.0) / background)
    tissue = od[(od > beta).all(axis=1)]
    if len(tissue) < 100:
        logger.warning("Macenko: only %d tissue pixels; patches left unnormalised", len(tissue))
        return patches
    if len(tissue) > max_pixels:
        tissue = tissue[np.random.default_rng(seed).choice(len(tissue), max_pixels, replace=False)]
    he = stain_vectors(tissue.astype(np.float64), alpha=alpha)
    unmix = np.linalg.pinv(he).astype(np.float32)
    max_c = np.percentile(tissue @ unmix.T, 99, axis=0)
    conc = od @ unmix.T * (MAX_C_REF / np.maximum(max_c, 1e-6)).astype(np.float32)
    rgb = background * np.exp(-conc @ HE_REF.T.astype(np.float32))
    return np.clip(rgb, 0, 255).round().astype(np.uint8).reshape(shape)
