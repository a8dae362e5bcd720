"""`.h5ad` files following scanpy/squidpy conventions (one or several sections)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.checks import check_positive
from tissue_mib.errors import InputError
from tissue_mib.io.guard import check_h5_file
from tissue_mib.io.images import SlideImage, is_blank
from tissue_mib.io.section import gene_table
from tissue_mib.io.validate import (
    check_image_covers,
    check_not_empty,
    check_spot_columns,
    check_spot_diameter,
    check_unique,
    check_values,
    duplicates_checked_after,
)

logger = logging.getLogger(__name__)

VISIUM_SPOT_UM = 55.0


def read_h5ad_section(path: str | os.PathLike, *, layer: str | None = None, image: str | os.PathLike | None = None) -> AnnData:
    """Read an h5ad into the tissue-mib layout.

    `layer` picks a layer (e.g. raw counts) as X. Non-integer X is recorded as normalised
    (`metadata['is_normalised']`). `obsm['spatial']` is required. A file with several
    libraries keeps `obs['library_id']`; otherwise the single `uns['spatial']` key (or the
    file stem) is the library id. `image` attaches a full-resolution image to a single-library file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    check_h5_file(path)
    try:
        with duplicates_checked_after():
            adata = ad.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001 - h5py/anndata raise many types on corrupt files
        raise InputError(f"{path}: cannot read h5ad ({type(exc).__name__}: {exc})") from None
    where = str(path)
    var_source = adata
    if layer == "raw" and "raw" not in adata.layers and adata.raw is not None:
        X, var_source, where = adata.raw.X, adata.raw, f"{path} raw"
    elif layer is not None:
        if layer not in adata.layers:
            extra = " and .raw" if adata.raw is not None else ""
            raise InputError(f"{path}: no layer {layer!r} (layers: {sorted(adata.layers) or 'none'}{extra})")
        X = adata.layers[layer]
        where = f"{path} layer {layer!r}"
    else:
        X = adata.X
    if X is None:
        raise InputError(f"{path}: X is empty; pick a layer with layer=")
    if "spatial" not in adata.obsm:
        raise InputError(f"{path}: has no obsm['spatial'] (spot coordinates); tissue-mib needs them for the spot graph and patches")
    check_unique(adata.obs_names, what="spot name (obs_names)", where=str(path))
    X = sp.csr_matrix(X, dtype=np.float32)
    check_not_empty(*X.shape, where=where)
    non_integer = check_values(X, where=where)
    xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.all(np.isfinite(xy)):
        raise InputError(f"{path}: obsm['spatial'] must be finite (N, 2) x, y coordinates, got shape {xy.shape}")

    obs = adata.obs.copy()
    # CELLxGENE's Visium layout adds `uns['spatial']['is_single']` beside the library entries
    spatial = {k: v for k, v in dict(adata.uns.get("spatial", {})).items() if isinstance(v, Mapping)}
    if "library_id" in obs:
        libraries = [str(x) for x in pd.unique(obs["library_id"].astype(str))]
    elif len(spatial) == 1:
        libraries = [str(next(iter(spatial)))]
    else:
        libraries = [path.stem]
    if len(libraries) > 1 and image is not None:
        raise InputError(f"{path}: image= needs a single-section h5ad, this one holds {len(libraries)} libraries")
    if "library_id" not in obs:
        obs["library_id"] = libraries[0]
    obs["library_id"] = pd.Categorical(obs["library_id"].astype(str))
    obs["section"] = pd.Categorical(obs["section"].astype(str) if "section" in obs else obs["library_id"].astype(str))
    spot_columns = [c for c in ("in_tissue", "array_row", "array_col") if c in obs]
    if spot_columns:
        obs[spot_columns] = check_spot_columns(obs[spot_columns], where=f"{path} obs", grid_min=-1)
    for col in ("array_row", "array_col"):
        obs[col] = obs[col].astype(np.int64) if col in obs else np.full(len(obs), -1, dtype=np.int64)
    obs["in_tissue"] = obs["in_tissue"].astype(np.int64) if "in_tissue" in obs else np.ones(len(obs), dtype=np.int64)

    var = _gene_table(var_source.var, main=adata.var)
    out = AnnData(X=X, obs=obs, var=var)
    out.obsm["spatial"] = xy
    out.uns["spatial"] = {}
    for lib in libraries:
        mask = (obs["library_id"] == lib).to_numpy()
        entry = _library_entry(spatial.get(lib, {}), source=str(path), is_normalised=non_integer)
        if "spot_diameter_fullres" in entry["scalefactors"]:
            check_spot_diameter(entry["scalefactors"]["spot_diameter_fullres"], xy[mask], where=f"{path} uns['spatial'][{lib!r}]['scalefactors']")
        if image is not None:
            with SlideImage(image) as slide:
                check_image_covers(xy, height=slide.shape[0], width=slide.shape[1], scale=1.0, image=str(image))
            entry["metadata"]["fullres_image"] = str(Path(image).resolve())
        _drop_images_not_covering(entry, xy[mask], where=f"{path} uns['spatial'][{lib!r}]")
        out.uns["spatial"][lib] = entry
    return out


_ID_COLUMNS = ("gene_ids", "gene_id", "feature_id")
_SYMBOL_COLUMNS = ("gene_symbols", "feature_name", "gene_name", "symbol")  # scanpy, CELLxGENE, others


def _gene_table(var: pd.DataFrame, *, main: pd.DataFrame) -> pd.DataFrame:
    """gene_ids / gene_symbols from the usual var columns; the var_names fill the missing one
    (as IDs when they look like Ensembl IDs, else as symbols). `var` of `.raw` without a symbol
    column takes the symbols of the `main` var by name (CELLxGENE keeps `feature_name` there)."""
    if not any(c in var for c in _SYMBOL_COLUMNS) and var is not main:
        column = next((c for c in _SYMBOL_COLUMNS if c in main), None)
        if column is not None:
            var = var.assign(**{column: main[column].reindex(var.index).astype(object).to_numpy()})
    names = var.index.to_numpy()
    ids = next((var[c].to_numpy() for c in _ID_COLUMNS if c in var), None)
    symbols = next((var[c].to_numpy() for c in _SYMBOL_COLUMNS if c in var), None)
    names_are_ids = pd.Index(names).astype(str).str.match(r"^ENS[A-Z]*G\d+").mean() > 0.5
    if ids is None and names_are_ids:
        ids = names
    if symbols is None and not names_are_ids:
        symbols = names
    return gene_table(ids, symbols)


def _drop_images_not_covering(entry: dict, xy: np.ndarray, *, where: str) -> None:
    """Embedded images that do not cover the spots (e.g. crops kept as test fixtures) are
    dropped with a warning, so that no patch is cut from the wrong place."""
    for key in list(entry["images"]):
        img = entry["images"][key]
        scale = entry["scalefactors"].get(f"tissue_{key}_scalef", 1.0)
        try:
            check_image_covers(xy, height=img.shape[0], width=img.shape[1], scale=scale, image=f"{where}['images'][{key!r}]")
        except InputError as exc:
            logger.warning("%s; image dropped", exc)
            del entry["images"][key]
    entry["metadata"]["blank_images"] = [k for k in entry["metadata"]["blank_images"] if k in entry["images"]]


def _library_entry(entry: dict, *, source: str, is_normalised: bool) -> dict:
    """Complete a `uns['spatial'][lib]` entry with the tissue-mib scale factors and metadata."""
    images = {k: np.ascontiguousarray(np.asarray(v)[..., :3]).astype(np.uint8) for k, v in dict(entry.get("images", {})).items()}
    sf = {k: _scalefactor(k, v, source=source) for k, v in dict(entry.get("scalefactors", {})).items()}
    old = {k: _plain(v) for k, v in dict(entry.get("metadata", {})).items()}
    if "microns_per_pixel" not in sf:
        if "spot_diameter_fullres" in sf:
            sf["microns_per_pixel"] = VISIUM_SPOT_UM / sf["spot_diameter_fullres"]
            logger.info("%s: no microns_per_pixel; assuming Visium 55 um spots", source)
        else:
            sf["microns_per_pixel"] = float("nan")
    metadata = {
        **old,
        "layout": old.get("layout", "h5ad"),
        "grid": old.get("grid", "none"),
        "spot_diameter_um": float(old.get("spot_diameter_um", VISIUM_SPOT_UM if "spot_diameter_fullres" in sf else float("nan"))),
        "fullres_image": str(old.get("fullres_image", "")),
        "blank_images": [k for k, v in images.items() if is_blank(v)],
        "is_normalised": is_normalised,  # of the X chosen (layer=), not of what the file says
        "source": source,
    }
    return {"images": images, "scalefactors": sf, "metadata": metadata}


def _scalefactor(key: str, value, *, source: str) -> float:
    """A scale factor: finite and > 0; NaN microns_per_pixel is tissue-mib's own "unknown" and stays."""
    if key == "microns_per_pixel" and isinstance(value, (float, np.floating)) and np.isnan(value):
        return float("nan")
    return check_positive(value, name=f"{source} scalefactors {key}")


def _plain(value):
    """h5ad-safe plain value (numpy scalars/arrays to python)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
