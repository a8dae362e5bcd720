"""Tiny data and a tiny Method (GCN on genes + linear on uint8 patches, SVDD head) for engine tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv

from tissue_mib.train import MultiModalData


def grid_edges(n_rows: int, n_cols: int, offset: int = 0) -> np.ndarray:
    """Both directions of a 4-neighbour grid's edges, rows numbered from `offset`."""
    idx = np.arange(n_rows * n_cols).reshape(n_rows, n_cols) + offset
    pairs = [np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]), np.stack([idx[:-1].ravel(), idx[1:].ravel()])]
    e = np.concatenate(pairs, axis=1)
    return np.concatenate([e, e[::-1]], axis=1)


def make_data(*, n_sections: int = 2, side: int = 8, genes: int = 6, patch: int = 4, seed: int = 0) -> MultiModalData:
    """`n_sections` square grids of side x side spots; genes (N, genes) float32, patches uint8."""
    rng = np.random.default_rng(seed)
    per = side * side
    n = n_sections * per
    edges = np.concatenate([grid_edges(side, side, s * per) for s in range(n_sections)], axis=1)
    return MultiModalData(
        modalities={
            "genes": rng.normal(size=(n, genes)).astype(np.float32),
            "histology": rng.integers(0, 256, size=(n, patch, patch, 3), dtype=np.uint8),
        },
        edge_index=edges,
        groups=np.repeat(np.arange(n_sections), per),
    )


class TinyMethod(nn.Module):
    """A Method per docs/dev/architecture.md section 5: 2-layer GCN + linear encoders, bias-free SVDD."""

    name = "tiny"

    def __init__(self, *, genes: int = 6, patch: int = 4, dim: int = 8, phases=("main",)):
        super().__init__()
        self.phases = tuple(phases)
        self.amp_dtype = None
        self.gcn1 = GCNConv(genes, dim, bias=False)
        self.gcn2 = GCNConv(dim, dim, bias=False)
        self.img = nn.Linear(patch * patch * 3, dim, bias=False)
        self.head = nn.Linear(2 * dim, dim, bias=False)
        self.register_buffer("center", torch.zeros(dim))
        self.setup_calls = 0
        self.epochs_seen: list[int] = []

    def encode(self, batch):
        dev = batch["genes"].device
        with torch.autocast(device_type=dev.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            h = torch.relu(self.gcn1(batch["genes"], batch["edge_index"]))
            g = self.gcn2(h, batch["edge_index"])[batch["target"]]
            x = batch["histology"].float().flatten(1) / 255.0
            i = self.img(x)
        self.last_encoder_dtype = i.dtype
        return {"genes": g.float(), "histology": i.float()}

    def forward(self, batch):
        z = self.encode(batch)
        return self.head(torch.cat([z["genes"], z["histology"]], dim=1))

    @torch.no_grad()
    def setup(self, loader):
        self.setup_calls += 1
        outs = [self(b) for b in loader]
        self.center.copy_(torch.cat(outs).mean(0))

    def on_epoch_start(self, loader, epoch):
        self.epochs_seen.append(epoch)

    def training_loss(self, batch, phase):
        d = ((self(batch) - self.center) ** 2).sum(1).mean()
        return {"loss": d, "distance": d.detach()}

    @torch.no_grad()
    def predict(self, batch):
        y = self(batch)
        return {"score": ((y - self.center) ** 2).sum(1), "latent": y}

    def config(self):
        return {"name": self.name}


@pytest.fixture
def data() -> MultiModalData:
    return make_data()


@pytest.fixture(scope="session")
def data_factory():
    """`make_data(**kw)`: tiny grid sections."""
    return make_data


@pytest.fixture(scope="session")
def tiny():
    """The `TinyMethod` class."""
    return TinyMethod

