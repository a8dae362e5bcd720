"""Tiny Visium-like sections (the io.read contract) for tl tests, and a private prep cache."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp


def make_section(lib: str, *, side: int = 10, n_genes: int = 30, image: bool = True, seed: int = 0,
                 anomalous: bool = False) -> ad.AnnData:
    """A side x side Visium hex grid (100 um spacing, 2 um/px), Poisson counts, a textured hires image.

    anomalous: the right third of the spots gets a shifted gene programme and a darker texture.
    """
    rng = np.random.default_rng(seed)
    mpp, spacing = 2.0, 100.0
    r, c = np.divmod(np.arange(side * side), side)
    array_col = 2 * c + (r % 2)
    x = (array_col * spacing / 2 + 200) / mpp
    y = (r * spacing * np.sqrt(3) / 2 + 200) / mpp
    n = side * side
    weird = (c >= 2 * side // 3) if anomalous else np.zeros(n, bool)
    rate = np.exp(rng.normal(1.0, 0.6, size=n_genes))[None, :].repeat(n, 0)
    rate[weird, : n_genes // 3] *= 6.0
    counts = rng.poisson(rate).astype(np.float32)
    h = int(y.max() + 200 / mpp)
    w = int(x.max() + 200 / mpp)
    img = np.full((h, w, 3), 235, np.uint8)
    if image:
        img = rng.integers(150, 255, size=(h, w, 3), dtype=np.uint8)
        for i in np.flatnonzero(weird):
            yy, xx = int(y[i]), int(x[i])
            img[yy - 14 : yy + 14, xx - 14 : xx + 14] //= 3
    genes = [f"GENE{i}" for i in range(n_genes)]
    adata = ad.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame(
            {
                "library_id": pd.Categorical([lib] * n), "section": pd.Categorical([lib] * n),
                "array_row": r, "array_col": array_col, "in_tissue": np.ones(n, int), "truth": weird,
            },
            index=[f"{lib}-BC{i:04d}" for i in range(n)],
        ),
        var=pd.DataFrame({"gene_ids": [f"ENSSYN{i:06d}" for i in range(n_genes)], "gene_symbols": genes}, index=genes),
    )
    adata.obsm["spatial"] = np.stack([x, y], 1).astype(np.float64)
    adata.uns["spatial"] = {lib: {
        "images": {"hires": img} if image else {},
        "scalefactors": {"tissue_hires_scalef": 1.0, "tissue_lowres_scalef": 0.25,
                         "spot_diameter_fullres": 55.0 / mpp, "microns_per_pixel": mpp},
        "metadata": {"layout": "visium", "grid": "hex", "spot_diameter_um": 55.0, "fullres_image": "",
                     "blank_images": [], "is_normalised": False, "source": ""},
    }}  # fmt: skip
    return adata


@pytest.fixture(scope="session")
def section_factory():
    """`make_section(lib, **kw)`."""
    return make_section


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path_factory.mktemp("prep-cache")))
        yield

