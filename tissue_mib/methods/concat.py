"""Baseline `concat`: each modality's encoder, concatenation, one task head.

Parts: encoders E_m, fusion = concatenation, head. Loss = task(head([z_1 ⊕ z_2 (⊕ z_3)])).
`concat-svdd` is the same model registered with the Deep SVDD task only.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from tissue_mib.methods.base import Method, register_method
from tissue_mib.nn.fusion import FUSIONS


@register_method("concat")
class Concat(Method):
    """Encoders -> concatenation -> task head; latent = the concatenation (B, Σ d_m)."""

    def __init__(self, *, modalities: Mapping, task: Mapping, latent_dim: int = 256):
        super().__init__(modalities=modalities, task=task, params={"latent_dim": latent_dim}, latent_dim=latent_dim)
        self.fusion = FUSIONS.build("concat", in_dims=[self.encoders[m].out_dim for m in self.used_modalities])
        self.head = self.make_head(self.fusion.out_dim)

    def inference(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        z = self.encode(batch)
        fused = self.fusion([z[m] for m in self.used_modalities])
        return {"": self.head(fused)}, fused

    def training_loss(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, Tensor]:
        preds, _ = self.inference(batch)
        task = self.head_loss("", preds[""], batch)
        return {"loss": task, "task": task.detach()}


@register_method("concat-svdd")
class ConcatSVDD(Concat):
    """`concat` under Deep SVDD (the baseline every table compares against)."""

    tasks = ("svdd",)
