"""Deep SVDD (Ruff et al. 2018): the hypersphere centre and the squared distance to it."""

from __future__ import annotations

import torch


@torch.no_grad()
def init_center(outputs: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Centre c (d,) = mean of `outputs` (N, d); coordinates with |c_j| < eps become +-eps.

    The sign follows the mean; an exact 0 becomes +eps. Keeping |c_j| >= eps stops a trivial
    solution where the network maps everything to a near-zero centre. Computed in fp32.
    """
    c = outputs.detach().float().mean(dim=0)
    small = c.abs() < eps
    sign = torch.where(c < 0, -1.0, 1.0)
    return torch.where(small, sign * eps, c)


def sq_distance(y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """||y_i - c||^2 per row: (N, d), (d,) -> (N,), in fp32."""
    return (y.float() - c.float()).pow(2).sum(dim=-1)
