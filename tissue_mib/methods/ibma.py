"""IBMA (papers 001, 003; Theorem 3.1, appendix A eqs. 3, 4, 11, Algorithms 1, 3, 4).

Parts: encoders E_j -> Z^(j); a transformer block over the Z^(j) as tokens -> Z (256-d);
heads h_1, h_2 on Z^(1), Z^(2) and the fused head h on Z.
Loss = T_1 + T_2 + T_fuse + eta (IBB_1 + IBB_2 + IBB_fuse), where T is each head's task
loss (cross-entropy in the paper; under Deep SVDD the head's squared distance to the
shared centre), IBB_j pairs modality j with the other one (`ibb_modality`) and IBB_fuse
is eq. 11 (`ibb_fuse`). Prototypes F (class means of Z^(j), Z) are refreshed at the start
of each epoch; Q (Algorithms 3, 4) starts at 1/C and is refreshed each epoch from then on;
the input class means C and class frequencies p_y are computed once in `setup`.

Classes: the labels `y` for multiclass. Otherwise (one-class SVDD, multi-label,
regression) pseudo-classes: k-means (k = `n_clusters`, seeded) on ONE shared labelling
of the training rows, clustering the standardised concatenation of each modality's PCA
(at most `pca_dim` components of the flattened raw input: genes, patch pixels).
Anomaly score = the fused head's distance; per-modality heads give `score_<modality>`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from torch import Tensor, nn

from tissue_mib.errors import InputError
from tissue_mib.methods.base import Method, register_method
from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.objectives.ibma import class_frequencies, class_means, ibb_fuse, ibb_modality, update_Q
from tissue_mib.settings import progress

logger = logging.getLogger(__name__)


@register_method("ibma")
class IBMA(Method):
    """Information-bottleneck multimodal alignment with prototypes (two modalities).

    Options: `eta` weight of the IB bounds (0.5), `n_clusters` pseudo-classes (8),
    `pca_dim` PCA components per modality for the clustering (16), `heads_attn`
    transformer heads (8), `norm` LayerNorm placement in the block ("pre", "post", "none";
    docs/methods.md, "Deep SVDD and normalisation"), `seed`.
    """

    n_modalities = (2,)

    def __init__(
        self,
        *,
        modalities: Mapping,
        task: Mapping,
        eta: float = 0.5,
        n_clusters: int = 8,
        pca_dim: int = 16,
        heads_attn: int = 8,
        norm: str = "pre",
        seed: int = 0,
        latent_dim: int = 256,
    ):
        params = dict(eta=eta, n_clusters=n_clusters, pca_dim=pca_dim, heads_attn=heads_attn, norm=norm, seed=seed,
                      latent_dim=latent_dim)
        super().__init__(modalities=modalities, task=task, params=params, latent_dim=latent_dim)
        self.eta = float(eta)
        dims = [self.encoders[m].out_dim for m in self.used_modalities]
        self.fusion = FUSIONS.build("transformer", in_dims=dims, out_dim=latent_dim, n_heads=heads_attn, norm=norm,
                                     svdd=self.is_svdd)
        self.modality_heads = nn.ModuleDict({m: self.make_head(d) for m, d in zip(self.used_modalities, dims)})
        self.head = self.make_head(self.fusion.out_dim)
        self.n_classes = int(task["n_classes"]) if task["kind"] == "multiclass" else int(n_clusters)
        self._labeller: _PseudoClasses | None = None
        # training state, not weights: C_<m>, p_y (setup); F_<m>, F_fused, Q_<m>, Q_fused (each epoch)
        self._stats: dict[str, Tensor] = {}

    # ----------------------------------------------------------------- setup
    def labels(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Class of each target row (B,) long: `y` for multiclass, else the pseudo-class."""
        if self.task["kind"] == "multiclass":
            return batch["y"].long()
        if self._labeller is None:
            raise InputError("method 'ibma': pseudo-classes are not fitted; call setup(train_loader) first")
        return self._labeller(
            {m: self.target_inputs(batch, m).cpu().numpy() for m in self.used_modalities}
        ).to(self.device)

    def setup(self, data_loader: Iterable[Mapping[str, Tensor]]) -> None:
        """Pseudo-classes (unless multiclass), input class means C_j, class frequencies p_y,
        the SVDD centre."""
        raw = {m: [] for m in self.used_modalities}
        ys, rows = [], []
        for batch in progress(data_loader, desc="IBMA: inputs"):
            for m in self.used_modalities:
                raw[m].append(self.target_inputs(batch, m).cpu())
            rows.append(batch["index"].cpu())
            if self.task["kind"] == "multiclass":
                ys.append(batch["y"].long().cpu())
        order = torch.argsort(torch.cat(rows))  # row order: the labelling does not depend on shuffling
        raw = {m: torch.cat(v)[order] for m, v in raw.items()}
        if self.task["kind"] == "multiclass":
            labels = torch.cat(ys)[order]
        else:
            self._labeller = _PseudoClasses.fit(
                {m: x.numpy() for m, x in raw.items()},
                k=self.n_classes, pca_dim=self.params["pca_dim"], seed=self.params["seed"],
            )  # fmt: skip
            labels = self._labeller.labels
        dev = self.device
        self._stats = {"p_y": class_frequencies(labels, self.n_classes).to(dev)}
        for m in self.used_modalities:
            self._stats[f"C_{m}"] = class_means(raw[m], labels, self.n_classes).to(dev)
        logger.info("IBMA: %d classes, sizes %s", self.n_classes, torch.bincount(labels, minlength=self.n_classes).tolist())
        super().setup(data_loader)

    @torch.no_grad()
    def on_epoch_start(self, data_loader: Iterable[Mapping[str, Tensor]], epoch: int) -> None:
        """Refresh the prototypes F (class means of the representations) and, after the
        first epoch, Q (Algorithms 3, 4); Q = 1/C in the first epoch."""
        was_training = self.training
        self.eval()
        reps = {key: [] for key in ("fused", *self.used_modalities)}
        labels = []
        for batch in progress(data_loader, desc="IBMA: prototypes"):
            batch = self.to_device(batch)
            z, fused = self._represent(batch)
            for m in self.used_modalities:
                reps[m].append(z[m])
            reps["fused"].append(fused)
            labels.append(self.labels(batch))
        self.train(was_training)
        labels = torch.cat(labels)
        C = self.n_classes
        for key, parts in reps.items():
            Z = torch.cat(parts)
            F = class_means(Z, labels, C)
            self._stats[f"F_{key}"] = F
            self._stats[f"Q_{key}"] = (
                update_Q(Z, labels, F, C) if epoch > 0 else torch.full((C, C), 1.0 / C, device=Z.device)
            )

    # --------------------------------------------------------------- forward
    def _represent(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        z = self.encode(batch)
        return z, self.fusion([z[m] for m in self.used_modalities])

    def inference(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        z, fused = self._represent(batch)
        preds = {"": self.head(fused)}
        preds.update({m: self.modality_heads[m](z[m]) for m in self.used_modalities})
        return preds, fused

    def training_loss(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, Tensor]:
        if "F_fused" not in self._stats:
            raise InputError("method 'ibma': prototypes are not set; call on_epoch_start(loader, epoch) first")
        z, fused = self._represent(batch)
        terms = {"task": self.head_loss("", self.head(fused), batch)}
        terms.update({f"task_{m}": self.head_loss(m, self.modality_heads[m](z[m]), batch) for m in self.used_modalities})
        y = self.labels(batch)
        x = {m: self.target_inputs(batch, m) for m in self.used_modalities}
        s = self._stats
        (m1, m2) = self.used_modalities
        ibb = {
            f"ibb_{m}": ibb_modality(z[m], x[m], z[o], y, s[f"F_{m}"], s[f"C_{m}"], s[f"F_{o}"], s[f"Q_{m}"], s["p_y"])
            for m, o in ((m1, m2), (m2, m1))
        }
        ibb["ibb_fuse"] = ibb_fuse(fused, x[m1], x[m2], y, s["F_fused"], s[f"C_{m1}"], s[f"C_{m2}"], s["Q_fused"], s["p_y"])
        loss = sum(terms.values()) + self.eta * sum(ibb.values())
        return {"loss": loss, **{k: v.detach() for k, v in {**terms, **ibb}.items()}}


class _PseudoClasses:
    """One shared labelling of the training rows: k-means on the standardised concatenation
    of each modality's PCA; new rows get the nearest centroid."""

    def __init__(self, pcas: dict[str, PCA], mean: np.ndarray, scale: np.ndarray, kmeans: KMeans, labels: Tensor):
        self.pcas, self.mean, self.scale, self.kmeans, self.labels = pcas, mean, scale, kmeans, labels

    @classmethod
    def fit(cls, raw: Mapping[str, np.ndarray], *, k: int, pca_dim: int, seed: int) -> _PseudoClasses:
        n = len(next(iter(raw.values())))
        if n < k:
            raise InputError(f"method 'ibma': {n} training rows are fewer than n_clusters = {k}")
        pcas = {m: PCA(n_components=min(pca_dim, n, x.shape[1]), random_state=seed).fit(x) for m, x in raw.items()}
        feats = np.concatenate([pcas[m].transform(x) for m, x in raw.items()], axis=1)
        mean, scale = feats.mean(0), feats.std(0) + 1e-8
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit((feats - mean) / scale)
        return cls(pcas, mean, scale, kmeans, torch.as_tensor(kmeans.labels_, dtype=torch.long))

    def __call__(self, raw: Mapping[str, np.ndarray]) -> Tensor:
        feats = np.concatenate([self.pcas[m].transform(x) for m, x in raw.items()], axis=1)
        return torch.as_tensor(self.kmeans.predict((feats - self.mean) / self.scale), dtype=torch.long)
