"""Baseline `single`: one modality alone, its encoder and one task head.

Loss = task(head(z_m)). Aliases under Deep SVDD: `gene-svdd` (genes) and `histo-svdd`
(histology). Other modalities in `modalities` are kept in the config but not encoded.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from tissue_mib.errors import InputError
from tissue_mib.methods.base import Method, register_method


@register_method("single")
class Single(Method):
    """Encoder of `modality` -> task head; latent = z_m (B, d). `modality` defaults to the
    only modality given (or the alias's own)."""

    n_modalities = (1,)
    default_modality: str | None = None

    def __init__(self, *, modalities: Mapping, task: Mapping, modality: str | None = None, latent_dim: int = 256):
        modality = self._pick(modalities, modality)
        super().__init__(
            modalities=modalities,
            task=task,
            params={"modality": modality, "latent_dim": latent_dim},
            used=(modality,),
            latent_dim=latent_dim,
        )
        self.modality = modality
        self.head = self.make_head(self.encoders[modality].out_dim)

    def _pick(self, modalities: Mapping, modality: str | None) -> str:
        default = self.default_modality
        if default is not None and modality not in (None, default):
            raise InputError(f"method {self.name!r} uses modality {default!r}, not {modality!r} ('modality')")
        modality = modality or default
        if modality is None:
            if len(modalities) != 1:
                raise InputError(f"method {self.name!r}: name the modality to use with 'modality' (one of {', '.join(modalities)})")
            modality = next(iter(modalities))
        if modality not in modalities:
            raise InputError(f"method {self.name!r}: modality {modality!r} is not in 'modalities' ({', '.join(modalities)})")
        return modality

    def inference(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        z = self.encode(batch)[self.modality]
        return {"": self.head(z)}, z

    def training_loss(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, Tensor]:
        preds, _ = self.inference(batch)
        task = self.head_loss("", preds[""], batch)
        return {"loss": task, "task": task.detach()}

    def predict(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """As `Method.predict`; under SVDD `score_<modality>` equals `score`."""
        out = super().predict(batch)
        if self.is_svdd:
            out[f"score_{self.modality}"] = out["score"]
        return out


@register_method("gene-svdd")
class GeneSVDD(Single):
    """Genes alone under Deep SVDD."""

    tasks = ("svdd",)
    default_modality = "genes"


@register_method("histo-svdd")
class HistoSVDD(Single):
    """Histology alone under Deep SVDD."""

    tasks = ("svdd",)
    default_modality = "histology"
