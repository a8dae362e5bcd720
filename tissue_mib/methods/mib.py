"""The MIB family (paper 002, eqs. 11-23; DESIGN.md "MIB"), shared by e_mib, l_mib, c_mib.

Parts: encoders E_m; per-modality VIB_m and decoders D_m (L-MIB, C-MIB); fusion
(concatenation by default); a fused VIB (E-MIB, C-MIB); the fused task head D.
Each VIB is the authors' block (Linear(d->1024)+ReLU, mu and std heads, std =
softplus(x - 5)); KL = `mib_kl`, averaged over batch AND latent dims, weighted by beta
(1e-3). z = mu + std * eps in training, z = mu at inference.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from tissue_mib.methods.base import Method
from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.objectives.vib import VIB, mib_kl, reparameterise


class MIB(Method):
    """Base of E-/L-/C-MIB; subclasses set `modality_ib` (VIB + D_m per modality) and
    `fused_ib` (a VIB on the fused representation)."""

    modality_ib: bool = False
    fused_ib: bool = False

    def __init__(self, *, modalities: Mapping, task: Mapping, beta: float = 1e-3, latent_dim: int = 256):
        super().__init__(
            modalities=modalities, task=task, params={"beta": beta, "latent_dim": latent_dim}, latent_dim=latent_dim
        )
        self.beta = float(beta)
        dims = {m: self.encoders[m].out_dim for m in self.used_modalities}
        if self.modality_ib:
            self.vibs = nn.ModuleDict({m: VIB(dim=d, svdd=self.is_svdd) for m, d in dims.items()})
            self.modality_heads = nn.ModuleDict({m: self.make_head(d) for m, d in dims.items()})
        self.fusion = FUSIONS.build("concat", in_dims=list(dims.values()))
        if self.fused_ib:
            self.fused_vib = VIB(dim=self.fusion.out_dim, svdd=self.is_svdd)
        self.head = self.make_head(self.fusion.out_dim)

    def _forward(self, batch: Mapping[str, Tensor], *, sample: bool):
        """Head outputs by key, fused latent and the KL terms by name."""
        z = self.encode(batch)
        preds, kls = {}, {}
        if self.modality_ib:
            for m in self.used_modalities:
                mu, std = self.vibs[m](z[m])
                z[m] = reparameterise(mu, std, sample=sample)
                kls[f"kl_{m}"] = mib_kl(mu, std)
                preds[m] = self.modality_heads[m](z[m])
        fused = self.fusion([z[m] for m in self.used_modalities])
        if self.fused_ib:
            mu, std = self.fused_vib(fused)
            fused = reparameterise(mu, std, sample=sample)
            kls["kl_fused"] = mib_kl(mu, std)
        preds[""] = self.head(fused)
        return preds, fused, kls

    def inference(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        preds, fused, _ = self._forward(batch, sample=False)
        return preds, fused

    def training_loss(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, Tensor]:
        """task(D(z)) [+ beta KL_fused] [+ Σ_m task(D_m(z_m)) + beta KL_m]."""
        preds, _, kls = self._forward(batch, sample=self.training)
        terms = {"task": self.head_loss("", preds[""], batch)}
        for m in self.used_modalities:
            if m in preds:
                terms[f"task_{m}"] = self.head_loss(m, preds[m], batch)
        loss = sum(terms.values()) + self.beta * sum(kls.values(), torch.zeros((), device=terms["task"].device))
        return {"loss": loss, **{k: v.detach() for k, v in {**terms, **kls}.items()}}
