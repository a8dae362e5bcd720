"""`TissueModel`: what `tl.fit` returns and `tl.score` uses; saved as a model directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from tissue_mib.calibration import neighbourhood_mean
from tissue_mib.errors import InputError
from tissue_mib.pp import GenePanel, PrepConfig
from tissue_mib.train import History, ModelDir, TrainConfig
from tissue_mib.train.device import precision_record


SCORE_RULES = ("centre", "knn")
KNN_K = 10  # the fewest neighbours the `knn` rule averages over
# docs/benchmarks.md, `bench contamination`: chosen on synthetic cohort seed 1 and her2st's inner and weak splits
DEFAULT_KNN_FRACTION = 0.1  # the `knn` rule's share of the reference when neither the call nor the preset sets it
MAX_REFERENCE = 20_000


def knn_neighbours(n_reference: int, fraction: float) -> int:
    """How many nearest training latents the `knn` rule averages over: `fraction` of the
    `n_reference` kept, at least KNN_K, at most all. A cluster of contaminating spots in the
    healthy reference smaller than that cannot make a test spot look typical."""
    return int(min(n_reference, max(KNN_K, round(fraction * n_reference))))


def latent_knn(latent: np.ndarray, reference: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """Mean Euclidean distance of each row of `latent` (M, d) to its `k` nearest rows of `reference` (N, d): (M,) float64."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(reference))).fit(np.asarray(reference, dtype=np.float32))
    return nn.kneighbors(np.asarray(latent, dtype=np.float32))[0].mean(axis=1).astype(np.float64)


def rule_scores(out: dict, rule: str, reference: np.ndarray | None, k: int = KNN_K) -> np.ndarray:
    """(N,) float64 scores of `train.predict`'s output under score rule `rule` (see `TissueModel.scores`)."""
    if rule == "centre":
        return out["score"].astype(np.float64)
    return latent_knn(out["latent"], reference, k=k)


def reference_rows(latent: np.ndarray, *, seed: int) -> np.ndarray:
    """The training latents kept for the `knn` rule: all of them, or MAX_REFERENCE drawn without replacement."""
    if len(latent) <= MAX_REFERENCE:
        return np.asarray(latent, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(len(latent), MAX_REFERENCE, replace=False))
    return np.asarray(latent[rows], dtype=np.float32)


@dataclass
class TissueModel:
    """A trained method with its gene panel, preprocessing, history and calibration scores.

    method: the trained `Method`. panel: the gene panel fixed at training. prep: the
    preprocessing config (patch size in micrometres resolved at training). modalities: what
    the model reads ("genes", "histology"). calibration: (n,) scores of held-out healthy
    spots (split-conformal p-values). holdout: how they were chosen (holdout.json).
    precision: what the training precision resolved to and why (config.yaml's `precision`;
    filled from `train_config` when empty at save). score_rule: `centre` (the method's SVDD
    score) or `knn` (distance to the nearest training spots in the latent space);
    reference_latent: (n, d) training latents for `knn` (reference_latent.npy); knn_k: how
    many of them the rule averages over (`knn_neighbours`; 10 in models saved before it was kept).
    calibration_edges: (2, E) spot graph among the calibration spots (None: unknown, as in
    models saved before it was kept; their scores cannot be averaged over neighbourhoods).
    """

    method: torch.nn.Module
    panel: GenePanel
    prep: PrepConfig
    train_config: TrainConfig
    history: History
    calibration: np.ndarray
    holdout: dict
    modalities: tuple[str, ...]
    path: Path | None = None
    precision: dict = field(default_factory=dict)
    score_rule: str = "centre"
    reference_latent: np.ndarray | None = None
    knn_k: int = KNN_K
    calibration_edges: np.ndarray | None = None

    def __post_init__(self):
        if self.score_rule not in SCORE_RULES:
            raise InputError(f"score rule {self.score_rule!r} unknown; use one of {', '.join(SCORE_RULES)}")
        if self.score_rule == "knn" and (self.reference_latent is None or len(self.reference_latent) < KNN_K):
            raise InputError(f"score rule 'knn' needs at least {KNN_K} reference latents (training spots)")

    def scores(self, out: dict) -> np.ndarray:
        """(N,) anomaly scores from `train.predict`'s output: the method's own score (`centre`:
        the SVDD distance of the fused head) or (`knn`) the mean Euclidean distance of the spot's
        latent to its `knn_k` nearest training spots' latents."""
        return rule_scores(out, self.score_rule, self.reference_latent, self.knn_k)

    def calibration_scores(self, *, hops: int) -> np.ndarray:
        """(n,) calibration scores averaged over `hops`-hop neighbourhoods of their own spot graph,
        as `tl.score` averages the spots it tests."""
        if hops == 0:
            return self.calibration
        if self.calibration_edges is None:
            raise InputError(f"model {self.path or self.name}: saved without its calibration spot graph, so its scores "
                             "cannot be averaged over neighbourhoods; score with smooth=0 or train it again")  # fmt: skip
        n = self.calibration.size
        graph = sp.coo_matrix((np.ones(self.calibration_edges.shape[1]), tuple(self.calibration_edges)), shape=(n, n))
        return neighbourhood_mean(self.calibration, graph, hops=hops)

    @property
    def name(self) -> str:
        """The method's registered name."""
        return self.method.name

    def save(self, path: str | Path) -> Path:
        """Write the model directory (docs/engine.md) atomically; returns its path."""
        md = self._as_modeldir()
        self.path = md.save(path)
        self.precision = md.precision
        return self.path

    @classmethod
    def load(cls, path: str | Path, *, method: str | None = None) -> TissueModel:
        """Read a model directory; InputError naming the file when anything is missing or wrong."""
        md = ModelDir.load(path, method=method)
        try:
            panel = GenePanel.from_dict(md.panel)
            prep = PrepConfig.from_dict(md.prep)
        except InputError as exc:
            raise InputError(f"model directory {path}: {exc}") from exc
        return cls(
            method=md.method, panel=panel, prep=prep, train_config=md.train_config, history=md.history,
            calibration=md.calibration, holdout=md.holdout,
            modalities=tuple(md.meta.get("modalities", ("genes", "histology"))), path=md.path,
            precision=md.precision, score_rule=md.meta.get("score_rule", "centre"), reference_latent=md.reference,
            knn_k=int(md.meta.get("knn_k", KNN_K)),
            calibration_edges=md.calibration_edges,
        )  # fmt: skip

    def summary(self) -> str:
        """A few lines: method, modalities, panel, epochs, final losses, held-out data, β bounds."""
        lines = [
            f"method {self.name} on {', '.join(self.modalities)}; gene panel {len(self.panel)} genes "
            f"(hash {self.panel.hash[:12]})",
        ]
        recs = self.history.records
        if recs:
            last = recs[-1]
            secs = sum(r["time_s"] for r in recs)
            lines.append(f"{len(recs)} epochs in {secs:.1f} s ({secs / len(recs):.2f} s/epoch)")
            terms = {k: v for k, v in last.items() if k not in ("epoch", "phase", "phase_epoch", "lr", "time_s")}
            lines.append("final: " + ", ".join(f"{k} {v:.4g}" for k, v in terms.items() if isinstance(v, float)))
        if self.score_rule == "knn":
            lines.append(f"score: mean latent distance to the {self.knn_k} nearest of {len(self.reference_latent):,} "
                         "training spots")  # fmt: skip
        p = self.precision
        if p.get("resolved"):
            lines.append(f"precision {p.get('requested')} -> {p['resolved']} on {p.get('device')} ({p.get('reason')})")
        h = self.holdout
        lines.append(f"held out ({h.get('mode')}): {h.get('n_holdout')} spots; {h.get('n_buffer', 0)} buffer; "
                     f"{self.calibration.size} calibration scores")  # fmt: skip
        return "\n".join(lines)

    def _as_modeldir(self) -> ModelDir:
        return ModelDir(
            method=self.method, panel=self.panel.to_dict(), train_config=self.train_config, prep=self.prep.to_dict(),
            history=self.history, calibration=self.calibration, holdout=self.holdout,
            meta={"modalities": list(self.modalities), "score_rule": self.score_rule, "knn_k": self.knn_k},
            reference=self.reference_latent,
            calibration_edges=self.calibration_edges,
            precision=self.precision or precision_record(self.train_config.precision, self.train_config.device),
        )  # fmt: skip
