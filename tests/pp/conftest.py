"""Fixtures for the preprocessing tests: small AnnData built per the io contract (architecture section 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData


def _make_section(lib: str, coords: np.ndarray, *, X=None, genes=None, grid: str = "hex", images=None,
                 scalefactors=None, layout: str = "visium", spot_diameter_um: float = 55.0,
                 fullres_image: str = "", is_normalised: bool = False, array=None) -> AnnData:
    """One section as `io.read` returns it: obs library_id/section, obsm spatial (x, y), uns spatial."""
    n = len(coords)
    rng = np.random.default_rng(abs(hash(lib)) % 2**32)
    if X is None:
        X = rng.poisson(2.0, size=(n, 30)).astype(np.float32)
    genes = genes if genes is not None else [f"G{i}" for i in range(X.shape[1])]
    obs = pd.DataFrame({"library_id": pd.Categorical([lib] * n), "section": pd.Categorical([lib] * n),
                        "in_tissue": 1}, index=[f"s{i}" for i in range(n)])
    if array is not None:
        obs["array_row"], obs["array_col"] = array[:, 0], array[:, 1]
    var = pd.DataFrame({"gene_ids": [""] * len(genes), "gene_symbols": list(genes)}, index=list(genes))
    adata = AnnData(X=sp.csr_matrix(X, dtype=np.float32), obs=obs, var=var)
    adata.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    sf = {"spot_diameter_fullres": spot_diameter_um, "microns_per_pixel": 1.0,
          "tissue_hires_scalef": 1.0, "tissue_lowres_scalef": 0.5}
    sf.update(scalefactors or {})
    adata.uns["spatial"] = {lib: {
        "images": images or {}, "scalefactors": sf,
        "metadata": {"layout": layout, "grid": grid, "spot_diameter_um": spot_diameter_um,
                     "fullres_image": fullres_image, "blank_images": [], "is_normalised": is_normalised,
                     "source": "test"}}}
    return adata


def _hex_grid(rows: int, cols: int, pitch: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Visium-like hex lattice: (pixel x, y) and (array_row, array_col) with cols of the same parity per row."""
    r, c = np.meshgrid(np.arange(rows), np.arange(0, 2 * cols, 2), indexing="ij")
    c = c + (r % 2)
    coords = np.stack([c.ravel() * pitch / 2, r.ravel() * pitch * np.sqrt(3) / 2], axis=1)
    return coords, np.stack([r.ravel(), c.ravel()], axis=1)


def _square_grid(rows: int, cols: int, pitch: float = 100.0, jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    coords = np.stack([c.ravel(), r.ravel()], axis=1) * pitch
    return coords + np.random.default_rng(seed).normal(0, jitter, coords.shape)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private preprocessing cache for the test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(path))
    return path


@pytest.fixture
def make_section():
    """`make_section(lib, coords, **kw) -> AnnData`, one section per the io contract."""
    return _make_section


@pytest.fixture
def hex_grid():
    """`hex_grid(rows, cols, pitch) -> (coords, array)`."""
    return _hex_grid


@pytest.fixture
def square_grid():
    """`square_grid(rows, cols, pitch, jitter, seed) -> coords`."""
    return _square_grid
