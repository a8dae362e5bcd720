"""Layout helpers: the Visium grid and blob drawing at the image border."""

from __future__ import annotations

import numpy as np

from tissue_mib.datasets.synthetic import FULL, SMALL
from tissue_mib.datasets.synthetic.layout import _draw_blobs, hex_grid, image_shape


def test_hex_grid_is_visium_like():
    grid = hex_grid(FULL)
    assert len(grid) == FULL.rows * FULL.spots_per_row
    assert grid["array_col"].max() == 2 * FULL.spots_per_row - 1
    odd = grid[grid["array_row"] == 1]
    assert (odd["array_col"] % 2 == 1).all()
    height, width = image_shape(SMALL)
    small = hex_grid(SMALL)
    assert small["pxl_row_in_fullres"].max() < height and small["pxl_col_in_fullres"].max() < width


def test_blobs_off_the_image_are_skipped():
    mask = np.zeros((50, 60), dtype=bool)
    centres = np.array([[-40.0, 10.0], [25.0, 30.0], [10.0, 200.0]])
    lumen = _draw_blobs(mask, centres, np.array([5.0, 8.0, 5.0]), np.random.default_rng(0))
    assert mask[25, 30] and lumen[25, 30] and not mask[0, 0]
    assert 150 < mask.sum() < 260  # only the disc of radius 8 (area ~201)
