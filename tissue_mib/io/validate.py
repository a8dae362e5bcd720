"""Checks shared by every reader; each raises a one-line InputError naming the file."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


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


def match_positions(barcodes, positions_index, *, positions_file: str, matrix_file: str) -> np.ndarray:
    """Boolean mask of `barcodes` found in the positions table; error when none match."""
    found = np.isin(np.asarray(barcodes), np.asarray(positions_index))
    if not found.any():
        raise InputError(
            f"{positions_file}: positions match none of the {len(barcodes)} barcodes of {matrix_file}"
        )
    if not found.all():
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
