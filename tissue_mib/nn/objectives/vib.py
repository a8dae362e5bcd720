"""Variational information bottleneck parts: Gaussian encoders, reparameterisation and KL terms.

Both encoders return (mu, std) with std >= 0 (a floor guards log std); KL terms are computed in fp32 against N(0, I).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# floor on std inside log(std), so a collapsed std gives a large finite KL instead of inf
_STD_FLOOR = 1e-8


class GaussianVAE(nn.Module):
    """OMIB's VAE_i: Linear(in_dim -> hidden_dim) -> ReLU, then heads mu and std.

    (N, in_dim) -> ((N, latent_dim), (N, latent_dim)). std = softplus(.) + 1e-6; under
    `svdd` every Linear is bias-free and std = |.|, so that mu, std and the noise std * eps
    all scale with the input. With softplus, std >= ln 2 per dim whatever the input, and the
    norm of std * eps concentrates near ||std||: a data-independent input that a bias-free
    SVDD head can map to its centre, a bias in disguise (Ruff et al. 2018, Prop. 2;
    docs/methods.md, "Deep SVDD and the VAE noise").
    """

    def __init__(self, *, in_dim: int, latent_dim: int = 256, hidden_dim: int = 256, svdd: bool = True):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.body = nn.Sequential(nn.Linear(in_dim, hidden_dim, bias=not svdd), nn.ReLU())
        self.mu = nn.Linear(hidden_dim, self.latent_dim, bias=not svdd)
        self.std = nn.Linear(hidden_dim, self.latent_dim, bias=not svdd)
        self.homogeneous = bool(svdd)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(z)
        s = self.std(h)
        return self.mu(h), s.abs() if self.homogeneous else F.softplus(s) + 1e-6


class VIB(nn.Module):
    """MIB authors' VIB block: Linear(dim -> hidden_dim) + ReLU; mu = Linear(hidden_dim -> dim),
    std = softplus(Linear(hidden_dim -> dim) - 5). (N, dim) -> ((N, dim), (N, dim)). Bias-free under `svdd`.
    """

    def __init__(self, *, dim: int, hidden_dim: int = 1024, svdd: bool = True):
        super().__init__()
        self.latent_dim = int(dim)
        self.body = nn.Sequential(nn.Linear(dim, hidden_dim, bias=not svdd), nn.ReLU())
        self.mu = nn.Linear(hidden_dim, dim, bias=not svdd)
        self.std = nn.Linear(hidden_dim, dim, bias=not svdd)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), F.softplus(self.std(h) - 5.0)


def reparameterise(mu: torch.Tensor, std: torch.Tensor, *, sample: bool = True) -> torch.Tensor:
    """zeta = mu + std * eps with eps ~ N(0, I) when `sample`, else mu (inference)."""
    return mu + std * torch.randn_like(std) if sample else mu


def _kl_terms(mu: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    mu, std = mu.float(), std.float()
    return mu.pow(2) + std.pow(2) - 2.0 * torch.log(std.clamp_min(_STD_FLOOR)) - 1.0


def gaussian_kl(mu: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag std^2) || N(0, I)) per sample, summed over latent dims: (N, d) -> (N,)."""
    return 0.5 * _kl_terms(mu, std).sum(dim=-1)


def mib_kl(mu: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """MIB's KL: 1/2 * mean over batch AND latent dims of (mu^2 + std^2 - 2 log std - 1), a scalar.

    This is `gaussian_kl(mu, std).mean() / d`; MIB's beta (1e-3) is calibrated to this mean.
    """
    return 0.5 * _kl_terms(mu, std).mean()
