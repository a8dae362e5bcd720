"""MultiModalData validation and the k-hop batch layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.train import BatchLoader, MultiModalData


def test_rows_must_align():
    with pytest.raises(InputError, match="row counts"):
        MultiModalData({"genes": np.zeros((4, 3)), "histology": np.zeros((5, 2, 2, 3), np.uint8)})


def test_nan_names_the_modality():
    x = np.zeros((4, 3), np.float32)
    x[1, 2] = np.nan
    with pytest.raises(InputError, match="'genes'"):
        MultiModalData({"genes": x})


def test_cross_group_edges_rejected():
    with pytest.raises(InputError, match="across groups"):
        MultiModalData({"genes": np.zeros((4, 3))}, edge_index=np.array([[0, 3], [3, 0]]), groups=np.array([0, 0, 1, 1]))


def test_edges_out_of_range_rejected():
    with pytest.raises(InputError, match="outside"):
        MultiModalData({"genes": np.zeros((4, 3))}, edge_index=np.array([[0], [7]]))


def test_khop_batch_layout(data):
    loader = BatchLoader(data, batch_size=5, shuffle=True, seed=1, hops=2)
    batch = next(iter(loader))
    b = len(batch["index"])
    assert b == 5 and batch["histology"].shape == (5, 4, 4, 3) and batch["histology"].dtype == torch.uint8
    n_sub = batch["genes"].shape[0]
    assert n_sub > b
    assert torch.equal(batch["target"], torch.arange(b))
    # the subgraph's first rows are the targets' genes
    idx = batch["index"].numpy()
    np.testing.assert_array_equal(batch["genes"][:b].numpy(), data.modalities["genes"][idx])
    ei = batch["edge_index"].numpy()
    assert ei.min() >= 0 and ei.max() < n_sub
    # recover the dataset rows of the subgraph: match gene rows (continuous, distinct)
    rows = np.array([np.flatnonzero((data.modalities["genes"] == r).all(1))[0] for r in batch["genes"].numpy()])
    sub_edges = {(rows[s], rows[t]) for s, t in ei.T}
    full_edges = {tuple(e) for e in data.edge_index.T}
    assert sub_edges <= full_edges  # relabelled edges are real edges
    assert (data.groups[rows[ei[0]]] == data.groups[rows[ei[1]]]).all()  # no cross-section edges
    # every node within 2 hops of a target is present, with all its in-edges from inside the set
    present = set(rows.tolist())
    for t in idx:
        one = {s for s, d in full_edges if d == t}
        two = {s for s, d in full_edges if d in one}
        assert one | two <= present
    inside = {(s, d) for s, d in full_edges if s in present and d in present}
    assert sub_edges == inside  # induced subgraph


def test_sequential_covers_all_rows_in_order(data):
    loader = BatchLoader(data, batch_size=7)
    idx = torch.cat([b["index"] for b in loader]).numpy()
    np.testing.assert_array_equal(idx, np.arange(data.n))


def test_shuffle_is_seeded_and_min_batch_skips(data):
    a = [b["index"] for b in BatchLoader(data, batch_size=9, shuffle=True, seed=3, min_batch=2)]
    b = [b["index"] for b in BatchLoader(data, batch_size=9, shuffle=True, seed=3, min_batch=2)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(torch.cat(a).tolist()) == list(range(data.n))  # 128 = 14 x 9 + 2: every row once
    assert not torch.equal(torch.cat(a), torch.arange(data.n))
    c = [b["index"] for b in BatchLoader(data, batch_size=9, shuffle=True, seed=4, min_batch=2)]
    assert not torch.equal(torch.cat(a), torch.cat(c))
    skip = BatchLoader(data, batch_size=127, shuffle=True, min_batch=2)  # 128 = 127 + 1: the 1 is skipped
    assert len(skip) == 1 and [len(b["index"]) for b in skip] == [127]


def test_subset_keeps_only_inner_edges(data):
    sub = data.subset(np.arange(10))
    assert sub.n == 10 and sub.edge_index.max() < 10
    assert sub.groups.tolist() == [0] * 10


def test_no_graph_batches_hold_targets_only():
    d = MultiModalData({"x": np.arange(12, dtype=np.float32).reshape(6, 2)}, y=np.arange(6))
    batch = BatchLoader(d, batch_size=4).batch(np.array([5, 1]))
    assert set(batch) == {"x", "y", "index"}
    assert batch["x"].tolist() == [[10, 11], [2, 3]] and batch["y"].tolist() == [5, 1]
