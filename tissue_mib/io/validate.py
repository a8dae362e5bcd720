"""Checks shared by every reader; each raises a one-line InputError naming the file."""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tissue_mib.checks import check_positive
from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)

GRID_MAX = 100_000  # array_row / array_col: Visium HD 2 µm bins reach a few thousand
MAX_MISSING_POSITIONS = 0.01  # share of matrix barcodes that may lack a position (dropped with a warning)
SPOT_TO_SPACING = (0.1, 2.0)  # allowed spot diameter / neighbour spacing (Visium 0.55, HD bins 1.0)


def check_values(X, *, where: str) -> bool:
    """Reject NaN/inf and negative values in `X`; return True when X holds non-integer values.

    A non-integer X is data that is already normalised: it is recorded, not rejected.
    """
    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return False
    if not np.all(np.isfinite(data)):
        raise InputError(f"{where}: expression matrix holds NaN or infinite values; counts must be finite")
    if data.min() < 0:
        raise InputError(
            f"{where}: expression matrix holds negative values (min {data.min():g}); "
            "give raw or log-normalised counts (for an h5ad, pick a layer with layer=)"
        )
    return bool(np.any(data != np.round(data)))


def check_not_empty(n_spots: int, n_genes: int, *, where: str) -> None:
    """Reject a section with no spots or no genes."""
    if n_spots == 0 or n_genes == 0:
        raise InputError(f"{where}: empty section ({n_spots} spots x {n_genes} genes)")


@contextlib.contextmanager
def duplicates_checked_after():
    """Silence anndata's warning about non-unique obs names while reading: `check_unique` follows
    and turns duplicates into an error."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        yield


def check_unique(names, *, what: str, where: str) -> None:
    """Reject duplicated names (barcodes, spot names) in a table: `what` names them."""
    index = pd.Index(np.asarray(names).astype(str))
    if not index.is_unique:
        dup = index[index.duplicated()]
        first = dup[0]
        raise InputError(
            f"{where}: duplicated {what} {first!r} ({int((index == first).sum())} rows; "
            f"{dup.nunique()} duplicated in all); each must appear once"
        )


def check_positions(table: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """Validate a positions table indexed by barcode (columns in_tissue, array_row, array_col,
    pxl_row_in_fullres, pxl_col_in_fullres); return it with int64 / float64 columns.

    Barcodes are unique, no two share a grid position, and the values are as `check_spot_columns` says.
    """
    check_unique(table.index, what="barcode", where=where)
    out = check_spot_columns(table, where=where)
    grid = pd.Index(out["array_row"].to_numpy() * (GRID_MAX + 1) + out["array_col"].to_numpy())
    if not grid.is_unique:
        key = grid[grid.duplicated()][0]
        barcodes = out.index[grid == key][:2].tolist()
        raise InputError(
            f"{where}: barcodes {barcodes[0]!r} and {barcodes[1]!r} share grid position (row, col) = "
            f"({key // (GRID_MAX + 1)},{key % (GRID_MAX + 1)}); each spot needs its own"
        )
    return out


def check_spot_columns(table: pd.DataFrame, *, where: str, grid_min: int = 0) -> pd.DataFrame:
    """The spot columns of `table` cast to int64 / float64: in_tissue 0 or 1, array_row and
    array_col integers in [grid_min, GRID_MAX] (-1 marks an unknown position in tissue-mib's own
    h5ad files), pxl_* finite numbers. Other columns are returned unchanged."""
    out = table.copy()
    for col in table.columns:
        if col != "in_tissue" and not str(col).startswith(("array_", "pxl_")):
            continue
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        if col == "in_tissue":
            bad = ~np.isin(values, (0.0, 1.0))
            allowed = "0 or 1"
        elif col.startswith("array_"):
            bad = ~(np.isfinite(values) & (values == np.round(values)) & (values >= grid_min) & (values <= GRID_MAX))
            allowed = f"an integer in [{grid_min}, {GRID_MAX}]"
        else:
            bad = ~np.isfinite(values)
            allowed = "a finite number"
        if bad.any():
            i = int(np.argmax(bad))
            value = table[col].iloc[i]
            value = value.item() if isinstance(value, np.generic) else value
            raise InputError(
                f"{where}: {col} = {value!r} for barcode {table.index[i]!r} "
                f"({int(bad.sum())} bad rows): must be {allowed}"
            )
        out[col] = values.astype(np.float64 if col.startswith("pxl_") else np.int64)
    return out


def check_scalefactors(sf: dict, *, where: str) -> dict[str, float]:
    """Every number in a scale-factor mapping is finite and > 0; `spot_diameter_fullres` is required."""
    if "spot_diameter_fullres" not in sf:
        raise InputError(f"{where}: no 'spot_diameter_fullres' field")
    numbers = {k: v for k, v in sf.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if "spot_diameter_fullres" not in numbers:
        raise InputError(f"{where}: spot_diameter_fullres = {sf['spot_diameter_fullres']!r}: must be a finite number > 0")
    return {str(k): check_positive(v, name=f"{where}: {k}") for k, v in numbers.items()}


def neighbour_spacing(xy: np.ndarray, *, sample: int = 10_000) -> float:
    """Median distance from a spot centre to its nearest other centre, over at most `sample`
    evenly spread spots (NaN below 2 distinct spots)."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) < 2:
        return float("nan")
    dist, _ = cKDTree(xy).query(xy[:: max(1, len(xy) // sample)], k=2)
    dist = dist[:, 1][dist[:, 1] > 0]
    return float(np.median(dist)) if dist.size else float("nan")


def check_spot_diameter(diameter: float, xy: np.ndarray, *, where: str) -> None:
    """The spot diameter (full-res px) must be SPOT_TO_SPACING times the neighbour spacing of
    the spot centres `xy` (full-res px): a wrong scale factor or a positions file of another image."""
    spacing = neighbour_spacing(xy)
    if not np.isfinite(spacing):
        return
    lo, hi = SPOT_TO_SPACING
    if not lo * spacing <= diameter <= hi * spacing:
        raise InputError(
            f"{where}: spot_diameter_fullres = {diameter:g} px but spots are {spacing:.1f} px apart; "
            f"must be between {lo:g} and {hi:g} times the spacing ({lo * spacing:.1f} to {hi * spacing:.1f} px)"
        )


def match_positions(barcodes, positions_index, *, positions_file: str, matrix_file: str) -> np.ndarray:
    """Boolean mask of `barcodes` found in the positions table; error when none match or more than
    MAX_MISSING_POSITIONS of them have no position (the positions file covers only part of the matrix)."""
    found = np.isin(np.asarray(barcodes), np.asarray(positions_index))
    if not found.any():
        raise InputError(
            f"{positions_file}: positions match none of the {len(barcodes)} barcodes of {matrix_file}"
        )
    missing = int((~found).sum())
    if missing > MAX_MISSING_POSITIONS * len(found):
        raise InputError(
            f"{positions_file}: {missing} of the {len(found)} barcodes of {matrix_file} ({missing / len(found):.1%}) "
            f"have no position; at most {MAX_MISSING_POSITIONS:.0%} may be missing (wrong positions file?)"
        )
    if missing:
        logger.warning(
            "%s: %d of %d barcodes of %s have no position and are dropped",
            positions_file, int((~found).sum()), len(found), matrix_file,
        )
    return found


def check_image_covers(xy: np.ndarray, *, height: int, width: int, scale: float, image: str) -> None:
    """Raise when spot centres `xy` (full-res px, x then y) fall outside an image of `height` x `width`
    pixels that is `scale` times the full-resolution frame."""
    if len(xy) == 0:
        return
    x_max, y_max = (np.nanmax(xy, axis=0) * scale).tolist()
    if x_max > width + 1 or y_max > height + 1:
        raise InputError(
            f"{image}: image is {width}x{height} px but the spot coordinates reach "
            f"{x_max:.0f}x{y_max:.0f} px at scale {scale:g}; wrong image or scale factor"
        )
