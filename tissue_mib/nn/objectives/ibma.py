"""IBMA's information-bottleneck bounds (Wang et al.; Theorem 3.1, appendix A eqs. 3, 4, 11).

Assignments are soft prototype memberships phi(Z_i, a) = softmax_a(-||Z^_i - F^_a||^2) with
L2-normalised rows (as the authors' code), over C classes (or k-means pseudo-classes).
Because the joint assignments factorise, phi_j(i, a, y) = phi(Z_i, a) phi(X_i, y), the U term
reduces to sum_y phi(X_i, y) log(phi(X_i, y) / p_y): it does not depend on Z and gives no
gradient; V (and the fused bound's Q term) carries the learning signal. With Q = 1/C (first
epoch) V is the constant -log C.

Conventions: `labels` (N,) long in 0..C-1; `Q[y, a] = Q(a | y)` (rows sum to 1); `p_y` (C,).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LOG_FLOOR = 1e-12


def _rows(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).float()


def assign(Z: torch.Tensor, F_: torch.Tensor) -> torch.Tensor:
    """phi(Z_i, a) = softmax_a(-||Z^_i - F^_a||^2) with L2-normalised rows: (N, ...), (C, d) -> (N, C)."""
    z = F.normalize(_rows(Z), dim=1)
    f = F.normalize(_rows(F_), dim=1)
    return torch.softmax(-torch.cdist(z, f).pow(2), dim=1)


@torch.no_grad()
def class_means(X: torch.Tensor, labels: torch.Tensor, C: int) -> torch.Tensor:
    """Mean row of X (N, ...) per class -> (C, d) with d = prod of X's trailing dims; an empty class gives zeros."""
    x = _rows(X)
    sums = torch.zeros(C, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=C).to(x.dtype).clamp_min(1.0)
    return sums / counts[:, None]


@torch.no_grad()
def class_frequencies(labels: torch.Tensor, C: int) -> torch.Tensor:
    """p_y (C,): the share of each class in `labels`."""
    return torch.bincount(labels, minlength=C).float() / labels.numel()


@torch.no_grad()
def update_Q(Z: torch.Tensor, labels: torch.Tensor, F_: torch.Tensor, C: int) -> torch.Tensor:
    """Q[y, a] = mean of phi(Z_i, a) over the samples of class y (Algorithms 3, 4); an empty class gets 1/C. (C, C)."""
    phi = assign(Z, F_)
    sums = torch.zeros(C, phi.shape[1], device=phi.device).index_add_(0, labels, phi)
    counts = torch.bincount(labels, minlength=C).float()
    Q = sums / counts.clamp_min(1.0)[:, None]
    Q[counts == 0] = 1.0 / phi.shape[1]
    return Q


def u_term(X: torch.Tensor, C_: torch.Tensor, p_y: torch.Tensor) -> torch.Tensor:
    """U_i = sum_y phi(X_i, y) log(phi(X_i, y) / p_y) (N,): the reduced form, independent of Z."""
    phi_x = assign(X, C_)
    log_p = torch.log(p_y.float().clamp_min(_LOG_FLOOR))
    return (torch.special.xlogy(phi_x, phi_x) - phi_x * log_p).sum(dim=1)


def ibb_modality(
    Z_j: torch.Tensor,
    X_j: torch.Tensor,
    Z_jp: torch.Tensor,
    labels: torch.Tensor,
    F_j: torch.Tensor,
    C_j: torch.Tensor,
    F_jp: torch.Tensor,
    Q_j: torch.Tensor,
    p_y: torch.Tensor,
) -> torch.Tensor:
    """IBB_j = mean_i (U_i - V_i), a scalar (fp32).

    U_i as `u_term(X_j, C_j, p_y)`; V_i = sum_a sum_y phi(Z_i^j, a) phi(Z_i^j', y) log Q_j(a | y),
    with prototypes F_j of Z_j, F_jp of the other modality's Z_jp, input class means C_j.
    `labels` is part of the signature of eq. 3 but enters only through F, C, Q and p_y.
    """
    del labels  # the bound uses the class statistics, not the per-sample labels
    phi_z = assign(Z_j, F_j)  # (N, a)
    phi_zp = assign(Z_jp, F_jp)  # (N, y)
    log_q = torch.log(Q_j.float().clamp_min(_LOG_FLOOR))  # (y, a)
    v = ((phi_zp @ log_q) * phi_z).sum(dim=1)
    return (u_term(X_j, C_j, p_y) - v).mean()


def ibb_fuse(
    Z: torch.Tensor,
    X1: torch.Tensor,
    X2: torch.Tensor,
    labels: torch.Tensor,
    F_: torch.Tensor,
    C1: torch.Tensor,
    C2: torch.Tensor,
    Q: torch.Tensor,
    p_y: torch.Tensor,
) -> torch.Tensor:
    """IBB_fuse (eq. 11) = mean_i [U_i(Z, X1) + U_i(Z, X2) - sum_a phi(Z_i, a) log Q(a | Y_i)], a scalar (fp32).

    Z (N, d) is the fused representation with prototypes F_, X1/X2 the inputs with class
    means C1/C2, Y_i = labels[i] the hard label, Q from Algorithm 4.
    """
    phi_z = assign(Z, F_)
    log_q = torch.log(Q.float().clamp_min(_LOG_FLOOR))[labels]  # (N, a)
    return (u_term(X1, C1, p_y) + u_term(X2, C2, p_y) - (phi_z * log_q).sum(dim=1)).mean()
