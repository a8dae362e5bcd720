"""tl.tensors: the spatial order that scoring chunks and batches follow."""

from __future__ import annotations

import numpy as np

from tissue_mib.tl.tensors import spatial_order
from tissue_mib.train.data import in_neighbours, neighbourhood


def square_grid(side: int, pitch: float = 29.2) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(side * side).reshape(side, side)
    pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])]
    edges = np.concatenate([np.stack([a.ravel(), b.ravel()]) for p in pairs for a, b in (p, p[::-1])], axis=1)
    r, c = np.divmod(np.arange(side * side), side)
    return np.stack([100 + c * pitch, 50 + r * pitch], axis=1), edges


def test_spatial_order_makes_runs_of_spots_compact():
    xy, edges = square_grid(160)
    groups = np.zeros(len(xy), dtype=np.int64)
    order = spatial_order(xy, groups, edges)
    assert np.array_equal(np.sort(order), np.arange(len(xy)))
    in_csr = in_neighbours(edges, len(xy))

    def rows_per_target(o):
        return sum(len(neighbourhood(in_csr, o[s : s + 128], 3)[0]) for s in range(0, len(o), 128)) / len(o)

    assert rows_per_target(order) < 0.5 * rows_per_target(np.arange(len(xy)))


def test_spatial_order_keeps_sections_apart():
    xy, edges = square_grid(8)
    both = np.concatenate([xy, xy])
    groups = np.repeat([1, 0], len(xy))
    order = spatial_order(both, groups, np.concatenate([edges, edges + len(xy)], axis=1))
    assert (order[: len(xy)] >= len(xy)).all() and (order[len(xy) :] < len(xy)).all()
