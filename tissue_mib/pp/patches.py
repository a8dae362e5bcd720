"""Histology patches of a fixed physical size around each spot (DESIGN.md section 3).

A patch is a square of `patch_um` micrometres centred on the spot, cut from the best
non-blank image (full-resolution file > hires > lowres) and resampled to `size` x `size`
uint8 RGB. The image (or, for a full-resolution file, each tile of it) is first resized
with an anti-aliased bilinear filter so that `patch_um` spans `size` pixels; then the
patches are gathered by indexing, `settings.chunk_spots()` spots at a time, each centre
rounded to the nearest resized pixel (at most half an output pixel off).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from anndata import AnnData
from numpy.lib.stride_tricks import sliding_window_view

from tissue_mib.errors import InputError
from tissue_mib.io.images import SlideImage, is_blank
from tissue_mib.pp._util import library_masks, metadata, spatial_entry
from tissue_mib.settings import chunk_spots, progress

logger = logging.getLogger(__name__)

FILL = 255  # white, the background of an H&E slide
TILE = 2048  # tile side (pixels of the chosen level) for full-resolution files


@dataclass(frozen=True)
class ImageSource:
    """Where a library's patches come from: `key` is 'fullres', 'hires' or 'lowres'.

    `image` is the in-memory array (hires/lowres) or None, `path` the full-res file or "",
    `scale` image pixels per full-res pixel.
    """

    key: str
    scale: float
    image: np.ndarray | None = None
    path: str = ""


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) from uint8, wider integer or float ([0, 1] or [0, 255]) images, grey or RGBA (alpha dropped)."""
    img = np.asarray(image)
    if np.issubdtype(img.dtype, np.integer) and img.dtype != np.uint8:
        img = (img.astype(np.float64) * (255.0 / np.iinfo(img.dtype).max)).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        top = 1.0 if np.nanmax(img) <= 1.0 else 255.0
        img = np.clip(np.nan_to_num(img) * (255.0 / top), 0, 255).round().astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.require(img[..., :3], requirements=["C", "W"])


def extract_patches(image: np.ndarray, centres: np.ndarray, *, side_px: float, size: int = 32,
                    offset: tuple[float, float] = (0.0, 0.0),
                    bounds: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut `size` x `size` patches of side `side_px` image pixels around `centres`.

    image: (H, W, 3) uint8 (or anything `as_rgb_uint8` takes); centres: (N, 2) x, y in
    image pixels. `offset` (x, y) is where `image` sits in a larger picture of shape
    `bounds` (H, W) (tiles of a full-res file); centres are in that larger frame.
    Returns uint8 (N, size, size, 3) and padded (N,) bool: the patch leaves the picture;
    whatever lies outside `image` is white.
    """
    img = as_rgb_uint8(image)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    H, W = img.shape[:2]
    bh, bw = bounds if bounds is not None else (H, W)
    half = side_px / 2
    cx, cy = centres[:, 0], centres[:, 1]
    padded = (cx - half < -0.5) | (cy - half < -0.5) | (cx + half > bw - 0.5) | (cy + half > bh - 0.5)
    f = size / side_px
    new_h, new_w = max(1, round(H * f)), max(1, round(W * f))
    tensor = torch.from_numpy(img).permute(2, 0, 1)[None]
    if (new_h, new_w) != (H, W):
        tensor = F.interpolate(tensor, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    small = tensor[0].permute(1, 2, 0).numpy()
    fy, fx = new_h / H, new_w / W
    # pixel i of the resized image has its centre at source coordinate (i + 0.5) / f - 0.5
    sx = (cx - offset[0] + 0.5) * fx - 0.5
    sy = (cy - offset[1] + 0.5) * fy - 0.5
    x0 = np.clip(np.rint(sx - (size - 1) / 2).astype(np.int64), -size, new_w) + size
    y0 = np.clip(np.rint(sy - (size - 1) / 2).astype(np.int64), -size, new_h) + size
    canvas = np.pad(small, ((size, size), (size, size), (0, 0)), constant_values=FILL)
    windows = sliding_window_view(canvas, (size, size), axis=(0, 1))  # (H', W', 3, size, size)
    out = np.empty((len(centres), size, size, 3), dtype=np.uint8)
    step = chunk_spots()
    for start in range(0, len(centres), step):  # gathered a chunk at a time: no second (N, 3, size, size) array
        rows = slice(start, start + step)
        out[rows] = windows[y0[rows], x0[rows]].transpose(0, 2, 3, 1)
    return out, padded


def extract_from_slide(slide: SlideImage, centres: np.ndarray, *, side_px: float, size: int = 32,
                       tile: int = TILE, desc: str = "patches") -> tuple[np.ndarray, np.ndarray]:
    """Like `extract_patches` for a full-resolution file read tile by tile (never whole).

    centres and side_px are in level-0 pixels; reads the coarsest pyramid level that still
    has at least `size` pixels across a patch.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    level = slide.best_level(side_px / size)
    ds = slide.level_downsamples[level]
    lh, lw = (round(n / ds) for n in slide.shape)
    c_level, side_level = (centres + 0.5) / ds - 0.5, side_px / ds  # pixel centres, level-0 -> level frame
    margin = int(np.ceil(side_level / 2)) + 2
    n_tiles = np.array([max(1, -(-lw // tile)), max(1, -(-lh // tile))])
    keys = np.clip(np.floor(c_level / tile).astype(np.int64), 0, n_tiles - 1)  # off-slide spots join edge tiles
    out = np.empty((len(centres), size, size, 3), dtype=np.uint8)
    padded = np.zeros(len(centres), dtype=bool)
    tile_ids = keys[:, 1] * n_tiles[0] + keys[:, 0]
    order = np.argsort(tile_ids, kind="stable")
    ids, starts = np.unique(tile_ids[order], return_index=True)
    for tile_id, idx in progress(zip(ids, np.split(order, starts[1:])), desc=desc, total=len(ids)):
        ty, tx = divmod(int(tile_id), int(n_tiles[0]))
        x0, y0 = max(tx * tile - margin, 0), max(ty * tile - margin, 0)
        x1, y1 = min((tx + 1) * tile + margin, lw), min((ty + 1) * tile + margin, lh)
        region = slide.read_region(x0 * ds, y0 * ds, x1 - x0, y1 - y0, level=level)
        out[idx], padded[idx] = extract_patches(region, c_level[idx], side_px=side_level, size=size,
                                                offset=(x0, y0), bounds=(lh, lw))
    return out, padded


def microns_per_pixel(adata: AnnData, lib: str) -> float:
    """µm per full-resolution pixel of library `lib`, from the scalefactors (or spot diameter)."""
    sf = spatial_entry(adata, lib).get("scalefactors", {})
    meta = metadata(adata, lib)
    if "microns_per_pixel" in sf and np.isfinite(sf["microns_per_pixel"]):
        return float(sf["microns_per_pixel"])
    diameter_um = meta.get("spot_diameter_um", 55.0 if meta.get("layout", "visium") == "visium" else None)
    if diameter_um and sf.get("spot_diameter_fullres"):
        return float(diameter_um) / float(sf["spot_diameter_fullres"])
    raise InputError(f"section {lib}: no scalefactors 'microns_per_pixel' or 'spot_diameter_fullres' in "
                     f"uns['spatial']['{lib}']; cannot size patches in micrometres")


def default_patch_um(adata: AnnData, lib: str) -> float:
    """One spot diameter in µm (55 Visium, 100 legacy ST); Visium HD needs an explicit value."""
    meta = metadata(adata, lib)
    if meta.get("layout") == "visium_hd":
        raise InputError(f"section {lib} is Visium HD: pass patch_um= (bins are {meta.get('spot_diameter_um', '?')} µm)")
    sf = spatial_entry(adata, lib).get("scalefactors", {})
    if sf.get("spot_diameter_fullres"):
        return float(sf["spot_diameter_fullres"]) * microns_per_pixel(adata, lib)
    if meta.get("spot_diameter_um"):
        return float(meta["spot_diameter_um"])
    raise InputError(f"section {lib}: no spot_diameter_fullres in uns['spatial']['{lib}']['scalefactors']; pass patch_um=")


def image_source(adata: AnnData, lib: str) -> ImageSource | None:
    """The best non-blank image of library `lib` (full-res file > hires > lowres), or None."""
    entry = spatial_entry(adata, lib)
    meta, sf, images = entry.get("metadata", {}), entry.get("scalefactors", {}), entry.get("images", {})
    blank = {str(b) for b in meta.get("blank_images", [])}
    path = str(meta.get("fullres_image", "") or "")
    if path and "fullres" not in blank:
        if Path(path).is_file():
            return ImageSource("fullres", 1.0, path=path)
        logger.warning("section %s: full-resolution image %s not found; using the in-memory images", lib, path)
    for key in ("hires", "lowres"):
        if key not in images or key in blank or f"tissue_{key}_scalef" not in sf:
            continue
        if "blank_images" not in meta and is_blank(as_rgb_uint8(images[key])):
            continue
        return ImageSource(key, float(sf[f"tissue_{key}_scalef"]), image=images[key])
    return None


def patches(adata: AnnData, *, patch_um: float | None = None, size: int = 32, inplace: bool = True) -> AnnData | None:
    """Histology patches for every spot: `obsm['tissue_mib_patches']` uint8 (N, size, size, 3).

    patch_um: side in µm (default: each library's spot diameter). Sets
    `obs['tissue_mib_patch_padded']` (patch leaves the image, outside part white) and
    `uns['tissue_mib_patches'] = {'patch_um', 'size', 'source_image', 'side_px'}` (per library;
    `source_image` is "" for a library without a usable image, whose rows stay zero).
    With no image in any library, no patches are written.
    """
    if size < 1:
        raise InputError(f"patches: size must be a positive number of pixels, got {size}")
    if patch_um is not None and not patch_um > 0:
        raise InputError(f"patches: patch_um must be positive micrometres, got {patch_um}")
    adata = adata if inplace else adata.copy()
    if "spatial" not in adata.obsm:
        raise InputError("patches: AnnData has no obsm['spatial'] (spot centres)")
    out = np.zeros((adata.n_obs, size, size, 3), dtype=np.uint8)
    padded = np.zeros(adata.n_obs, dtype=bool)
    record = {"patch_um": {}, "size": int(size), "source_image": {}, "side_px": {}}
    for lib, rows in progress(list(library_masks(adata)), desc="patches"):
        source = image_source(adata, lib)
        if source is None:
            logger.warning("section %s has no usable image: genes only, no histology patches", lib)
            record["source_image"][lib] = ""
            continue
        um = float(patch_um) if patch_um is not None else default_patch_um(adata, lib)
        side_full = um / microns_per_pixel(adata, lib)
        centres = np.asarray(adata.obsm["spatial"], dtype=np.float64)[rows]
        if not np.isfinite(centres).all():
            raise InputError(f"section {lib}: obsm['spatial'] has non-finite spot centres")
        if source.key == "fullres":
            with SlideImage(source.path) as slide:
                out[rows], padded[rows] = extract_from_slide(slide, centres, side_px=side_full, size=size,
                                                             desc=f"patches {lib}")
        else:
            out[rows], padded[rows] = extract_patches(source.image, centres * source.scale,
                                                      side_px=side_full * source.scale, size=size)
        record["patch_um"][lib] = um
        record["source_image"][lib] = source.key
        record["side_px"][lib] = side_full * source.scale
        logger.info("section %s: %d patches of %.1f µm (%.1f px of %s) -> %d px, %d padded",
                    lib, rows.sum(), um, side_full * source.scale, source.key, size, padded[rows].sum())
    if not record["patch_um"]:
        logger.warning("no section has a usable image: no histology patches")
        adata.uns["tissue_mib_patches"] = record
        return None if inplace else adata
    adata.obsm["tissue_mib_patches"] = out
    adata.obs["tissue_mib_patch_padded"] = padded
    adata.uns["tissue_mib_patches"] = record
    return None if inplace else adata

