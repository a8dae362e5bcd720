"""Device and precision choice, and the determinism switch.

Precision applies to the encoders only (`Method.encode` autocasts with `method.amp_dtype`);
fusion, heads, losses, KL terms and scores stay fp32. `auto` means bf16 on CPU (about 3x
faster matmuls on this kind of machine: 4096^2 fp32 0.41 s vs bf16 0.09 s) and on CUDA when
the GPU supports it, else fp16 with a gradient scaler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from tissue_mib.errors import InputError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` -> CUDA when present else CPU; `cpu`; `cuda` (InputError when no GPU is visible)."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device '{device}': no CUDA device is visible (use device='cpu' or 'auto')")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"device '{device}' unknown; use one of {', '.join(DEVICES)}")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the encoders (None = fp32) for `precision` on `device`."""
    if precision not in PRECISIONS:
        raise InputError(f"precision '{precision}' unknown; use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def grad_scaler(amp_dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Within the block, ask torch for deterministic kernels (warn where none exists); restore after."""
    old = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    old_bench = torch.backends.cudnn.benchmark
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])
        torch.backends.cudnn.benchmark = old_bench


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Within the block, torch uses `n` intra-op CPU threads (None: leave as is); restore after.

    On a shared, loaded CPU, fewer threads than cores avoids oversubscription: measured here
    (2 cores, load ~10) small-cnn + GCN training ran at 228 spots/s with 1 thread and 30 with 2.
    """
    old = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise InputError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
