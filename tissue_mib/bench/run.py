"""One benchmark cell: build a registered method, train it with the shared engine, predict.

No training loop here: `tissue_mib.train.fit` and `tissue_mib.train.predict` do the work,
`tissue_mib.methods.build_method` builds the model. This module only picks encoder specs
for array shapes, assembles the options, keeps one failing cell from ending a grid
(`guarded`) and estimates how long a grid has left (`Eta`).
"""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np

from tissue_mib.errors import InputError
from tissue_mib.logs import STEP
from tissue_mib.settings import progress_bar

logger = logging.getLogger(__name__)
T = TypeVar("T")


def encoder_spec(x: np.ndarray, *, sequence_encoder: str = "conv1d") -> dict:
    """Default encoder for a modality array: (N, D) -> `mlp`; (N, T, F) float -> `sequence_encoder`;
    (N, H, W, 3) uint8 -> `resnet18` (CIFAR stem)."""
    if x.ndim == 2:
        return {"encoder": "mlp", "in_dim": int(x.shape[1])}
    if x.ndim == 3 and x.dtype != np.uint8:
        return {"encoder": sequence_encoder, "in_dim": int(x.shape[2])}
    if x.ndim == 4 and x.dtype == np.uint8 and x.shape[-1] == 3:
        return {"encoder": "resnet18", "stem": "cifar"}
    raise InputError(f"no default encoder for a modality of shape {x.shape} and dtype {x.dtype}")


@dataclass
class Cell:
    """Options shared by every run of a benchmark (the engine's TrainConfig fields it sets)."""

    epochs: int = 100
    warmup_epochs: int | None = None  # OMIB's warm-up phase; None: max(1, epochs // 10)
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 128
    device: str = "auto"

    def __post_init__(self):
        from tissue_mib.train.device import resolve_device

        for name, low in (("epochs", 1), ("warmup_epochs", 1), ("batch_size", 1)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < low):
                raise InputError(f"training option '{name}' must be an integer >= {low}, got {value!r}")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise InputError(f"training options need lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        resolve_device(self.device)

    def train_config(self, phases: tuple[str, ...], *, seed: int):
        from tissue_mib.train import TrainConfig

        warm = self.warmup_epochs if self.warmup_epochs is not None else max(1, self.epochs // 10)
        epochs = {p: (warm if p == "warmup" else self.epochs) for p in phases}
        return TrainConfig(epochs=epochs, lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                           device=self.device, seed=seed, patience=None)


def fit_predict(method: str, *, modalities: Mapping[str, dict], task: Mapping, train, test, cell: Cell, seed: int,
                params: Mapping | None = None) -> tuple[dict[str, np.ndarray], object, float]:
    """Build `method`, fit it on `train` (MultiModalData), predict `test`.

    Returns (predictions, the trained method, seconds). `params` go to `build_method`; a
    `seed` is passed to methods that take one.
    """
    from tissue_mib.methods import METHODS, build_method
    from tissue_mib.train import fit, predict
    from tissue_mib.utils import seed_everything

    params = dict(params or {})
    if "seed" in inspect.signature(METHODS.get(method)).parameters:
        params.setdefault("seed", seed)
    seed_everything(seed)
    start = time.perf_counter()
    model = build_method(method, modalities=dict(modalities), task=dict(task), **params)
    config = cell.train_config(model.phases, seed=seed)
    fit(model, train, config=config)
    out = predict(model, test, config=config)
    seconds = time.perf_counter() - start
    logger.info("%s (seed %d): trained and predicted in %.1f s", method, seed, seconds)
    return out, model, seconds


def guarded(label: str, fn: Callable[[], T]) -> tuple[T | None, str | None]:
    """`(fn(), None)`, or `(None, "ErrorType: first line")` when `fn` raises: a benchmark
    records a failing cell (e.g. a non-finite loss) and goes on with the rest of its grid.
    Options and data are checked before a grid starts, so bad input never gets here."""
    try:
        return fn(), None
    except Exception as err:  # noqa: BLE001 - any failure of one cell is recorded, not fatal to the grid
        text = str(err).strip()
        line = f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
        logger.warning("%s failed: %s", label, line)
        return None, line


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


class Eta:
    """Logs the time a grid of `total` cells has left: after the first cell and after every
    `every` cells (elapsed time per finished cell times the cells left; cells differ, so
    it is a rough guide that sharpens as the grid goes on)."""

    def __init__(self, name: str, total: int, *, every: int = 1):
        self.name, self.total, self.every = name, total, max(1, every)
        self.done = 0
        self.start = time.perf_counter()

    def step(self) -> None:
        """Count one finished (or failed) cell; log the estimate when due."""
        self.done += 1
        if self.done < self.total and (self.done == 1 or self.done % self.every == 0):
            elapsed = time.perf_counter() - self.start
            logger.log(STEP, "%s: %d of %d cells in %s; about %s left (estimate)", self.name, self.done, self.total,
                        _duration(elapsed), _duration(elapsed / self.done * (self.total - self.done)))


def config_from_dict(cls: type[T], d: Mapping) -> T:
    """A benchmark config dataclass from its `asdict` form in a result JSON: `Cell` fields
    rebuilt, lists back to (nested) tuples; an unknown or missing field is an InputError."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise InputError(f"{cls.__name__}: unknown config field(s) {unknown} in the result file")

    def value(v):
        if isinstance(v, Mapping):
            return Cell(**v)
        if isinstance(v, list):
            return tuple(value(x) for x in v)
        return v

    try:
        return cls(**{k: value(v) for k, v in d.items()})
    except TypeError as err:
        raise InputError(f"{cls.__name__}: config in the result file does not fit ({err})") from None


def run_cells(cells: Sequence[Callable[[], T]], *, jobs: int = 1, name: str, every: int = 1) -> list[T]:
    """The results of `cells` (zero-argument callables, e.g. `functools.partial` of a module
    function, which record their own failures) in their order, with a progress bar and `Eta`.

    jobs > 1: the cells run in that many spawned worker processes at once, each with
    max(1, cores // jobs) torch threads and no progress bars of its own; cells must then be
    picklable. Each cell seeds itself, so results equal those of `jobs=1` run with the same
    number of threads (the thread count changes float rounding, not the seeds).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"option jobs must be an integer >= 1, got {jobs!r}")
    eta = Eta(name, len(cells), every=every)
    bar = progress_bar(desc=name, total=len(cells))
    try:
        if jobs == 1:
            out = []
            for cell in cells:
                out.append(cell())
                bar.update()
                eta.step()
            return out
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(min(jobs, len(cells)) or 1, mp_context=context, initializer=_init_worker,
                                   initargs=(threads, logging.getLogger().getEffectiveLevel()))
        try:
            futures = [pool.submit(cell) for cell in cells]
            for _ in as_completed(futures):
                bar.update()
                eta.step()
            return [f.result() for f in futures]
        finally:  # on Ctrl-C or a crashed worker, drop the cells not yet started instead of running them all
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


def _init_worker(threads: int, log_level: int) -> None:
    """A `run_cells` worker: torch threads, the parent's log level on stderr, no progress bars."""
    import torch

    from tissue_mib.settings import settings

    torch.set_num_threads(threads)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s", force=True)
    settings.progress = False


def failures(records: list[dict]) -> list[dict]:
    """The failed cells of benchmark `records` as {"cell": label, "error": line}."""
    return [{"cell": r["cell"], "error": r["error"]} for r in records if r.get("status") == "failed"]
