"""The `Method` base class: encoders per modality, task heads, the shared SVDD centre.

A method is an `nn.Module` that takes batches (dicts of tensors, docs/dev/architecture.md
section 3) and never sees AnnData. Subclasses name their parts in `__init__`, write
`training_loss(batch, phase)` and `inference(batch)`; this class turns `inference` into
`predict`'s outputs and sets the one SVDD centre shared by all heads of a model.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS
from tissue_mib.nn.heads import HEADS
from tissue_mib.nn.objectives.svdd import init_center
from tissue_mib.nn.registry import Registry
from tissue_mib.settings import progress

logger = logging.getLogger(__name__)

TASKS = ("svdd", "multiclass", "multilabel", "regression")
GRAPH_ENCODERS = ("gcn",)

METHODS = Registry("method")


def register_method(name: str):
    """Class decorator: register a Method subclass under `name` and record the name on it."""

    def decorate(cls):
        cls.name = name
        return METHODS.register(name)(cls)

    return decorate


def build_method(
    name: str, *, modalities: Mapping[str, Mapping], task: Mapping, order: Sequence[str] | None = None, **params
) -> Method:
    """Build the registered method `name`; `build_method(**m.config())` rebuilds `m`.

    `modalities` maps a modality name to its encoder spec, e.g.
    ``{"genes": {"encoder": "gcn", "in_dim": 3000}, "histology": {"encoder": "small-cnn"}}``;
    its order is the modality order (modality 1 first) unless `order` lists the names (a
    config stores it, since YAML writers may sort keys). `task` is ``{"kind": "svdd"}``,
    ``{"kind": "multiclass", "n_classes": 6}`` etc.
    """
    if order is not None:
        if sorted(order) != sorted(modalities):
            raise InputError(f"method {name!r}: 'order' {list(order)} does not list the modalities {list(modalities)}")
        modalities = {m: modalities[m] for m in order}
    return METHODS.build(name, modalities=modalities, task=task, **params)


class Method(nn.Module):
    """Base of every method (interface: docs/dev/architecture.md section 5).

    Subclasses set `tasks` (the task kinds they support) and `n_modalities` (allowed
    counts), build their parts after `super().__init__` with `self.encoders` ready, and
    implement `training_loss` and `inference`.
    """

    name: str = ""
    phases: tuple[str, ...] = ("main",)
    tasks: tuple[str, ...] = TASKS
    n_modalities: tuple[int, ...] = (2, 3)

    def __init__(
        self,
        *,
        modalities: Mapping[str, Mapping],
        task: Mapping,
        params: Mapping,
        used: Iterable[str] | None = None,
        latent_dim: int = 256,
    ):
        super().__init__()
        self.task = _check_task(task, self.name, self.tasks)
        self.modality_specs = _check_modalities(modalities, self.name)
        self.used_modalities = tuple(used) if used is not None else tuple(self.modality_specs)
        if len(self.used_modalities) not in self.n_modalities:
            raise InputError(
                f"method {self.name!r} takes {' or '.join(map(str, self.n_modalities))} modalities, "
                f"got {len(self.used_modalities)} ({', '.join(self.used_modalities)}) in 'modalities'"
            )
        self.params = dict(params)
        self.latent_dim = int(latent_dim)
        self.amp_dtype: torch.dtype | None = None
        self.trim = 0.0  # share of each batch's largest SVDD distances left out of the loss (set by train.fit)
        self.encoders = nn.ModuleDict({m: self._build_encoder(m) for m in self.used_modalities})
        # per-feature standardisation of each encoder's output (no affine), so that modalities
        # reach fusion and heads on one scale (docs/methods.md, "Modality scale")
        self.standardise = nn.ModuleDict(
            {m: nn.BatchNorm1d(self.encoders[m].out_dim, affine=False) for m in self.used_modalities}
        )
        # saved with the weights, so a resumed or reloaded model keeps its centre
        self.register_buffer("center_ready", torch.tensor(False))

    # ----------------------------------------------------------------- parts
    @property
    def is_svdd(self) -> bool:
        return self.task["kind"] == "svdd"

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _build_encoder(self, modality: str) -> nn.Module:
        spec = dict(self.modality_specs[modality])
        kind = spec.pop("encoder")
        spec.setdefault("out_dim", self.latent_dim)
        return ENCODERS.build(kind, svdd=self.is_svdd, **spec)

    def make_head(self, in_dim: int) -> nn.Module:
        """A task head on `in_dim` features (SVDD: bias-free in->256->256)."""
        kw = {k: v for k, v in self.task.items() if k != "kind"}
        return HEADS.build(self.task["kind"], in_dim=in_dim, **kw)

    def heads(self) -> dict[str, nn.Module]:
        """The task heads by key: "" the fused head, a modality name its own head."""
        out = {"": self.head}
        out.update(getattr(self, "modality_heads", {}) or {})
        return out

    # ---------------------------------------------------------------- inputs
    def to_device(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        dev = self.device
        return {k: v.to(dev) for k, v in batch.items()}

    def is_graph(self, modality: str) -> bool:
        return self.modality_specs[modality]["encoder"] in GRAPH_ENCODERS

    def encode(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Encode every used modality: {modality: (B, d) fp32} for the B target rows.

        Encoders run under `torch.autocast` with `self.amp_dtype` (None: full precision).
        A graph encoder sees the k-hop subgraph (`batch["edge_index"]`); its output rows
        are then narrowed to `batch["target"]`. Each output is then standardised per
        feature in fp32 (affine-free BatchNorm: batch statistics in training, running
        statistics in eval).
        """
        dev = self.device
        out = {}
        with torch.autocast(device_type=dev.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            for m in self.used_modalities:
                if m not in batch:
                    raise InputError(f"batch has no modality {m!r} needed by method {self.name!r}")
                if self.is_graph(m):
                    if "edge_index" not in batch:
                        raise InputError(f"batch has no 'edge_index' for graph modality {m!r} (encoder gcn)")
                    h = self.encoders[m](batch[m], edge_index=batch["edge_index"])
                    if "target" in batch:
                        h = h[batch["target"]]
                else:
                    h = self.encoders[m](batch[m])
                out[m] = h
        return {m: self.standardise[m](h.float()) for m, h in out.items()}

    def target_inputs(self, batch: Mapping[str, Tensor], modality: str) -> Tensor:
        """The raw input rows of the B targets as float (B, features), flattened."""
        x = batch[modality]
        if self.is_graph(modality) and "target" in batch:
            x = x[batch["target"]]
        return x.reshape(x.shape[0], -1).float()

    # ----------------------------------------------------------------- tasks
    def head_loss(self, key: str, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Mean task loss of head `key` (SVDD: squared distance to the shared centre, the largest
        `self.trim` share of the batch left out: a trimmed loss for an impure healthy reference)."""
        head = self.heads()[key]
        if self.is_svdd:
            return trimmed_mean(head.loss(pred), self.trim)
        if "y" not in batch:
            raise InputError(f"batch has no 'y' for task {self.task['kind']!r} of method {self.name!r}")
        return head.loss(pred, batch["y"]).mean()

    def head_outputs(self, key: str, pred: Tensor) -> dict[str, Tensor]:
        """What `predict` reports for head `key`: SVDD `score[_<m>]`; `logits`/`probs`; `pred`."""
        suffix = f"_{key}" if key else ""
        kind = self.task["kind"]
        if kind == "svdd":
            return {f"score{suffix}": self.heads()[key].score(pred)}
        if key:  # per-modality heads report only under SVDD (attribution)
            return {}
        if kind == "multiclass":
            return {"logits": pred, "probs": torch.softmax(pred, dim=-1)}
        if kind == "multilabel":
            return {"logits": pred, "probs": torch.sigmoid(pred)}
        return {"pred": pred.squeeze(-1) if pred.shape[-1] == 1 else pred}

    # ------------------------------------------------------------- interface
    def setup(self, data_loader: Iterable[Mapping[str, Tensor]]) -> None:
        """Before training: set the shared SVDD centre unless already set (resume)."""
        if self.is_svdd and not bool(self.center_ready):
            self.init_svdd_center(data_loader)

    def on_epoch_start(self, data_loader: Iterable[Mapping[str, Tensor]], epoch: int) -> None:
        """Called by the engine before each epoch; nothing by default."""

    def training_loss(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, Tensor]:
        raise NotImplementedError

    def inference(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """Deterministic forward pass: ({head key: head output}, latent (B, d))."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """SVDD: `score` (B,), `score_<modality>` per modality head; else `logits`/`probs`
        or `pred`; always `latent` (B, d). fp32."""
        preds, latent = self.inference(batch)
        out: dict[str, Tensor] = {}
        for key, pred in preds.items():
            out.update(self.head_outputs(key, pred.float()))
        out["latent"] = latent.float()
        return out

    def config(self) -> dict:
        """Everything to rebuild this method: ``build_method(**m.config())``."""
        return {
            "name": self.name,
            "modalities": copy.deepcopy(self.modality_specs),
            "order": list(self.modality_specs),
            "task": dict(self.task),
            **copy.deepcopy(self.params),
        }

    # ----------------------------------------------------------- SVDD centre
    @torch.no_grad()
    def init_svdd_center(self, data_loader: Iterable[Mapping[str, Tensor]]) -> Tensor:
        """One centre for all heads: the mean of every head's initial output on the training
        data, coordinates with |c_j| < 0.1 pushed to ±0.1 (DESIGN.md section 4); frozen.

        The pass runs in training mode (without gradient), so normalisation layers use batch
        statistics as the training loss will; it also seeds their running statistics."""
        was_training = self.training
        self.train()
        total, count = None, 0
        for batch in progress(data_loader, desc="SVDD centre"):
            preds, _ = self.inference(self.to_device(batch))
            for pred in preds.values():
                s = pred.float().sum(dim=0)
                total = s if total is None else total + s
                count += pred.shape[0]
        if count == 0:
            raise InputError(f"no training rows to set the SVDD centre of method {self.name!r}")
        c = init_center((total / count)[None, :])
        for head in self.heads().values():
            head.set_center(c)
        self.center_ready.fill_(True)
        self.train(was_training)
        logger.info("SVDD centre set from %d head outputs (|c| = %.3f)", count, float(c.norm()))
        return c


def trimmed_mean(values: Tensor, trim: float) -> Tensor:
    """Mean of the (B,) `values` without their largest `trim` share (at least one value is kept)."""
    if trim <= 0:
        return values.mean()
    keep = max(1, math.ceil((1.0 - trim) * values.shape[0]))
    return torch.topk(values, keep, largest=False, sorted=False).values.mean()


def _check_task(task: Mapping, method: str, supported: tuple[str, ...]) -> dict:
    if not isinstance(task, Mapping) or "kind" not in task:
        raise InputError(f"method {method!r}: 'task' must be a dict with a 'kind' (one of {', '.join(TASKS)})")
    kind = task["kind"]
    if kind not in supported:
        raise InputError(f"method {method!r} does not support task kind {kind!r} in 'task' (supported: {', '.join(supported)})")
    return dict(task)


def _check_modalities(modalities: Mapping[str, Mapping], method: str) -> dict[str, dict]:
    if not isinstance(modalities, Mapping) or not modalities:
        raise InputError(f"method {method!r}: 'modalities' must map modality names to encoder specs")
    out = {}
    for name, spec in modalities.items():
        if not isinstance(spec, Mapping) or "encoder" not in spec:
            raise InputError(f"method {method!r}: modality {name!r} in 'modalities' needs an 'encoder' name")
        out[str(name)] = dict(spec)
    return out
