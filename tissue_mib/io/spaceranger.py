"""Space Ranger `outs/` folders (Visium): matrix + spatial/ positions, scale factors and images."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.io.images import load_rgb
from tissue_mib.io.matrix import MATRIX_NAMES, find_matrix, read_matrix
from tissue_mib.io.section import build_section
from tissue_mib.io.validate import check_positions, check_scalefactors, check_spot_diameter, match_positions

logger = logging.getLogger(__name__)

VISIUM_SPOT_UM = 55.0
POSITION_COLUMNS = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
POSITION_FILES = ("tissue_positions.csv", "tissue_positions_list.csv", "tissue_positions.parquet")


def is_spaceranger_folder(folder: Path) -> bool:
    folder = _outs(folder)
    return find_matrix(folder) is not None or (folder / "spatial").is_dir()


def _outs(folder: Path) -> Path:
    return folder / "outs" if (folder / "outs").is_dir() else folder


def read_positions(spatial: Path) -> tuple[pd.DataFrame, Path]:
    """The positions table of a `spatial/` folder, indexed by barcode, and its file.

    Accepts `tissue_positions.csv` (2.x, with header), `tissue_positions_list.csv` (1.x,
    headerless) and `tissue_positions.parquet` (Visium HD).
    """
    for name in POSITION_FILES:
        path = spatial / name
        if path.is_file():
            break
    else:
        raise InputError(f"{spatial}: no positions file ({' or '.join(POSITION_FILES)})")
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            with open(path) as fh:
                has_header = fh.readline().startswith("barcode")
            table = pd.read_csv(path, header=0 if has_header else None, dtype=str, keep_default_na=False)
            if table.shape[1] != len(POSITION_COLUMNS):
                raise InputError(f"{path}: expected {len(POSITION_COLUMNS)} columns ({','.join(POSITION_COLUMNS)}), found {table.shape[1]}")
            if not has_header:
                table.columns = POSITION_COLUMNS
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow parse errors
        raise InputError(f"{path}: cannot read positions ({type(exc).__name__}: {exc})") from None
    missing = [c for c in POSITION_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: positions table lacks columns {missing}")
    table = table[POSITION_COLUMNS].set_index("barcode")
    table.index = table.index.astype(str)
    return check_positions(table, where=str(path)), path


def read_scalefactors(spatial: Path) -> dict:
    path = spatial / "scalefactors_json.json"
    if not path.is_file():
        raise InputError(f"{spatial}: scalefactors_json.json is missing")
    try:
        sf = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too long an integer, deep nesting
        raise InputError(f"{path}: not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(sf, dict):
        raise InputError(f"{path}: must hold a JSON object, got {type(sf).__name__}")
    return check_scalefactors(sf, where=str(path))


def read_images(spatial: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """`tissue_hires_image.png` / `tissue_lowres_image.png` (what exists) as uint8 HxWx3, and their files."""
    images, files = {}, {}
    for key in ("hires", "lowres"):
        path = spatial / f"tissue_{key}_image.png"
        if path.is_file():
            images[key] = load_rgb(path)
            files[key] = str(path)
    return images, files


def read_spaceranger(folder: str | os.PathLike, *, image: str | os.PathLike | None = None) -> AnnData:
    """Read a Visium Space Ranger output folder (`outs/` or its parent) into one section.

    `image`: optional full-resolution image (TIFF/SVS/JPEG) in the frame of the positions
    file; only its path and size are used here (`metadata['fullres_image']`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    outs = _outs(folder)
    matrix_path = find_matrix(outs)
    if matrix_path is None:
        raise InputError(f"{outs}: no 10x matrix found (looked for {', '.join(MATRIX_NAMES)})")
    spatial = outs / "spatial"
    if not spatial.is_dir() or not any((spatial / n).is_file() for n in POSITION_FILES):
        raise InputError(
            f"{outs}: no spatial data (spatial/tissue_positions.csv or tissue_positions_list.csv is missing); "
            "for the matrix alone use tissue_mib.io.read_matrix"
        )
    positions, pos_path = read_positions(spatial)
    scalefactors = read_scalefactors(spatial)
    check_spot_diameter(scalefactors["spot_diameter_fullres"], positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(),
                        where=str(spatial / "scalefactors_json.json"))  # fmt: skip
    counts = read_matrix(matrix_path)
    keep = match_positions(counts.obs_names.to_numpy(), positions.index.to_numpy(), positions_file=str(pos_path), matrix_file=str(matrix_path))
    counts = counts[keep]
    pos = positions.loc[counts.obs_names]
    xy = pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64)
    images, image_files = read_images(spatial)
    scalefactors["microns_per_pixel"] = VISIUM_SPOT_UM / scalefactors["spot_diameter_fullres"]
    return build_section(
        counts.X,
        obs=pos[["in_tissue", "array_row", "array_col"]],
        var=counts.var,
        xy=xy,
        library_id=_library_id(folder),
        layout="visium",
        grid="hex",
        spot_diameter_um=VISIUM_SPOT_UM,
        scalefactors=scalefactors,
        images=images,
        image_files=image_files,
        fullres_image=image,
        source=str(outs),
    )


def _library_id(folder: Path) -> str:
    folder = folder.resolve()
    return folder.parent.name if folder.name == "outs" else folder.name
