"""`fit`: the training loop shared by every method.

Order: seed, move to device, set `method.amp_dtype`, `method.setup(loader)`, Adam, then for
each phase of `method.phases`: epochs of `on_epoch_start` + mini-batch steps on
`training_loss(batch, phase)["loss"]`, val loss, history record, checkpoint, callbacks.
Early stopping works per phase on the val loss; the best weights of a phase are restored
when the phase ends. Last, the BatchNorm running statistics are recomputed for the final
weights (`refresh_batchnorm`).

Under torchrun (`train.distributed`) each rank takes its share of every global batch; the
gradients are summed over the ranks after each backward, with each rank's loss weighted by its
share of the global batch, and BatchNorm uses the global batch's statistics (`train.syncbn`),
so a step is the one-process step. `setup`, `on_epoch_start` and the BatchNorm refresh see the
whole data on every rank, as one process does, and rank 0's parameters and buffers are then
broadcast; the val loss is sharded and summed. Rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tissue_mib.errors import InputError, TrainingDiverged
from tissue_mib.nn.optim import adam
from tissue_mib.settings import progress, progress_bar
from tissue_mib.train import distributed
from tissue_mib.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from tissue_mib.train.config import TrainConfig
from tissue_mib.train.data import BatchLoader, MultiModalData
from tissue_mib.train.device import cpu_threads, deterministic, grad_scaler, place, resolve_device, resolve_precision
from tissue_mib.train.history import History
from tissue_mib.train.profile import EpochProfile
from tissue_mib.train.syncbn import synced_batchnorm
from tissue_mib.utils import remove_partials, seed_everything

logger = logging.getLogger(__name__)


@dataclass
class _Position:
    """Where the loop is, and the early-stopping state of the current phase."""

    phase_idx: int = 0
    phase_epoch: int = 0
    epoch: int = 0
    best_loss: float = math.inf
    best_weights: dict[str, torch.Tensor] | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped: bool = False
    history: History = field(default_factory=History)


def fit(
    method: torch.nn.Module,
    train_data: MultiModalData,
    *,
    val_data: MultiModalData | None = None,
    config: TrainConfig | None = None,
    callbacks: Sequence[Callable[[dict], None]] = (),
    profile: EpochProfile | None = None,
) -> History:
    """Train `method` (a `methods.base.Method`) on `train_data`; return the `History`.

    val_data: held-out data for the val loss and early stopping (None: no early stopping).
    callbacks: called with each epoch's record after its checkpoint is written.
    profile: an `EpochProfile` that records where each epoch's time goes (`bench perf`).
    With precision='fp32' and a fixed seed, results on CPU are identical run to run, and a
    run resumed from its checkpoint ends with the same weights as an uninterrupted one.
    A NaN/inf training or validation loss raises `TrainingDiverged` before that epoch's
    checkpoint is written, so the last checkpoint holds the last good epoch.
    """
    config = config or TrainConfig()
    if config.resume and not config.checkpoint_dir:
        raise InputError("TrainConfig.resume=True needs TrainConfig.checkpoint_dir")
    device = resolve_device(config.device)
    amp_dtype = resolve_precision(config.precision, device)
    epochs = config.epochs_for(tuple(method.phases))
    shard = (distributed.rank(), distributed.world())
    with deterministic(amp_dtype is None), cpu_threads(config.threads):
        seed_everything(config.seed)
        place(method, device)
        method.amp_dtype = amp_dtype
        method.trim = float(config.contamination)
        loader = BatchLoader(
            train_data, batch_size=config.batch_size, shuffle=True, seed=config.seed, hops=config.hops,
            device=device, min_batch=max(2, shard[1]), shard=shard,
        )  # fmt: skip
        val_loader = None
        if val_data is not None:
            val_loader = BatchLoader(val_data, batch_size=config.batch_size, hops=config.hops, device=device, shard=shard)
        method.setup(loader.whole())
        distributed.broadcast_state(method)
        if shard[1] > 1:  # the ranks draw their own noise (OMIB's) from here on
            torch.manual_seed(config.seed + 1_000_003 * shard[0])
        params = [p for p in method.parameters() if p.requires_grad]
        optimizer = adam(params, lr=config.lr, weight_decay=config.weight_decay)
        scaler = grad_scaler(amp_dtype, device)
        pos = _Position()
        run = _run_record(method, train_data, config, epochs)
        if config.checkpoint_dir and distributed.is_main():
            remove_partials(config.checkpoint_dir, [CHECKPOINT_NAME])  # of a run killed mid-checkpoint
        if config.resume:
            _restore(config.checkpoint_dir, method, optimizer, scaler, loader, pos, run)
        for phase_idx, phase in enumerate(method.phases):
            if phase_idx < pos.phase_idx:
                continue
            with _phase_bar(method, phase, epochs[phase], pos.phase_epoch) as bar:
                while pos.phase_epoch < epochs[phase] and not pos.stopped:
                    try:
                        timed = profile.epoch(method, optimizer, phase) if profile is not None else nullcontext()
                        with synced_batchnorm(method), timed:
                            record = _epoch(method, loader, val_loader, optimizer, scaler, phase, pos, profile)
                    except _NonFinite as bad:
                        raise TrainingDiverged(f"{bad}; {_kept(config.checkpoint_dir, pos)}") from None
                    bar.update(1)
                    bar.set_postfix({k: f"{record[k]:.4g}" for k in ("loss", "val_loss") if record.get(k) is not None})
                    pos.history.records.append(record)
                    _early_stopping(method, record, config, pos, phase)
                    pos.phase_epoch += 1
                    pos.epoch += 1
                    if config.checkpoint_dir and distributed.is_main():
                        _save(config.checkpoint_dir, method, optimizer, scaler, loader, pos, run)
                    for callback in callbacks:
                        callback(record)
            _end_phase(method, pos, phase)
        refresh_batchnorm(
            method, BatchLoader(train_data, batch_size=config.batch_size, hops=config.hops, device=device, min_batch=2)
        )
        distributed.broadcast_state(method)
    return pos.history


def _phase_bar(method, phase: str, n_epochs: int, done: int):
    """One bar per phase over its epochs; the postfix holds the epoch's loss and val_loss."""
    name = getattr(method, "name", type(method).__name__)
    return progress_bar(desc=f"{name} {phase}", total=n_epochs, initial=done, unit="epoch")


@torch.no_grad()
def refresh_batchnorm(method: torch.nn.Module, loader: BatchLoader) -> None:
    """Recompute every BatchNorm's running mean and variance for the final weights.

    The running statistics of training are an exponential average over batches seen while
    the weights were still moving; after a short run they lag the final encoder, and
    scoring (eval mode) then sees features off the training distribution. One pass over
    the training batches in training mode, without gradient, with a cumulative average
    (momentum None) gives the statistics of the final weights ("precise BN").
    """
    norms = [m for m in method.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    method.train()
    for batch in progress(loader, desc="BatchNorm statistics"):
        method.inference(batch)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    method.eval()


def _epoch(method, loader, val_loader, optimizer, scaler, phase, pos, profile=None) -> dict:
    """One pass over the training batches, then the val loss; the epoch's record."""
    start = time.perf_counter()
    method.train()
    method.on_epoch_start(loader.whole(), pos.epoch)
    distributed.broadcast_state(method)
    method.train()
    sums: dict[str, float] = {}
    n_rows = 0
    for i, batch in enumerate(loader if profile is None else profile.batches(loader)):
        optimizer.zero_grad(set_to_none=True)
        terms = method.training_loss(batch, phase)
        loss = terms["loss"]
        b = len(batch["index"])
        if distributed.active():  # the global batch's mean loss; this rank's loss weighted by its share
            total = distributed.all_reduce_sum(torch.stack([loss.detach().float() * b, loss.new_tensor(float(b))]))
            loss, terms["loss"] = loss * (b / total[1]), total[0] / total[1]
        if not torch.isfinite(terms["loss"]):
            raise _NonFinite(
                f"non-finite loss {terms['loss'].item()} in phase '{phase}', epoch {pos.epoch + 1}, batch {i + 1}"
            )
        scaler.scale(loss).backward()
        distributed.all_reduce_grads(p for group in optimizer.param_groups for p in group["params"])
        scaler.step(optimizer)
        scaler.update()
        n_rows += b
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach() if torch.is_tensor(value) else value) * b
    if distributed.active():  # the record of the global batches
        totals = distributed.all_reduce_sum(torch.tensor([*sums.values(), n_rows], dtype=torch.float64))
        sums, n_rows = dict(zip(sums, totals[:-1].tolist())), int(totals[-1])
    record = {"epoch": pos.epoch, "phase": phase, "phase_epoch": pos.phase_epoch}
    record.update({k: v / max(n_rows, 1) for k, v in sums.items()})
    record["val_loss"] = _val_loss(method, val_loader, phase) if val_loader is not None else None
    if record["val_loss"] is not None and not math.isfinite(record["val_loss"]):
        raise _NonFinite(f"non-finite validation loss {record['val_loss']} in phase '{phase}', epoch {pos.epoch + 1}")
    record["lr"] = optimizer.param_groups[0]["lr"]
    record["time_s"] = time.perf_counter() - start
    logger.debug("epoch %d (%s): %s", pos.epoch, phase, {k: v for k, v in record.items() if k not in ("epoch", "phase")})
    return record


class _NonFinite(Exception):
    """A NaN/inf loss inside an epoch (turned into `TrainingDiverged` with the checkpoint's whereabouts)."""


def _kept(checkpoint_dir, pos: _Position) -> str:
    """Where the last good state is, for the divergence message (epochs counted from 1)."""
    if not checkpoint_dir:
        return "no checkpoint was kept (no checkpoint_dir)"
    if pos.epoch == 0:
        return "no epoch finished, so there is no checkpoint"
    return f"the checkpoint written after epoch {pos.epoch} is kept in {Path(checkpoint_dir) / CHECKPOINT_NAME}"


@torch.no_grad()
def _val_loss(method, val_loader: BatchLoader, phase: str) -> float:
    """Row-weighted mean of `training_loss(batch, phase)['loss']` in eval mode (over all ranks' shares)."""
    method.eval()
    total, n = 0.0, 0
    for batch in val_loader:
        b = len(batch["index"])
        total += float(method.training_loss(batch, phase)["loss"]) * b
        n += b
    method.train()
    if distributed.active():
        total, n = distributed.all_reduce_sum(torch.tensor([total, n], dtype=torch.float64)).tolist()
    return total / n


def _early_stopping(method, record: dict, config: TrainConfig, pos: _Position, phase: str) -> None:
    """Track the best val loss of the phase; set `pos.stopped` after `patience` bad epochs."""
    val = record["val_loss"]
    if val is None:
        return
    if val < pos.best_loss - config.min_delta:
        pos.best_loss, pos.best_epoch, pos.bad_epochs = val, record["epoch"], 0
        pos.best_weights = {k: v.detach().clone() for k, v in method.state_dict().items()}
        return
    pos.bad_epochs += 1
    if config.patience is not None and pos.bad_epochs >= config.patience:
        pos.stopped = True
        pos.history.stopped_early.append(phase)
        logger.info("early stopping in phase '%s' after epoch %d", phase, record["epoch"])


def _end_phase(method, pos: _Position, phase: str) -> None:
    """Restore the phase's best weights (when a val set was given); reset for the next phase."""
    if pos.best_weights is not None:
        method.load_state_dict(pos.best_weights)
        pos.history.best_epoch[phase] = pos.best_epoch
    pos.phase_idx += 1
    pos.phase_epoch = 0
    pos.best_loss, pos.best_weights, pos.best_epoch, pos.bad_epochs, pos.stopped = math.inf, None, None, 0, False


def _run_record(method, train_data: MultiModalData, config: TrainConfig, epochs: dict[str, int]) -> dict:
    """What a checkpoint must agree on to be resumed bit for bit: method, data size, loop options."""
    keys = ("seed", "batch_size", "lr", "weight_decay", "hops", "contamination", "precision")
    return {"method": str(getattr(method, "name", type(method).__name__)), "rows": int(train_data.n),
            "epochs": dict(epochs), **{k: getattr(config, k) for k in keys}}  # fmt: skip


def _save(directory, method, optimizer, scaler, loader: BatchLoader, pos: _Position, run: dict) -> None:
    save_checkpoint(
        directory,
        {
            "run": run,
            "model": method.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "loader_generator": loader.generator.get_state(),
            "rng": rng_state(),
            "position": {
                "phase_idx": pos.phase_idx, "phase_epoch": pos.phase_epoch, "epoch": pos.epoch,
                "best_loss": pos.best_loss, "best_epoch": pos.best_epoch, "bad_epochs": pos.bad_epochs,
                "stopped": pos.stopped,
            },  # fmt: skip
            "best_weights": pos.best_weights,
            "history": pos.history.to_dict(),
        },
    )


def _restore(directory, method, optimizer, scaler, loader: BatchLoader, pos: _Position, run: dict) -> None:
    payload = load_checkpoint(directory)
    if payload is None:
        logger.info("resume: no checkpoint in %s, starting from scratch", directory)
        return
    path = Path(directory) / CHECKPOINT_NAME
    saved = payload.get("run", {})
    differ = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in run.items() if saved.get(k) != v]
    if differ:
        raise InputError(f"checkpoint {path}: written by a different run ({'; '.join(differ)}); "
                         "resume with the same options or delete it to start over")  # fmt: skip
    try:
        method.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InputError(f"checkpoint {path}: does not fit this method ({str(exc).splitlines()[0]})") from exc
    scaler.load_state_dict(payload["scaler"])
    loader.generator.set_state(payload["loader_generator"])
    set_rng_state(payload["rng"])
    for key, value in payload["position"].items():
        setattr(pos, key, value)
    pos.best_weights = payload["best_weights"]
    pos.history = History.from_dict(payload["history"])
    logger.info("resumed from %s at epoch %d", path, pos.epoch)
