"""Helpers shared by the preprocessing steps: per-library access to AnnData."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from anndata import AnnData

from tissue_mib.errors import InputError

LIBRARY_KEY = "library_id"


def library_ids(adata: AnnData, *, library_key: str = LIBRARY_KEY) -> list[str]:
    """The library ids of `adata` in order of first appearance; InputError if the column is missing."""
    if library_key not in adata.obs:
        raise InputError(f"AnnData has no obs['{library_key}']: read sections with tissue_mib.io.read")
    return list(dict.fromkeys(adata.obs[library_key].astype(str)))


def library_masks(adata: AnnData, *, library_key: str = LIBRARY_KEY) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (library id, boolean row mask) for each library of `adata`."""
    libs = adata.obs[library_key].astype(str).to_numpy() if library_key in adata.obs else None
    for lib in library_ids(adata, library_key=library_key):
        yield lib, libs == lib


def spatial_entry(adata: AnnData, lib: str) -> dict:
    """`uns['spatial'][lib]` or an empty dict when the reader stored nothing for it."""
    return adata.uns.get("spatial", {}).get(lib, {})


def metadata(adata: AnnData, lib: str) -> dict:
    """`uns['spatial'][lib]['metadata']` (reader-recorded layout, grid, flags) or {}."""
    return spatial_entry(adata, lib).get("metadata", {})
