"""Timings of preprocessing (for `tissue-mib bench perf`): patch extraction and the whole `prepare`."""

from __future__ import annotations

import logging
import os
import tempfile
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.bench.memory import PeakRSS
from tissue_mib.pp.patches import extract_patches
from tissue_mib.pp.prepare import PrepConfig, prepare

logger = logging.getLogger(__name__)


def _he_like(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A textured pinkish image (uint8 RGB) standing in for H&E."""
    noise = rng.integers(0, 60, size=(*shape, 3), dtype=np.uint8)
    return (noise + np.array([170, 110, 170], dtype=np.uint8)).astype(np.uint8)


def perf_patches(*, n_patches: int = 20_000, image_px: int = 4000, side_px: float = 60.0, size: int = 32,
                 repeats: int = 3, seed: int = 0) -> dict:
    """Patches per second cut from an in-memory `image_px`² RGB image (best of `repeats`), and the peak
    resident memory (GB) meanwhile.

    The image is resized (anti-aliased) so that `side_px` image pixels become `size`, then
    all `n_patches` patches are gathered at random centres.
    """
    rng = np.random.default_rng(seed)
    image = _he_like((image_px, image_px), rng)
    centres = rng.uniform(0, image_px, size=(n_patches, 2))
    times = []
    with PeakRSS() as peak:
        for _ in range(repeats):
            start = time.perf_counter()
            extract_patches(image, centres, side_px=side_px, size=size)
            times.append(time.perf_counter() - start)
    best = min(times)
    return {"n_patches": n_patches, "image_px": image_px, "side_px": side_px, "size": size,
            "seconds": best, "patches_per_s": n_patches / best, "peak_rss_gb": peak.gb, "load_avg_1min": _load()}


def synthetic_section(lib: str, *, n_spots: int = 2500, n_genes: int = 15_000, density: float = 0.08,
                      seed: int = 0) -> AnnData:
    """A Visium-shaped section per the io contract: hex grid, sparse counts, a 2000 px hires image."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_spots)))
    r, c = np.divmod(np.arange(n_spots), side)
    c = 2 * c + (r % 2)
    pitch_px = 100 / 0.65  # 100 µm spot pitch at 0.65 µm per full-res pixel
    coords = np.stack([400 + c * pitch_px / 2, 400 + r * pitch_px * np.sqrt(3) / 2], axis=1)
    per_spot = max(1, int(density * n_genes))
    adata = _grid_counts(lib, r, c, n_genes=n_genes, per_spot=per_spot, mean=2.0, rng=rng)
    adata.obsm["spatial"] = coords
    full_extent = coords.max() + 400
    scalef = 2000 / full_extent
    adata.uns["spatial"] = {lib: {
        "images": {"hires": _he_like((2000, 2000), rng)},
        "scalefactors": {"tissue_hires_scalef": scalef, "spot_diameter_fullres": 55 / 0.65, "microns_per_pixel": 0.65},
        "metadata": {"layout": "visium", "grid": "hex", "spot_diameter_um": 55.0, "fullres_image": "",
                     "blank_images": [], "is_normalised": False, "source": "synthetic"}}}
    return adata


def synthetic_hd_section(lib: str, *, n_spots: int = 100_000, n_genes: int = 5000, genes_per_spot: int = 200,
                         seed: int = 0) -> AnnData:
    """A Visium HD-shaped section of 8 µm bins per the io contract: square grid, sparse counts
    (`genes_per_spot` genes seen per bin, as HD's few hundred UMIs), an in-memory hires image at 1 µm
    per pixel. Patches need an explicit `patch_um` (HD bins have no spot diameter)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_spots)))
    r, c = np.divmod(np.arange(n_spots), side)
    mpp, pitch_um, margin_um = 0.2737, 8.0, 100.0  # full-res µm per pixel as Space Ranger writes for HD
    coords = np.stack([(margin_um + c * pitch_um) / mpp, (margin_um + r * pitch_um) / mpp], axis=1)
    per_spot = max(1, min(genes_per_spot, n_genes))
    adata = _grid_counts(lib, r, c, n_genes=n_genes, per_spot=per_spot, mean=1.0, rng=rng)
    adata.obsm["spatial"] = coords
    scalef = mpp / 1.0  # hires pixels per full-res pixel: 1 µm per hires pixel
    extent = int(np.ceil((coords.max() + margin_um / mpp) * scalef))
    adata.uns["spatial"] = {lib: {
        "images": {"hires": _he_like((extent, extent), rng)},
        "scalefactors": {"tissue_hires_scalef": scalef, "microns_per_pixel": mpp, "bin_size_um": pitch_um},
        "metadata": {"layout": "visium_hd", "grid": "square", "spot_diameter_um": pitch_um, "fullres_image": "",
                     "blank_images": [], "is_normalised": False, "source": "synthetic"}}}
    return adata


def perf_prepare(*, n_sections: int = 8, n_spots: int = 2500, n_genes: int = 15_000, seed: int = 0) -> dict:
    """Seconds and peak resident memory (GB) to `prepare` a cohort of `n_sections` x `n_spots` (fit the
    panel, graph, patches). Also times a second call served from a fresh cache folder.
    """
    sections = [synthetic_section(f"S{i}", n_spots=n_spots, n_genes=n_genes, seed=seed + i) for i in range(n_sections)]
    with PeakRSS() as peak:
        start = time.perf_counter()
        prepare(sections, config=PrepConfig(), use_cache=False)
        cold = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        prepare(sections, cache_dir=tmp)
        start = time.perf_counter()
        adata, _ = prepare(sections, cache_dir=tmp)
        cached = time.perf_counter() - start
        cache_mb = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)) / 2**20
    return {"n_sections": n_sections, "n_spots": n_spots, "n_genes": n_genes, "seconds": cold,
            "seconds_cached": cached, "cache_mb": cache_mb, "peak_rss_gb": peak.gb, "n_panel_genes": adata.n_vars,
            "load_avg_1min": _load()}


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return float("nan")


def _grid_counts(lib: str, r: np.ndarray, c: np.ndarray, *, n_genes: int, per_spot: int, mean: float, rng) -> AnnData:
    """AnnData of len(r) spots at grid (r, c): sparse counts, `per_spot` random genes each at
    1 + Poisson(`mean`), with the io contract's obs and var columns (no spatial yet)."""
    n_spots = len(r)
    X = sp.csr_matrix((rng.poisson(mean, n_spots * per_spot).astype(np.float32) + 1,
                       rng.integers(0, n_genes, n_spots * per_spot), np.arange(n_spots + 1) * per_spot),
                      shape=(n_spots, n_genes))
    X.sum_duplicates()
    genes = [f"GENE{i}" for i in range(n_genes)]
    obs = pd.DataFrame({"library_id": pd.Categorical([lib] * n_spots), "section": pd.Categorical([lib] * n_spots),
                        "array_row": r, "array_col": c, "in_tissue": 1}, index=[f"{lib}_{i}" for i in range(n_spots)])
    var = pd.DataFrame({"gene_ids": [f"ENSG{i:011d}" for i in range(n_genes)], "gene_symbols": genes}, index=genes)
    return AnnData(X=X, obs=obs, var=var)
