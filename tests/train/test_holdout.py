"""Held-out healthy data: whole sections, or spatial blocks with a buffer ring."""

from __future__ import annotations

import numpy as np
import pytest

from tissue_mib.errors import InputError
from tissue_mib.train.holdout import split_holdout


def hex_like(n_sections: int, side: int = 20, spacing_um: float = 100.0):
    """Square grids of side x side spots 100 um apart with 8-neighbour edges; (groups, coords, edges)."""
    per = side * side
    r, c = np.divmod(np.arange(per), side)
    coords = np.tile(np.stack([c, r], 1) * spacing_um, (n_sections, 1)).astype(float)
    groups = np.repeat(np.arange(n_sections), per)
    edges = []
    for s in range(n_sections):
        base = s * per
        for dr, dc in [(0, 1), (1, 0), (1, 1), (1, -1)]:
            ok = (r + dr < side) & (c + dc >= 0) & (c + dc < side)
            a = base + np.flatnonzero(ok)
            b = base + (r[ok] + dr) * side + c[ok] + dc
            edges += [np.stack([a, b]), np.stack([b, a])]
    return groups, coords, np.concatenate(edges, axis=1)


def test_whole_sections_when_three_or_more():
    groups, coords, edges = hex_like(8, side=5)
    h = split_holdout(groups, coords_um=coords, edge_index=edges, seed=1)
    assert h.mode == "sections" and len(h.groups) == 2  # ceil(0.15 * 8)
    assert set(np.unique(groups[h.holdout])) == set(h.groups)
    assert not set(np.unique(groups[h.train])) & set(h.groups)
    assert h.train.size + h.holdout.size == groups.size and h.buffer.size == 0
    assert split_holdout(groups, seed=1).groups == h.groups
    assert split_holdout(groups, seed=2).groups != h.groups or split_holdout(groups, seed=3).groups != h.groups


def test_three_sections_hold_out_one():
    groups, _, _ = hex_like(3, side=4)
    assert len(split_holdout(groups).groups) == 1


def test_blocks_with_buffer_ring():
    groups, coords, edges = hex_like(2, side=30)  # 3 mm x 3 mm sections
    h = split_holdout(groups, coords_um=coords, edge_index=edges, seed=0)
    assert h.mode == "blocks"
    frac = h.holdout.size / groups.size
    assert 0.15 <= frac < 0.5
    for g in (0, 1):  # every section contributes held-out spots
        assert (groups[h.holdout] == g).any()
    held = np.zeros(groups.size, bool)
    held[h.holdout] = True
    train = np.zeros(groups.size, bool)
    train[h.train] = True
    src, dst = edges
    assert not (held[src] & train[dst]).any()  # no training spot adjacent to a held-out spot
    assert h.buffer.size > 0 and not (train & held).any()
    assert h.train.size + h.holdout.size + h.buffer.size == groups.size
    # held-out spots form blocks: each held-out spot has a held-out neighbour
    assert all(held[dst[src == i]].any() for i in h.holdout)
    d = h.to_dict()
    assert d["mode"] == "blocks" and d["n_buffer"] == h.buffer.size and d["holdout_rows"] == h.holdout.tolist()


def test_blocks_deterministic_by_seed():
    groups, coords, edges = hex_like(1, side=30)
    a = split_holdout(groups, coords_um=coords, edge_index=edges, seed=4)
    b = split_holdout(groups, coords_um=coords, edge_index=edges, seed=4)
    c = split_holdout(groups, coords_um=coords, edge_index=edges, seed=5)
    assert np.array_equal(a.holdout, b.holdout) and not np.array_equal(a.holdout, c.holdout)


def test_small_section_is_not_held_out_whole():
    groups, coords, edges = hex_like(1, side=7)  # 0.6 mm across: smaller than one 1 mm block
    h = split_holdout(groups, coords_um=coords, edge_index=edges)
    assert 0 < h.holdout.size < groups.size / 2 and h.train.size > 0


def test_bad_options():
    groups, coords, _ = hex_like(1, side=4)
    with pytest.raises(InputError, match="coords_um"):
        split_holdout(groups, mode="blocks")
    with pytest.raises(InputError, match="unknown"):
        split_holdout(groups, mode="random")
    with pytest.raises(InputError, match="at least 2"):
        split_holdout(groups, mode="sections")
