"""Assemble one section into the AnnData layout of docs/dev/architecture.md section 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.io.images import SlideImage, is_blank
from tissue_mib.io.validate import check_image_covers, check_not_empty, check_values

LAYOUTS = ("visium", "visium_hd", "legacy_st", "h5ad")
GRIDS = ("hex", "square", "none")


def gene_table(gene_ids, gene_symbols) -> pd.DataFrame:
    """var with `gene_ids` and `gene_symbols` (strings, "" when unknown); index = symbols made
    unique where known, else the IDs."""
    n = len(gene_ids) if gene_ids is not None else len(gene_symbols)
    ids = _strings(gene_ids, n)
    symbols = _strings(gene_symbols, n)
    names = pd.Index([s if s else i for s, i in zip(symbols, ids)])
    var = pd.DataFrame({"gene_ids": ids, "gene_symbols": symbols}, index=names)
    if not names.is_unique:
        from anndata.utils import make_index_unique

        var.index = make_index_unique(names)
    var.index.name = None
    return var


def _strings(values, n: int) -> list[str]:
    if values is None:
        return [""] * n
    return ["" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in values]


def build_section(
    X,
    *,
    obs: pd.DataFrame,
    var: pd.DataFrame,
    xy: np.ndarray,
    library_id: str,
    layout: str,
    grid: str,
    spot_diameter_um: float,
    scalefactors: dict,
    images: dict[str, np.ndarray] | None = None,
    fullres_image: str | Path | None = None,
    image_files: dict[str, str] | None = None,
    source: str,
) -> AnnData:
    """Validate and assemble a section.

    `X` spots x genes (raw counts or normalised), `xy` (N, 2) spot centres in full-res pixels,
    x then y; `obs` may hold `array_row`, `array_col`, `in_tissue` and label columns;
    `scalefactors` must hold `microns_per_pixel`; `image_files` names each image's file for
    error messages; `fullres_image`, the full-resolution slide (any `SlideImage` format), must
    cover `xy` and is recorded by its absolute path, not loaded. The section name
    (`obs['section']`) defaults to the library id.
    """
    assert layout in LAYOUTS and grid in GRIDS
    X = sp.csr_matrix(X, dtype=np.float32)
    check_not_empty(X.shape[0], X.shape[1], where=source)
    non_integer = check_values(X, where=source)
    images = {k: np.ascontiguousarray(v[..., :3], dtype=np.uint8) for k, v in (images or {}).items()}
    image_files = image_files or {}
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    for key, img in images.items():
        scale = float(scalefactors.get(f"tissue_{key}_scalef", 1.0))
        check_image_covers(xy, height=img.shape[0], width=img.shape[1], scale=scale, image=image_files.get(key, f"{source} [{key}]"))
    if fullres_image is not None:
        with SlideImage(fullres_image) as slide:
            check_image_covers(xy, height=slide.shape[0], width=slide.shape[1], scale=1.0, image=str(fullres_image))
        fullres_image = Path(fullres_image).resolve()

    obs = obs.copy()
    obs.index = obs.index.astype(str)
    obs.index.name = None
    for col in ("array_row", "array_col"):
        obs[col] = obs[col].astype(np.int64) if col in obs else np.full(len(obs), -1, dtype=np.int64)
    obs["in_tissue"] = obs["in_tissue"].astype(np.int64) if "in_tissue" in obs else np.ones(len(obs), dtype=np.int64)
    obs["library_id"] = pd.Categorical([library_id] * len(obs))
    obs["section"] = pd.Categorical([library_id] * len(obs))

    scalefactors = {k: float(v) for k, v in scalefactors.items()}
    metadata = {
        "layout": layout,
        "grid": grid,
        "spot_diameter_um": float(spot_diameter_um),
        "fullres_image": "" if fullres_image is None else str(fullres_image),
        "blank_images": [k for k, v in images.items() if is_blank(v)],
        "is_normalised": non_integer,
        "source": str(source),
    }
    adata = AnnData(X=X, obs=obs, var=var)
    adata.obsm["spatial"] = xy
    adata.uns["spatial"] = {library_id: {"images": images, "scalefactors": scalefactors, "metadata": metadata}}
    return adata


def set_section_name(adata: AnnData, name: str) -> AnnData:
    """Set `obs['section']` (the catalogue name) on a single-section AnnData, in place."""
    adata.obs["section"] = pd.Categorical([name] * adata.n_obs)
    return adata
