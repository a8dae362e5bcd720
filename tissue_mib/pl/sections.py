"""Sections of an AnnData for drawing and export: pick a library, its spots, its best image, the spot size."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from tissue_mib.errors import InputError
from tissue_mib.io.images import is_blank

logger = logging.getLogger(__name__)


@dataclass
class SectionView:
    """One library of an AnnData, ready to draw: spot centres and diameter in image pixels."""

    library_id: str
    name: str
    mask: np.ndarray  # (N,) bool, spots of this library in the AnnData
    xy: np.ndarray  # (n, 2) spot centres, x then y, in the pixels of `image` (full-res when image is None)
    diameter: float  # spot diameter in the same pixels
    image: np.ndarray | None  # (H, W, 3) the best non-blank image, or None
    image_key: str | None


def library_ids(adata) -> list[str]:
    """The libraries of `adata`: obs['library_id'] categories present, else the keys of uns['spatial']."""
    if "library_id" in adata.obs:
        return [str(v) for v in dict.fromkeys(adata.obs["library_id"].astype(str))]
    return [str(k) for k in adata.uns.get("spatial", {})] or ["section"]


def select_library(adata, library_id: str | None = None) -> tuple[str, np.ndarray]:
    """(library id, bool mask of its spots); `library_id` is required when the AnnData holds several."""
    libs = library_ids(adata)
    if library_id is None:
        if len(libs) > 1:
            raise InputError(f"library_id: the AnnData holds several sections {libs}; pass one")
        library_id = libs[0]
    if library_id not in libs:
        raise InputError(f"library_id: {library_id!r} is not one of {libs}")
    if "library_id" not in adata.obs:
        return library_id, np.ones(adata.n_obs, bool)
    return library_id, (adata.obs["library_id"].astype(str) == library_id).to_numpy()


def section_view(adata, library_id: str | None = None) -> SectionView:
    """Select one library (required when there are several) and its best non-blank image.

    The image is the non-blank entry of uns['spatial'][lib]['images'] with the largest
    `tissue_<key>_scalef` (hires before lowres); coordinates are scaled into its pixels.
    """
    if "spatial" not in adata.obsm:
        raise InputError("obsm['spatial']: missing; the AnnData has no spot coordinates")
    library_id, mask = select_library(adata, library_id)
    name = str(adata.obs["section"][mask].iloc[0]) if "section" in adata.obs else library_id
    xy_full = np.asarray(adata.obsm["spatial"], dtype=np.float64)[mask]
    entry = adata.uns.get("spatial", {}).get(library_id, {})
    scalefactors = entry.get("scalefactors", {})
    blank = set(entry.get("metadata", {}).get("blank_images", []))
    image, image_key, scale = None, None, 1.0
    candidates = [(float(scalefactors.get(f"tissue_{k}_scalef", 0.0)), k) for k in entry.get("images", {}) if k not in blank]
    for s, key in sorted(candidates, reverse=True):
        img = np.asarray(entry["images"][key])
        if s > 0 and img.ndim == 3 and not is_blank(img):
            image, image_key, scale = _displayable(img[..., :3]), key, s
            break
    diameter_full = float(scalefactors.get("spot_diameter_fullres", 0.0)) or _spot_diameter_from_spacing(xy_full)
    return SectionView(library_id, name, mask, xy_full * scale, diameter_full * scale, image, image_key)


def _displayable(img: np.ndarray) -> np.ndarray:
    """uint8 as is; floats rescaled to [0, 1] when they fall outside it."""
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float32)
    lo, hi = float(img.min()), float(img.max())
    return img if lo >= 0.0 and hi <= 1.0 else (img - lo) / (hi - lo)


def _spot_diameter_from_spacing(xy: np.ndarray) -> float:
    """Without `spot_diameter_fullres`: half the median nearest-neighbour spacing (logged)."""
    if len(xy) < 2:
        return 1.0
    d, _ = cKDTree(xy).query(xy, k=2)
    diameter = 0.5 * float(np.median(d[:, 1]))
    logger.info("scalefactors lack spot_diameter_fullres; drawing spots at %.1f px (half the spacing)", diameter)
    return diameter


def safe_name(name: str) -> str:
    """A file-name-safe version of a section name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "section"
