"""OMIB (paper 000, section 5, appendices B, D, H, L; DESIGN.md "OMIB").

Parts: encoders Enc_i -> z_i; task-relevance branches Dec_i([z_i, ·]) (TRB heads);
VAE_i -> (mu_i, sigma_i), zeta_i = mu_i + sigma_i eps; CAN (cross-attention over the
zeta_i as tokens) -> xi (size k); dDec(xi) -> y_hat (the OMF head).

Warm-up (Algorithm 1): L = Σ_i L_TRB_i with y_hat_i = Dec_i([z_i, e_i]), e_i ~ N(0, I).
Main (Algorithm 2): L = L_OMF + Σ_i L_TRB_i with y_hat_i = Dec_i([z_i, xi]) and
L_OMF = task(y_hat) + beta (KL_1 + r_1 KL_2 (+ r_2 KL_3)), r_j = dynamic_r measured
against modality 1 each step without gradient; beta drawn uniformly in [M_l, M_u] (seeded)
from MINE estimates on the raw inputs, or fixed by the user.
Inference: classification and regression use zeta_i = mu_i (the usual VIB prediction;
averaging over noise draws instead cost 0.31 accuracy on the emotion stand-in). Under Deep
SVDD zeta_i = mu_i + sigma_i eps_i as in training, with S fixed draws eps (a seeded buffer,
the same for every row, so a row's score does not depend on its batch; zeta = mu alone
shrinks the input of the bias-free heads and inverts the score), and the anomaly score
is the per-spot value of the task terms of L, averaged over the draws:
||dDec(xi_s) - c||^2 + sum_i ||Dec_i([z_i, xi_s]) - c||^2 (our choice; see docs/methods.md,
"OMIB under Deep SVDD": with one class I(xi; y) = 0, so the bottleneck drives xi, and the
dDec distance alone, towards carrying nothing about the spot). The latent is mean_s xi_s.
score_<i> = ||Dec_i([z_i, xi_bar]) - c||^2 with xi_bar the running mean of xi over
main-phase training batches (0, the mean of e_i, until the main phase starts): modality i
alone, on the input the TRB was trained with.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from tissue_mib.errors import InputError
from tissue_mib.methods.base import Method, register_method
from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.objectives.omib import beta_bounds, beta_bounds_three, draw_beta, dynamic_r, entropy, estimate_mi, output_kl
from tissue_mib.nn.objectives.vib import GaussianVAE, gaussian_kl, reparameterise
from tissue_mib.settings import progress
from tissue_mib.train import distributed

logger = logging.getLogger(__name__)

#: an entropy estimate H(v) = MINE(v, v) <= 0 has not converged (no entropy of a continuous
#: input is <= 0 here): MINE trains on in blocks of mine_steps up to this many times the budget
MINE_EXTEND = 4
XI_MOMENTUM = 0.1  # of the running mean of xi (as BatchNorm's running statistics)


@register_method("omib")
class OMIB(Method):
    """Optimal multimodal information bottleneck; phases ("warmup", "main").

    Options: `k` size of zeta, xi, e (256); `beta` fixed beta (None: drawn in [M_l, M_u]);
    `mine_steps`, `mine_batch`, `mine_lr`, `mine_rows` (the fixed MINE budget: optimiser
    steps, batch size, learning rate, rows subsampled; an entropy estimate <= 0 trains on up
    to 4 x `mine_steps`, see `MINE_EXTEND`), `pca_dim` (raw inputs reduced to at
    most this many dims before MINE), `heads_attn` (CAN heads), `draws` (noise draws S of
    the SVDD score), `seed`.
    """

    phases = ("warmup", "main")

    def __init__(
        self,
        *,
        modalities: Mapping,
        task: Mapping,
        k: int = 256,
        beta: float | None = None,
        mine_steps: int = 2000,
        mine_batch: int = 256,
        mine_lr: float = 1e-3,
        mine_rows: int = 4096,
        pca_dim: int = 256,
        heads_attn: int = 4,
        draws: int = 16,
        seed: int = 0,
        latent_dim: int = 256,
    ):
        params = dict(
            k=k, beta=beta, mine_steps=mine_steps, mine_batch=mine_batch, mine_lr=mine_lr, mine_rows=mine_rows,
            pca_dim=pca_dim, heads_attn=heads_attn, draws=draws, seed=seed, latent_dim=latent_dim,
        )  # fmt: skip
        super().__init__(modalities=modalities, task=task, params=params, latent_dim=latent_dim)
        if beta is not None and not (beta >= 0 and math.isfinite(beta)):
            raise InputError(f"method 'omib': 'beta' must be a finite number >= 0, got {beta}")
        if int(draws) < 1:
            raise InputError(f"method 'omib': 'draws' must be >= 1, got {draws}")
        self.k = int(k)
        dims = {m: self.encoders[m].out_dim for m in self.used_modalities}
        self.modality_heads = nn.ModuleDict({m: self.make_head(d + self.k) for m, d in dims.items()})  # Dec_i
        self.vaes = nn.ModuleDict({m: GaussianVAE(in_dim=d, latent_dim=self.k, svdd=self.is_svdd) for m, d in dims.items()})
        self.can = FUSIONS.build(
            "cross_attention", in_dims=[self.k] * len(dims), out_dim=self.k, n_heads=heads_attn, svdd=self.is_svdd
        )
        self.head = self.make_head(self.k)  # dDec
        # beta and its bounds: saved with the weights (NaN until setup)
        for name in ("beta", "M_l", "M_u"):
            self.register_buffer(name, torch.tensor(float("nan")))
        # running mean of xi over main-phase training batches: the TRBs' second input when
        # a modality is scored alone (0, the mean of e, before the main phase)
        self.register_buffer("xi_mean", torch.zeros(self.k))
        # the S fixed noise draws of inference, (S, modalities, k), seeded
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("draws", torch.randn(int(draws), len(dims), self.k, generator=g))
        self.r = torch.full((len(dims) - 1,), float("nan"))  # last r_j, for the engine's history
        self._r_sum, self._r_count = torch.zeros(len(dims) - 1), 0

    # ----------------------------------------------------------------- setup
    def setup(self, data_loader: Iterable[Mapping[str, Tensor]]) -> None:
        """MINE -> (M_l, M_u) -> beta (Algorithm 2, lines 1-5), then the SVDD centre."""
        if not torch.isfinite(self.beta):
            self._set_beta(data_loader)
        super().setup(data_loader)

    def _set_beta(self, data_loader: Iterable[Mapping[str, Tensor]]) -> None:
        raw = {m: [] for m in self.used_modalities}
        rows = 0
        for batch in progress(data_loader, desc="OMIB: raw inputs for MINE"):
            for m in self.used_modalities:
                raw[m].append(self.target_inputs(batch, m).cpu())
            rows += len(raw[self.used_modalities[0]][-1])
            if rows >= self.params["mine_rows"]:
                break
        v = [torch.cat(raw[m])[: self.params["mine_rows"]].numpy() for m in self.used_modalities]
        budget = dict(
            steps=self.params["mine_steps"], batch_size=self.params["mine_batch"], lr=self.params["mine_lr"],
            seed=self.params["seed"], max_dim=self.params["pca_dim"],
        )  # fmt: skip
        H = [entropy(x, **budget, max_steps=MINE_EXTEND * budget["steps"]) for x in v]
        for m, h in zip(self.used_modalities, H):
            if not h > 0:
                raise InputError(
                    f"method 'omib': the MINE entropy estimate of modality {m!r} is {h:.4g} <= 0 after "
                    f"{MINE_EXTEND} x mine_steps={self.params['mine_steps']} steps (budget too small for these "
                    "inputs); raise 'mine_steps' or fix 'beta'"
                )
        pairs = [(i, j) for i in range(len(v)) for j in range(i + 1, len(v))]
        # 0 <= I(v_i; v_j) <= min(H_i, H_j): estimates outside (small budget, weak or strong
        # dependence) are estimator error and are clipped, which keeps H_1 + H_2 - I_12 >= max H_i
        I = {(i, j): min(max(estimate_mi(v[i], v[j], **budget), 0.0), H[i], H[j]) for i, j in pairs}
        if len(v) == 2:
            M_l, M_u = beta_bounds(H[0], H[1], I[(0, 1)])
        else:
            M_l, M_u = beta_bounds_three(H, [I[p] for p in pairs])
        beta = self.params["beta"]
        if beta is None:
            beta = draw_beta(M_l, M_u, np.random.default_rng(self.params["seed"]))
        elif not M_l <= beta <= M_u:
            logger.warning("OMIB: the fixed beta %.4g lies outside [M_l, M_u] = [%.4g, %.4g]", beta, M_l, M_u)
        self.beta.fill_(float(beta))
        self.M_l.fill_(float(M_l))
        self.M_u.fill_(float(M_u))
        logger.info(
            "OMIB: MINE H = %s, I = %s nats -> M_l = %.4g, M_u = %.4g, beta = %.4g",
            [round(h, 3) for h in H], {f"{i}{j}": round(x, 3) for (i, j), x in I.items()}, M_l, M_u, beta,
        )  # fmt: skip

    def on_epoch_start(self, data_loader: Iterable[Mapping[str, Tensor]], epoch: int) -> None:
        """Log beta, M_l, M_u and the mean r of the epoch that ended."""
        if self._r_count:
            logger.info(
                "OMIB epoch %d: beta = %.4g, M_l = %.4g, M_u = %.4g, mean r = %s",
                epoch - 1, float(self.beta), float(self.M_l), float(self.M_u),
                [round(float(x), 4) for x in self._r_sum / self._r_count],
            )  # fmt: skip
        self._r_sum, self._r_count = torch.zeros_like(self._r_sum), 0

    # --------------------------------------------------------------- forward
    def _trb(self, m: str, z: Tensor, e: Tensor) -> Tensor:
        """Dec_m([z_m, e]): the TRB head of modality m."""
        return self.modality_heads[m](torch.cat([z, e], dim=-1))

    def _posteriors(self, z: Mapping[str, Tensor]) -> tuple[list[tuple[Tensor, Tensor]], dict[str, Tensor]]:
        """VAE_i -> (mu_i, sigma_i) per modality; also the KL_i (mean over batch)."""
        out, kls = [], {}
        for m in self.used_modalities:
            mu, std = self.vaes[m](z[m])
            out.append((mu, std))
            kls[m] = gaussian_kl(mu.float(), std.float()).mean()
        return out, kls

    def _xi(self, post: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Training: CAN over zeta_i = mu_i + sigma_i eps_i with random eps -> xi (B, k)."""
        return self.can([reparameterise(mu, std) for mu, std in post])

    def _xi_eval(self, post: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Evaluation: xi (S, B, k) for the S fixed draws under SVDD; (1, B, k) at zeta = mu
        for other tasks."""
        if not self.is_svdd:
            return self.can([mu for mu, _ in post])[None]
        eps = self.draws.to(post[0][0].dtype)
        return torch.stack([self.can([mu + std * e[i] for i, (mu, std) in enumerate(post)]) for e in eps])

    def inference(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """Training mode: one random draw (the SVDD centre and BatchNorm passes). Eval: under
        SVDD the mean fused output over the S fixed draws, other tasks zeta = mu."""
        z = self.encode(batch)
        post, _ = self._posteriors(z)
        if self.training:
            xi = self._xi(post)
            y_hat = self.head(xi)
        else:
            xis = self._xi_eval(post)
            xi, y_hat = xis.mean(0), self.head(xis).mean(0)
        preds = {"": y_hat}
        for m in self.used_modalities:
            preds[m] = self._trb(m, z[m], self.xi_mean.expand(len(z[m]), -1))
        return preds, xi

    @torch.no_grad()
    def predict(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Under SVDD: `score` (B,) = mean over the S draws of the per-spot task terms of L,
        ||dDec(xi_s) - c||^2 + sum_i ||Dec_i([z_i, xi_s]) - c||^2 (see the module docstring);
        `score_<i>` the TRB of modality i alone; `latent` the standardised encoder outputs z_i
        side by side (B, sum of d_i), as concat-svdd's: the space of the `knn` score (on the
        synthetic cohort it ranks anomalies better than the fused xi, clean and with an impure
        reference; docs/benchmarks.md). Other tasks: as `Method.predict` (zeta = mu)."""
        if not self.is_svdd or self.training:
            return super().predict(batch)
        z = self.encode(batch)
        post, _ = self._posteriors(z)
        xis = self._xi_eval(post)  # (S, B, k)
        score = self.head.score(self.head(xis).float())
        for m in self.used_modalities:
            zs = z[m].expand(len(xis), -1, -1)
            score = score + self.modality_heads[m].score(self._trb(m, zs, xis).float())
        out = {"score": score.mean(0)}
        for m in self.used_modalities:
            trb = self._trb(m, z[m], self.xi_mean.expand(len(z[m]), -1))
            out[f"score_{m}"] = self.modality_heads[m].score(trb.float())
        out["latent"] = torch.cat([z[m] for m in self.used_modalities], dim=1).float()
        return out

    def training_loss(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, Tensor]:
        if phase not in self.phases:
            raise InputError(f"method 'omib' has phases {self.phases}, not {phase!r}")
        z = self.encode(batch)
        if phase == "warmup":  # e_i ~ N(0, I) in training, its mean 0 in eval (val loss)
            noise = torch.randn if self.training else torch.zeros
            terms = {
                f"trb_{m}": self.head_loss(m, self._trb(m, z[m], noise(len(z[m]), self.k, device=z[m].device)), batch)
                for m in self.used_modalities
            }
            return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}
        post, kls = self._posteriors(z)
        if self.training:
            xi = self._xi(post)
            with torch.no_grad():
                self.xi_mean.lerp_(distributed.global_mean(xi.detach().float()), XI_MOMENTUM)
            y_hat = self.head(xi)
            task = self.head_loss("", y_hat, batch)
        else:  # val loss on the inputs of scoring / prediction
            xis = self._xi_eval(post)
            y_hats = [self.head(x) for x in xis]
            xi, y_hat = xis[0], y_hats[0]
            task = torch.stack([self.head_loss("", y, batch) for y in y_hats]).mean()
        y_mod = {m: self._trb(m, z[m], xi) for m in self.used_modalities}
        r = self._dynamic_r(y_mod, y_hat)
        first, *rest = self.used_modalities
        kl = kls[first] + sum(r_j * kls[m] for r_j, m in zip(r.tolist(), rest))
        omf = task + self.beta * kl
        trbs = {f"trb_{m}": self.head_loss(m, y_mod[m], batch) for m in self.used_modalities}
        loss = omf + sum(trbs.values())
        out = {"loss": loss, "task": task.detach(), **{k: v.detach() for k, v in trbs.items()}}
        out.update({f"kl_{m}": kls[m].detach() for m in self.used_modalities})
        out.update({"beta": self.beta.clone(), "M_l": self.M_l.clone(), "M_u": self.M_u.clone()})
        out.update({("r" if len(r) == 1 else f"r_{j + 1}"): r[j].clone() for j in range(len(r))})
        return out

    @torch.no_grad()
    def _dynamic_r(self, y_mod: Mapping[str, Tensor], y_hat: Tensor) -> Tensor:
        """r_j = 1 - tanh(ln(mean KL(y_{j+1} || y) / mean KL(y_1 || y))), j = 1.. (no gradient)."""
        kind = self.task["kind"]
        first, *rest = self.used_modalities
        # in training under torchrun, the means over the global batch (train.distributed)
        mean = distributed.global_mean if self.training else (lambda kl: kl.mean(0))
        kl_1 = mean(output_kl(y_mod[first].float(), y_hat.float(), kind))
        kls = [mean(output_kl(y_mod[m].float(), y_hat.float(), kind)) for m in rest]
        r = torch.tensor([dynamic_r(kl_1, kl_j) for kl_j in kls])
        if self.training:  # the val loss (eval mode) does not count towards the epoch's r
            self.r = r
            self._r_sum += r
            self._r_count += 1
        return r
