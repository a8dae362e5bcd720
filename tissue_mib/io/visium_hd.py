"""Visium HD binned outputs (`binned_outputs/square_008um/` etc.) on a square grid."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.io.matrix import MATRIX_NAMES, find_matrix, read_matrix
from tissue_mib.io.section import build_section
from tissue_mib.io.spaceranger import read_images, read_positions, read_scalefactors
from tissue_mib.io.validate import check_spot_diameter, match_positions

logger = logging.getLogger(__name__)

_BIN_DIR = re.compile(r"^square_(\d+)um$")
DEFAULT_BIN_UM = 8


def find_hd_bins(folder: Path) -> Path | None:
    """The bin folder to read: `folder` itself if it is `square_NNNum/`, else the 8 µm bins (or
    the finest there is) under `folder/binned_outputs` or `folder/outs/binned_outputs`; None if
    `folder` is no Visium HD output."""
    if _BIN_DIR.match(folder.name):
        return folder
    for binned in (folder / "binned_outputs", folder / "outs" / "binned_outputs", folder):
        if binned.name != "binned_outputs" or not binned.is_dir():
            continue
        bins = sorted((p for p in binned.iterdir() if p.is_dir() and _BIN_DIR.match(p.name)), key=lambda p: int(_BIN_DIR.match(p.name)[1]))
        if not bins:
            raise InputError(f"{binned}: no square_NNNum/ bin folders")
        preferred = [p for p in bins if int(_BIN_DIR.match(p.name)[1]) == DEFAULT_BIN_UM]
        return (preferred or bins)[0]
    return None


def read_visium_hd(bins: str | os.PathLike, *, image: str | os.PathLike | None = None) -> AnnData:
    """Read one Visium HD bin folder (`square_008um/`: matrix, `spatial/tissue_positions.parquet`,
    `spatial/scalefactors_json.json` with `microns_per_pixel` and `bin_size_um`)."""
    bins = Path(bins)
    matrix_path = find_matrix(bins)
    if matrix_path is None:
        raise InputError(f"{bins}: no 10x matrix found (looked for {', '.join(MATRIX_NAMES)})")
    spatial = bins / "spatial"
    if not (spatial / "tissue_positions.parquet").is_file():
        raise InputError(f"{bins}: spatial/tissue_positions.parquet is missing")
    positions, pos_path = read_positions(spatial)
    sf = read_scalefactors(spatial)
    check_spot_diameter(sf["spot_diameter_fullres"], positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(),
                        where=str(spatial / "scalefactors_json.json"))  # fmt: skip
    m = _BIN_DIR.match(bins.name)
    bin_um = sf.get("bin_size_um", float(m[1]) if m else float("nan"))
    if not np.isfinite(bin_um):
        raise InputError(f"{spatial / 'scalefactors_json.json'}: no 'bin_size_um' and the folder name gives none")
    sf["bin_size_um"] = bin_um
    sf.setdefault("microns_per_pixel", bin_um / sf["spot_diameter_fullres"])
    counts = read_matrix(matrix_path)
    keep = match_positions(counts.obs_names.to_numpy(), positions.index.to_numpy(), positions_file=str(pos_path), matrix_file=str(matrix_path))
    counts = counts[keep]
    pos = positions.loc[counts.obs_names]
    images, image_files = read_images(spatial)
    return build_section(
        counts.X,
        obs=pos[["in_tissue", "array_row", "array_col"]],
        var=counts.var,
        xy=pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64),
        library_id=_library_id(bins),
        layout="visium_hd",
        grid="square",
        spot_diameter_um=bin_um,
        scalefactors=sf,
        images=images,
        image_files=image_files,
        fullres_image=image,
        source=str(bins),
    )


def _library_id(bins: Path) -> str:
    """The sample folder name: the parent of `outs/` or of `binned_outputs/`."""
    parts = bins.resolve().parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "binned_outputs":
            return parts[i - 2] if parts[i - 1] == "outs" and i >= 2 else parts[i - 1]
    return bins.name
