"""OMIB's objective parts (Wu et al. 2025): the dynamic weight r, output KLs, MINE and the beta bounds.

- `dynamic_r`: r = 1 - tanh(ln(mean KL_2 / mean KL_1)) in (0, 2) (eq. 11, ratio of means).
- `output_kl`: KL(p(y_i | xi, z_i) || p(y | xi)) per sample for a head kind.
- `MINE`, `estimate_mi`, `entropy`: Donsker-Varadhan MI estimates (Belghazi et al. 2018).
- `beta_bounds`, `beta_bounds_three`, `draw_beta`: beta in [M_l, M_u] (Algorithm 2, lines 1-5).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.nn.optim import adam
from tissue_mib.settings import progress

logger = logging.getLogger(__name__)


@torch.no_grad()
def dynamic_r(kl_1: torch.Tensor, kl_2: torch.Tensor, eps: float = 1e-8) -> float:
    """r = 1 - tanh(ln((mean(kl_2) + eps) / (mean(kl_1) + eps))), a float in [0, 2].

    kl_i (N,) are the per-sample KL(p(y_i | xi, z_i) || p(y | xi)). r = 1 when the means are
    equal, -> 0 when modality 2 has left much more task information out of xi than modality 1
    (kl_2 >> kl_1), -> 2 in the opposite case. The ratio of means follows appendix B (the printed
    eq. 11 averages per-sample ratios); eps in both terms keeps r = 1 when both KLs are 0.
    """
    m1 = kl_1.detach().float().mean()
    m2 = kl_2.detach().float().mean()
    return float(1.0 - torch.tanh(torch.log((m2 + eps) / (m1 + eps))))


OUTPUT_KINDS = ("svdd", "regression", "multiclass", "multilabel")


def output_kl(y_i: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """KL(p(y_i) || p(y)) per sample (N,), in fp32, for head outputs (N, d) of kind `kind`.

    `multiclass`: softmax outputs, sum_c p_i log(p_i / p). `multilabel`: independent Bernoulli
    outputs (sigmoid), summed over labels. `svdd` and `regression`: outputs taken as
    unit-variance Gaussians, so KL = 1/2 ||y_i - y||^2.
    """
    y_i, y = y_i.float(), y.float()
    if kind in ("svdd", "regression"):
        diff = (y_i - y).reshape(y.shape[0], -1)
        return 0.5 * diff.pow(2).sum(dim=-1)
    if kind == "multiclass":
        logp_i, logp = F.log_softmax(y_i, dim=-1), F.log_softmax(y, dim=-1)
        return (logp_i.exp() * (logp_i - logp)).sum(dim=-1)
    if kind == "multilabel":
        p_i = torch.sigmoid(y_i)
        lp_i, lq_i = F.logsigmoid(y_i), F.logsigmoid(-y_i)
        lp, lq = F.logsigmoid(y), F.logsigmoid(-y)
        return (p_i * (lp_i - lp) + (1 - p_i) * (lq_i - lq)).sum(dim=-1)
    raise InputError(f"output_kl: head kind {kind!r} is not one of {', '.join(OUTPUT_KINDS)}")


class MINE(nn.Module):
    """Statistics network T(x, y) of MINE: MLP on [x, y] -> scalar; `forward` gives (N,).

    Trained by `estimate_mi` on the Donsker-Varadhan bound
    I(X; Y) >= E_P[T] - log E_{P_X x P_Y}[e^T], with the moving-average correction of the
    gradient of the log term (Belghazi et al. 2018, section 3.2).
    """

    def __init__(self, x_dim: int, y_dim: int, *, hidden_dim: int = 128, ema: float = 0.01):
        super().__init__()
        self.ema = ema
        self.net = nn.Sequential(
            nn.Linear(x_dim + y_dim, hidden_dim),
            nn.ELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ELU(),
            nn.Linear(hidden_dim, 1),
        )
        self.register_buffer("log_ma_et", torch.tensor(float("nan")))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=1)).squeeze(-1)

    def dv_bound(self, x: torch.Tensor, y: torch.Tensor, y_marginal: torch.Tensor) -> torch.Tensor:
        """E[T(x, y)] - log mean exp T(x, y_marginal): the DV lower bound in nats (a scalar)."""
        return self(x, y).mean() - _log_mean_exp(self(x, y_marginal))

    def loss(self, x: torch.Tensor, y: torch.Tensor, y_marginal: torch.Tensor) -> torch.Tensor:
        """Training loss whose gradient is -(grad E[T] - grad E[e^T] / MA(E[e^T])) (bias-corrected DV).

        Computed in log space (exp of a difference of logs), so large T cannot overflow.
        """
        log_et = _log_mean_exp(self(x, y_marginal))
        with torch.no_grad():
            if torch.isnan(self.log_ma_et):
                self.log_ma_et = log_et.detach().clone()
            else:
                self.log_ma_et = torch.logaddexp(self.log_ma_et + math.log1p(-self.ema), log_et.detach() + math.log(self.ema))
        return -(self(x, y).mean() - torch.exp(log_et - self.log_ma_et))


def _log_mean_exp(t: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(t, dim=0) - math.log(t.shape[0])


def mine_features(v: np.ndarray | torch.Tensor, *, max_dim: int = 256, seed: int = 0, name: str = "input") -> np.ndarray:
    """MINE's view of an input: rows flattened to float32, PCA-reduced to <= max_dim dims, standardised.

    `estimate_mi` applies it to both arguments; it is idempotent, so computing it once per
    modality and passing the result to several estimates avoids repeating the PCA.
    """
    a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    a = a.reshape(a.shape[0], -1).astype(np.float32)
    if a.shape[0] < 2:
        raise InputError(f"MINE: {name} needs at least 2 samples, got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise InputError(f"MINE: {name} contains NaN or infinite values")
    if a.shape[1] > max_dim:
        from sklearn.decomposition import PCA

        n_comp = min(max_dim, a.shape[0])
        a = PCA(n_components=n_comp, svd_solver="randomized", random_state=seed).fit_transform(a).astype(np.float32)
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def estimate_mi(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    hidden_dim: int = 128,
    max_dim: int = 256,
    device: str | torch.device = "cpu",
    max_steps: int | None = None,
) -> float:
    """MINE estimate of I(X; Y) in nats from aligned rows x (N, ...) and y (N, ...).

    Inputs go through `mine_features`: flattened, reduced by PCA to at most `max_dim` dims (a
    documented choice for images and thousands of genes) and standardised.
    The statistics network trains `steps` Adam steps on mini-batches (marginal pairs: y of an
    independent random batch); the returned value is the DV bound on all N rows against one
    seeded permutation of y. Deterministic for a seed; the global torch RNG is left untouched.
    max_steps: while the bound is <= 0 (an estimator not yet converged: no MI is negative), train
    on in blocks of `steps` up to `max_steps` in all (logged); a positive estimate after
    `steps` is returned as without this option.
    """
    xf = mine_features(x, max_dim=max_dim, seed=seed, name="x")
    yf = xf if y is x else mine_features(y, max_dim=max_dim, seed=seed, name="y")
    if xf.shape[0] != yf.shape[0]:
        raise InputError(f"MINE: x and y must have the same number of rows, got {xf.shape[0]} and {yf.shape[0]}")
    n = xf.shape[0]
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(xf).to(device), torch.from_numpy(yf).to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mine = MINE(xt.shape[1], yt.shape[1], hidden_dim=hidden_dim).to(device)
    opt = adam(mine.parameters(), lr=lr)
    b = min(batch_size, n)
    done, limit = 0, max(steps, max_steps or steps)
    with _one_cpu_thread(torch.device(device)):
        while True:
            for _ in progress(range(steps), desc="MINE"):
                idx = torch.randint(n, (b,), generator=gen).to(device)
                idx_m = torch.randint(n, (b,), generator=gen).to(device)
                opt.zero_grad(set_to_none=True)
                mine.loss(xt[idx], yt[idx], yt[idx_m]).backward()
                opt.step()
            done += steps
            with torch.no_grad():
                perm = torch.randperm(n, generator=gen).to(device)
                value = float(mine.dv_bound(xt, yt, yt[perm]))
            if value > 0 or done + steps > limit:
                return value
            logger.info("MINE: estimate %.4g <= 0 after %d steps; training on (at most %d)", value, done, limit)


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run on one CPU thread: MINE's network is tiny, and on a busy machine extra intra-op
    threads make it many times slower (measured 15x on 2 shared cores); restored afterwards."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def entropy(v: np.ndarray | torch.Tensor, **kwargs) -> float:
    """OMIB's H(v) = MINE(v, v) in nats (Algorithm 2, line 2); options as `estimate_mi`.

    For continuous v the true I(v; v) is infinite, so this value grows with the estimator's
    budget (steps, network size): fix the budget and the seed, and log the estimate.
    """
    return estimate_mi(v, v, **kwargs)


def beta_bounds(H1: float, H2: float, I12: float) -> tuple[float, float]:
    """(M_l, M_u) = (1 / (3 (H1 + H2)), 1 / (3 (H1 + H2 - I12))) for two modalities (Algorithm 2, line 5)."""
    total, joint = H1 + H2, H1 + H2 - I12
    if not (total > 0 and joint > 0):
        raise InputError(f"beta bounds: need H1 + H2 > 0 and H1 + H2 - I12 > 0, got H1={H1:.4g}, H2={H2:.4g}, I12={I12:.4g}; fix beta instead")
    return 1.0 / (3.0 * total), 1.0 / (3.0 * joint)


def beta_bounds_three(H: Sequence[float], I: Sequence[float], *, r: Sequence[float] = (2.0, 2.0)) -> tuple[float, float]:
    """(M_l, M_u) for three modalities, H = (H1, H2, H3), I = (I12, I13, I23).

    M_u = 1 / ((1 + r_1 + r_2)(sum H_i - sum_{i<j} I_ij)) and M_l = 1 / ((1 + r_1 + r_2) sum H_i).
    Eq. 103 is garbled in our copy; with r at its upper limit 2 (the default) the factor is
    the 5 that survives in it, as the 3 = 1 + 2 of the two-modality bounds. sum H - sum I
    is floored at max H_i (the joint entropy's lower bound), so estimates cannot make M_u
    negative or infinite.
    """
    if len(H) != 3 or len(I) != 3 or len(r) != 2:
        raise InputError(f"beta bounds (three modalities): need 3 entropies, 3 pairwise MIs and 2 r values, got {len(H)}, {len(I)}, {len(r)}")
    factor = 1.0 + float(r[0]) + float(r[1])
    total = float(sum(H))
    if not total > 0:
        raise InputError(f"beta bounds (three modalities): need sum H > 0, got {total:.4g}; fix beta instead")
    # sum H - sum I = H(v1, v2, v3) - I(v1; v2; v3) stands for the joint entropy (exactly so for
    # two modalities); estimates can take it to <= 0, below the joint entropy's floor max H_i
    joint = max(total - float(sum(I)), float(max(H)))
    return 1.0 / (factor * total), 1.0 / (factor * joint)


def draw_beta(M_l: float, M_u: float, rng: np.random.Generator) -> float:
    """beta ~ Uniform[M_l, M_u] from `rng` (how to draw is not specified by the paper)."""
    if not 0 < M_l <= M_u:
        raise InputError(f"draw_beta: need 0 < M_l <= M_u, got M_l={M_l:.4g}, M_u={M_u:.4g}")
    return float(rng.uniform(M_l, M_u))
