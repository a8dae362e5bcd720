"""`gcn`: a 2-layer graph convolutional network for the gene modality (Kipf & Welling).

It runs over whole section graphs or over the subgraph within n_layers + 1 = 3 hops of a
batch's target spots, so every spot sees its true neighbourhood in training and in scoring.
Why 3 and not 2 hops: GCN's symmetric normalisation 1/sqrt(deg_u deg_v) needs the full degree
of the 2-hop nodes, which only the 3-hop subgraph contains; on it the targets' outputs equal
the whole-graph outputs exactly (tested). Cost per forward: O(N * in_dim * hidden) for the
dense product plus O(E * hidden) for the sparse aggregation; for a 3,000-spot section with
3,000 genes that is about 2.3 GFLOP, dominated by the first layer's dense product.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS


@ENCODERS.register("gcn")
class GCNEncoder(nn.Module):
    """GCNConv(in_dim -> hidden_dim) -> ReLU -> GCNConv(hidden_dim -> out_dim), with self-loops.

    Input x (N, in_dim) float and edge_index (2, E) long over rows 0..N-1; output (N, out_dim).
    Bias-free under `svdd`. `n_layers` is 2: the k of the k-hop batches.
    """

    n_layers = 2

    def __init__(self, *, in_dim: int, out_dim: int = 256, hidden_dim: int = 256, svdd: bool = True):
        super().__init__()
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.conv1 = GCNConv(self.in_dim, hidden_dim, add_self_loops=True, bias=not svdd)
        self.conv2 = GCNConv(hidden_dim, self.out_dim, add_self_loops=True, bias=not svdd)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, *, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        if edge_index is None:
            raise InputError("gcn encoder: edge_index (the spot graph, shape (2, E)) is required; build it with pp.spatial_graph")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise InputError(f"gcn encoder: edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        if not x.is_floating_point():
            x = x.float()
        h = self.act(self.conv1(x, edge_index))
        return self.conv2(h, edge_index)
