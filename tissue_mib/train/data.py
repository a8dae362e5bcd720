"""Tensors for the engine: `MultiModalData` (aligned rows) and `BatchLoader` (mini-batches).

A batch is a dict of tensors for B target rows (docs/dev/architecture.md section 3). With a
graph (`edge_index`), the graph modality holds the rows of the targets' k-hop neighbourhood,
`"edge_index"` is relabelled to those rows and `"target"` (long (B,)) says where the targets
are among them (always the first B rows). Every other modality, `"y"` and `"index"` hold the
B targets only. Image modalities stay uint8 until the encoder.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from tissue_mib.errors import InputError


@dataclass
class MultiModalData:
    """Aligned rows of every modality, optional targets, spot graph and section ids.

    modalities: name -> (N, ...) array, e.g. "genes" (N, G) float32, "histology" (N, P, P, 3) uint8.
    y: (N,) int classes | (N, C) float multi-label | (N,) float regression | None (one-class).
    edge_index: (2, E) int64 over rows 0..N-1 (source, target), no edges across `groups`.
    groups: (N,) int section id.
    graph_modality: the modality the graph belongs to (its encoder sees the k-hop subgraph).
    """

    modalities: dict[str, np.ndarray]
    y: np.ndarray | None = None
    edge_index: np.ndarray | None = None
    groups: np.ndarray | None = None
    graph_modality: str = "genes"

    def __post_init__(self):
        if not self.modalities:
            raise InputError("MultiModalData: no modalities given")
        mods = {}
        for name, arr in self.modalities.items():
            arr = np.asarray(arr)
            if arr.ndim == 0:
                raise InputError(f"MultiModalData: modality '{name}' is a scalar, expected (N, ...) rows")
            if np.issubdtype(arr.dtype, np.floating):
                arr = arr.astype(np.float32, copy=False)
                if not np.isfinite(arr).all():
                    raise InputError(f"MultiModalData: modality '{name}' has NaN or infinite values")
            mods[name] = arr
        self.modalities = mods
        sizes = {name: len(a) for name, a in mods.items()}
        n = next(iter(sizes.values()))
        if len(set(sizes.values())) != 1:
            raise InputError(f"MultiModalData: modalities have different row counts {sizes}")
        if n == 0:
            raise InputError("MultiModalData: no rows")
        if self.y is not None:
            self.y = np.asarray(self.y)
            if len(self.y) != n:
                raise InputError(f"MultiModalData: y has {len(self.y)} rows, modalities have {n}")
            if np.issubdtype(self.y.dtype, np.floating) and not np.isfinite(self.y).all():
                raise InputError("MultiModalData: y has NaN or infinite values")
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if self.groups.shape != (n,):
                raise InputError(f"MultiModalData: groups has shape {self.groups.shape}, expected ({n},)")
        if self.edge_index is not None:
            self._check_edges(n)

    def _check_edges(self, n: int) -> None:
        ei = np.asarray(self.edge_index)
        if ei.ndim != 2 or ei.shape[0] != 2 or not np.issubdtype(ei.dtype, np.integer):
            raise InputError(f"MultiModalData: edge_index must be an int (2, E) array, got {ei.dtype} {ei.shape}")
        if ei.size and (ei.min() < 0 or ei.max() >= n):
            raise InputError(f"MultiModalData: edge_index refers to rows outside 0..{n - 1}")
        if self.graph_modality not in self.modalities:
            raise InputError(f"MultiModalData: graph modality '{self.graph_modality}' not among {list(self.modalities)}")
        if self.groups is not None and ei.size and (self.groups[ei[0]] != self.groups[ei[1]]).any():
            raise InputError("MultiModalData: edge_index has edges across groups (sections)")
        self.edge_index = ei.astype(np.int64, copy=False)

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(next(iter(self.modalities.values())))

    def subset(self, rows: np.ndarray) -> MultiModalData:
        """The rows `rows` (in that order) with the graph restricted to edges among them."""
        rows = np.asarray(rows, dtype=np.int64)
        edge_index = None
        if self.edge_index is not None:
            new = np.full(self.n, -1, dtype=np.int64)
            new[rows] = np.arange(len(rows))
            src, dst = new[self.edge_index[0]], new[self.edge_index[1]]
            keep = (src >= 0) & (dst >= 0)
            edge_index = np.stack([src[keep], dst[keep]])
        return MultiModalData(
            modalities={k: v[rows] for k, v in self.modalities.items()},
            y=None if self.y is None else self.y[rows],
            edge_index=edge_index,
            groups=None if self.groups is None else self.groups[rows],
            graph_modality=self.graph_modality,
        )


class BatchLoader:
    """Mini-batches of `batch_size` target rows as dicts of tensors on `device`.

    shuffle: a new seeded permutation each pass (torch.Generator from `seed`; its state is
    saved in checkpoints) else row order. hops: neighbourhood depth added around the targets
    for the graph modality (number of GCN layers + 1 makes symmetric GCN normalisation exact,
    so a target's output equals its output on the whole section graph). min_batch: batches
    with fewer targets are skipped (BatchNorm needs 2 rows in training). rows: the target
    rows (default all); their neighbourhoods may reach any row of `data`.
    """

    def __init__(
        self,
        data: MultiModalData,
        *,
        batch_size: int = 128,
        shuffle: bool = False,
        seed: int = 0,
        hops: int = 3,
        device: torch.device | str = "cpu",
        min_batch: int = 1,
        rows: np.ndarray | None = None,
        shard: tuple[int, int] = (0, 1),
    ):
        if batch_size < 1:
            raise InputError(f"BatchLoader: batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.hops = int(hops)
        self.device = torch.device(device)
        self.min_batch = int(min_batch)
        self.rows = np.arange(data.n) if rows is None else np.asarray(rows, dtype=np.int64)
        self.shard = (int(shard[0]), int(shard[1]))
        self.generator = torch.Generator().manual_seed(int(seed))
        self._in_csr = None
        if data.edge_index is not None:
            self._in_csr = in_neighbours(data.edge_index, data.n)

    def __len__(self) -> int:
        n_full, rest = divmod(len(self.rows), self.batch_size)
        return n_full + (1 if rest >= self.min_batch and rest > 0 else 0)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        n = len(self.rows)
        order = self.rows[torch.randperm(n, generator=self.generator).numpy()] if self.shuffle else self.rows
        for start in range(0, n, self.batch_size):
            targets = order[start : start + self.batch_size]
            if len(targets) < self.min_batch:
                continue
            if self.shard[1] > 1:
                targets = np.array_split(targets, self.shard[1])[self.shard[0]]
                if len(targets) == 0:
                    continue
            yield self.batch(targets)

    def whole(self) -> BatchLoader:
        """This loader without its shard, sharing its generator (a pass over it draws the same
        permutation as one process would); itself when it has no shard."""
        if self.shard[1] == 1:
            return self
        whole = copy.copy(self)
        whole.shard = (0, 1)
        return whole

    def batch(self, targets: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch for the given target rows (unique ints)."""
        targets = np.asarray(targets, dtype=np.int64)
        d = self.data
        out: dict[str, torch.Tensor] = {}
        if self._in_csr is not None:
            rows, edge_index = neighbourhood(self._in_csr, targets, self.hops)
            out[d.graph_modality] = torch.from_numpy(d.modalities[d.graph_modality][rows])
            out["edge_index"] = torch.from_numpy(edge_index)
            out["target"] = torch.arange(len(targets))
        for name, arr in d.modalities.items():
            if name not in out:
                out[name] = torch.from_numpy(arr[targets])
        if d.y is not None:
            out["y"] = torch.from_numpy(np.asarray(d.y[targets]))
        out["index"] = torch.from_numpy(targets)
        if self.device.type == "cuda":  # page-locked, so that the copies below overlap the GPU's work
            out = {k: v.pin_memory() for k, v in out.items()}
        return {k: v.to(self.device, non_blocking=True) for k, v in out.items()}


def in_neighbours(edge_index: np.ndarray, n: int) -> sp.csr_matrix:
    """(n, n) CSR of in-neighbours from (2, E) (source, target) edges: row = target, columns = its sources."""
    src, dst = edge_index
    csr = sp.csr_matrix((np.ones(len(src), dtype=np.int8), (dst, src)), shape=(n, n))
    csr.sum_duplicates()
    return csr


def neighbourhood(in_csr: sp.csr_matrix, targets: np.ndarray, hops: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the `hops`-hop in-neighbourhood of `targets` (targets first, then the others in
    row order) and its induced edges (2, E) (source, target) relabelled to those rows."""
    seen = np.zeros(in_csr.shape[0], dtype=bool)
    seen[targets] = True
    frontier = targets
    for _ in range(hops):
        nb = in_csr[frontier].indices
        nb = np.unique(nb[~seen[nb]])
        if nb.size == 0:
            break
        seen[nb] = True
        frontier = nb
    seen[targets] = False
    rows = np.concatenate([targets, np.flatnonzero(seen)])
    sub = in_csr[rows][:, rows].tocoo()  # row = target node, col = source node
    return rows, np.stack([sub.col, sub.row]).astype(np.int64)
