"""Where a training epoch's wall time goes (`bench perf`): data, each encoder, the optimiser.

`fit(..., profile=EpochProfile())` times every epoch (`epochs`: one dict per epoch with the
seconds of each part, `epoch_s`, and `share`: each part over `epoch_s`); inside each optimiser step:
- `data`: assembling the batch (the loader's `next`);
- one entry per encoder (`histology`, `genes`, ...): its forward plus its backward, the
  backward from the moment the gradient reaches the encoder's output to the moment every one
  of its parameters has its gradient (autograd runs one branch at a time on a device, so these
  spans do not overlap);
- `optimiser`: the optimiser's step;
- `fusion_objective`: the rest of the step (fusion, heads, losses and their backward,
  gradient scaling and, under torchrun, the gradient all-reduce);
and outside the steps `epoch_other` (the epoch's start hook, e.g. OMIB's noise refresh, and
the validation loss). Seconds of wall clock; on CUDA every boundary synchronises the device,
which slows a GPU run a little and makes the spans exact.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator

import torch

PARTS = ("data", "optimiser", "fusion_objective", "epoch_other")


class EpochProfile:
    """Per-epoch seconds by part (see the module docstring); `epochs` holds one dict per epoch."""

    def __init__(self) -> None:
        self.epochs: list[dict] = []
        self._current: dict[str, float] | None = None
        self._in_step = False
        self._device = torch.device("cpu")
        self._starts: dict[str, float] = {}
        self._encoders: tuple[str, ...] = ()

    # ------------------------------------------------------------------ wiring (called by fit)
    @contextlib.contextmanager
    def epoch(self, method: torch.nn.Module, optimizer: torch.optim.Optimizer, phase: str):
        """Time one epoch of `method` (hooks on its encoders and on `optimizer`, removed on exit);
        on a normal exit the epoch's parts (seconds) and shares join `epochs`."""
        self._device = next(method.parameters()).device
        encoders = getattr(method, "encoders", {})
        self._encoders = tuple(encoders)
        self._current = {"phase": phase, "_steps": 0.0, **{k: 0.0 for k in ("data", "optimiser", *self._encoders)}}
        handles = [
            optimizer.register_step_pre_hook(lambda *_: self._start("optimiser")),
            optimizer.register_step_post_hook(lambda *_: self._stop("optimiser")),
        ]
        for name, encoder in encoders.items():
            handles += [
                encoder.register_forward_pre_hook(self._forward_start(name)),
                encoder.register_forward_hook(self._forward_end(name)),
            ]
            params = [p for p in encoder.parameters() if p.requires_grad]
            if params:
                handles.append(torch.autograd.graph.register_multi_grad_hook(params, self._backward_end(name)))
        start = self._now()
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            self._in_step = False
        self._close(self._now() - start)

    def batches(self, loader: Iterable) -> Iterator:
        """`loader`'s batches, timing the fetch (`data`) and each step (from the batch's arrival
        to the request for the next one)."""
        it = iter(loader)
        while True:
            t0 = self._now()
            try:
                batch = next(it)
            except StopIteration:
                return
            t1 = self._now()
            self._add("data", t1 - t0)
            self._in_step = True
            yield batch
            self._in_step = False
            self._add("_steps", self._now() - t1)

    def _close(self, seconds: float) -> None:
        cur, self._current = self._current or {}, None
        steps = cur.pop("_steps", 0.0)
        encoders = sum(cur.get(m, 0.0) for m in self._encoders)
        cur["fusion_objective"] = max(steps - encoders - cur.get("optimiser", 0.0), 0.0)
        cur["epoch_other"] = max(seconds - steps - cur.get("data", 0.0), 0.0)
        cur["epoch_s"] = seconds
        cur["share"] = {k: cur[k] / seconds if seconds > 0 else 0.0 for k in (*self._encoders, *PARTS)}
        self.epochs.append(cur)

    # ------------------------------------------------------------------ timing
    def _now(self) -> float:
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return time.perf_counter()

    def _add(self, key: str, seconds: float) -> None:
        if self._current is not None:
            self._current[key] = self._current.get(key, 0.0) + seconds

    def _start(self, key: str) -> None:
        if self._in_step:
            self._starts[key] = self._now()

    def _stop(self, key: str) -> None:
        start = self._starts.pop(key, None)
        if start is not None and self._in_step:
            self._add(key, self._now() - start)

    def _forward_start(self, name: str):
        def hook(module, args):
            self._start(name)

        return hook

    def _forward_end(self, name: str):
        def hook(module, args, output):
            self._stop(name)
            if self._in_step and torch.is_tensor(output) and output.requires_grad:
                output.register_hook(lambda grad: self._start(name))

        return hook

    def _backward_end(self, name: str):
        def hook(grads):
            self._stop(name)

        return hook
