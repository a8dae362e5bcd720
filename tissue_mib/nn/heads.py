"""Task heads: `head(x) -> pred`, `head.loss(pred, target) -> (N,)` per-sample loss in fp32, `head.score(pred)`.

Registered in `HEADS`: `svdd` (Deep SVDD, bias-free MLP and a centre buffer), `multiclass`
(cross-entropy), `multilabel` (BCE with logits, mean over labels), `regression` (L1 or MSE).
Each head has `kind` (its registry name), used e.g. by `objectives.omib.output_kl`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.nn.objectives.svdd import sq_distance
from tissue_mib.nn.registry import Registry

HEADS = Registry("head")


@HEADS.register("svdd")
class SVDDHead(nn.Module):
    """Linear(in_dim -> hidden_dim) -> LeakyReLU -> Linear(hidden_dim -> out_dim), no bias (Ruff et al. Prop. 2).

    `center` (out_dim,) is a buffer (saved with the weights) set once by `set_center`;
    `loss(pred)` and `score(pred)` are ||pred - c||^2 per sample (N,).
    """

    kind = "svdd"

    def __init__(self, *, in_dim: int, hidden_dim: int = 256, out_dim: int = 256):
        super().__init__()
        self.out_dim = int(out_dim)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=False),
            nn.LeakyReLU(),
            nn.Linear(hidden_dim, self.out_dim, bias=False),
        )
        self.register_buffer("center", torch.zeros(self.out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def set_center(self, c: torch.Tensor) -> None:
        """Fix the hypersphere centre c (out_dim,), e.g. from `objectives.svdd.init_center`."""
        c = torch.as_tensor(c)
        if c.shape != (self.out_dim,) or not torch.isfinite(c).all():
            raise InputError(f"SVDD centre must be a finite vector of shape ({self.out_dim},), got shape {tuple(c.shape)}")
        self.center.copy_(c.to(self.center))

    @property
    def has_center(self) -> bool:
        """True once a centre is set (a set centre has every |c_j| >= eps > 0)."""
        return bool(self.center.abs().sum() > 0)

    def loss(self, pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """||pred - c||^2 per sample (N,); `target` (d,) or (N, d), if given, replaces the centre."""
        if target is None:
            if not self.has_center:
                raise RuntimeError("SVDD head: the centre is not set; call set_center() before training or scoring")
            target = self.center
        return sq_distance(pred, target)

    def score(self, pred: torch.Tensor) -> torch.Tensor:
        """Anomaly score ||pred - c||^2 (N,), higher = more anomalous."""
        return self.loss(pred)


@HEADS.register("multiclass")
class MulticlassHead(nn.Module):
    """Linear(in_dim -> n_classes) logits; loss = cross-entropy per sample; score = softmax probabilities (N, C)."""

    kind = "multiclass"

    def __init__(self, *, in_dim: int, n_classes: int):
        super().__init__()
        if n_classes < 2:
            raise InputError(f"multiclass head: n_classes must be >= 2, got {n_classes}")
        self.out_dim = int(n_classes)
        self.linear = nn.Linear(in_dim, self.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (N,) of logits (N, C) against integer classes (N,)."""
        return F.cross_entropy(pred.float(), target.long().reshape(-1), reduction="none")

    def score(self, pred: torch.Tensor) -> torch.Tensor:
        return torch.softmax(pred.float(), dim=-1)


@HEADS.register("multilabel")
class MultilabelHead(nn.Module):
    """Linear(in_dim -> n_labels) logits; loss = BCE-with-logits averaged over labels (N,); score = sigmoid (N, L)."""

    kind = "multilabel"

    def __init__(self, *, in_dim: int, n_labels: int):
        super().__init__()
        self.out_dim = int(n_labels)
        self.linear = nn.Linear(in_dim, self.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over labels of BCE-with-logits: logits (N, L), targets (N, L) in [0, 1] -> (N,)."""
        return F.binary_cross_entropy_with_logits(pred.float(), target.float().reshape(pred.shape), reduction="none").mean(dim=-1)

    def score(self, pred: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(pred.float())


REGRESSION_LOSSES = ("l1", "mse")


@HEADS.register("regression")
class RegressionHead(nn.Module):
    """Linear(in_dim -> n_outputs); loss "l1" (MIB's choice) or "mse", averaged over outputs (N,); score = pred (N, n_outputs)."""

    kind = "regression"

    def __init__(self, *, in_dim: int, n_outputs: int = 1, loss: str = "l1"):
        super().__init__()
        if loss not in REGRESSION_LOSSES:
            raise InputError(f"regression head: loss {loss!r} is not one of {', '.join(REGRESSION_LOSSES)}")
        self.out_dim = int(n_outputs)
        self.loss_kind = loss
        self.linear = nn.Linear(in_dim, self.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample L1 or MSE: pred (N, n), target (N,) or (N, n) -> (N,)."""
        pred = pred.float()
        diff = pred - target.float().reshape(pred.shape)
        return (diff.abs() if self.loss_kind == "l1" else diff.pow(2)).mean(dim=-1)

    def score(self, pred: torch.Tensor) -> torch.Tensor:
        return pred.float()
