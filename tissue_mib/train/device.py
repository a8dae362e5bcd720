"""Device and precision choice, and the determinism switch.

Precision applies to the encoders only (`Method.encode` autocasts with `method.amp_dtype`);
fusion, heads, losses, KL terms and scores stay fp32.

`auto` on CUDA: bf16 when the GPU supports it, else fp16 with a gradient scaler. `auto` on
CPU: bf16 only where it is faster on the machine at hand, which differs by two orders of
magnitude between CPUs. With AVX512-BF16 or AMX, bf16 matrix products run about 2-4x faster
than fp32 (512^2 on one thread: AMD EPYC with AVX512-BF16, bf16 163-182 GFLOP/s against
fp32 80-93; Intel Xeon with AMX, 317-570 against 130-160); without them torch emulates bf16
at about 1 GFLOP/s (AVX2-only AMD EPYC: 1.0-1.3 against 64-156 in fp32, every default run
4-14x slower in bf16). So an x86 CPU that torch reports without AVX512-BF16 and without AMX
gets fp32 at once; any other CPU gets a short measurement (`hardware.measure_gemm`, one
thread, about 0.05-0.2 s, bounded to about 0.5 s), and bf16 only when its GEMM is at least
BF16_MIN_SPEEDUP times fp32's. The measurement is cached per machine (CPU model, flags,
torch version) in the user cache folder (`precision_cache_path()`), the choice is logged
once per process, and the environment variable TISSUE_MIB_CPU_PRECISION=fp32|bf16 fixes it
(`measure` forces a measurement even where the flags already decide).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tissue_mib.errors import InputError
from tissue_mib.train import hardware

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_ENV = "TISSUE_MIB_CPU_PRECISION"  # fp32 | bf16 | measure: what `auto` means on CPU
CACHE_ENV = "TISSUE_MIB_PRECISION_CACHE"  # the cache file (default: <user cache>/tissue-mib/device/cpu_precision.json)
BF16_MIN_SPEEDUP = 1.2  # bf16 must beat fp32's GEMM by this much: autocast adds casts a GEMM does not show
_CACHE_VERSION = 1
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_auto_cpu: dict[str, PrecisionChoice] = {}  # per process, by machine key (and the environment's setting)
_logged: set[str] = set()


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


@dataclass(frozen=True)
class PrecisionChoice:
    """What a `precision` setting resolves to on a device, and why.

    requested: the setting (auto|fp32|bf16|fp16). resolved: fp32|bf16|fp16. device: cpu or
    cuda. reason: one line. gemm: `hardware.measure_gemm()` figures where a measurement
    decided (GFLOP/s in fp32 and bf16), else None. cached: the measurement came from the
    cache file rather than from this process.
    """

    requested: str
    resolved: str
    device: str
    reason: str
    gemm: dict | None = field(default=None, compare=False)
    cached: bool = field(default=False, compare=False)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None = fp32)."""
        return _DTYPES[self.resolved]

    def to_dict(self) -> dict:
        """Plain values (config.yaml's `precision` block, bench perf's JSON)."""
        return asdict(self)


def place(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move `module` to `device`; on CUDA its 4-d weights go channels_last as well (the image
    encoders' patches already arrive NHWC, so cuDNN runs its NHWC convolutions)."""
    if device.type == "cuda":
        return module.to(device, memory_format=torch.channels_last)
    return module.to(device)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the encoders (None = fp32) for `precision` on `device`."""
    return precision_choice(precision, device).dtype


def precision_choice(precision: str, device: torch.device | str) -> PrecisionChoice:
    """Resolve `precision` on `device` (module docstring); `auto` is logged once per process."""
    if precision not in PRECISIONS:
        raise InputError(f"precision '{precision}' unknown; use one of {', '.join(PRECISIONS)}")
    device = torch.device(device) if isinstance(device, str) else device
    if precision != "auto":
        return PrecisionChoice(precision, precision, device.type, "requested")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            choice = PrecisionChoice("auto", "bf16", "cuda", "the GPU supports bf16")
        else:
            choice = PrecisionChoice("auto", "fp16", "cuda", "the GPU lacks bf16: fp16 with a gradient scaler")
    elif device.type == "cpu":
        choice = auto_cpu_precision()
    else:
        choice = PrecisionChoice("auto", "bf16", device.type, f"{device.type}: bf16")
    key = f"{device}|{choice.resolved}|{choice.reason}"
    if key not in _logged:
        _logged.add(key)
        logger.info("precision auto on %s: %s (%s)", device, choice.resolved, choice.reason)
    return choice


def precision_record(precision: str, device: str | torch.device) -> dict:
    """`precision_choice(...).to_dict()` for a TrainConfig's settings (the model directory's
    `precision` block); {} where the device cannot be resolved here."""
    try:
        return precision_choice(precision, resolve_device(device)).to_dict()
    except InputError:
        return {}


def precision_cache_path() -> Path:
    """$TISSUE_MIB_PRECISION_CACHE, else `<user cache>/tissue-mib/device/cpu_precision.json`."""
    env = os.environ.get(CACHE_ENV, "")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("tissue-mib")) / "device" / "cpu_precision.json"


def machine_key(info: dict | None = None) -> str:
    """What the CPU precision choice depends on: CPU model, arch, bf16-relevant flags, torch
    version and capability. Not the thread count: the measurement runs on one thread (the
    bf16/fp32 ratio is the core's; on a shared CPU a multi-threaded GEMM measures the other
    processes: 1.4 GFLOP/s in both precisions on 2 threads at load 4 here, against 59 / 110
    on one thread)."""
    info = info or hardware.cpu_info()
    flags = ",".join(sorted(f for f, on in (info.get("flags") or {}).items() if on))
    return (f"v{_CACHE_VERSION}|{info.get('model')}|{info.get('arch')}|flags {flags}|"
            f"torch {info.get('torch_version')} {info.get('torch_capability')} "
            f"avx512_bf16={info.get('torch_avx512_bf16')} amx={info.get('torch_amx_tile')}")  # fmt: skip


def auto_cpu_precision(*, refresh: bool = False) -> PrecisionChoice:
    """What `auto` means on this CPU (module docstring); `refresh` measures again."""
    forced = os.environ.get(PRECISION_ENV, "").strip().lower()
    if forced in ("fp32", "bf16"):
        return PrecisionChoice("auto", forced, "cpu", f"{PRECISION_ENV}={forced}")
    if forced not in ("", "measure"):
        raise InputError(f"{PRECISION_ENV}={forced!r}: use fp32, bf16 or measure")
    info = hardware.cpu_info()
    key = machine_key(info)
    memo = f"{key}|{forced}"
    if not refresh and memo in _auto_cpu:
        return _auto_cpu[memo]
    native = hardware.native_bf16(info)
    if native is False and forced != "measure":
        choice = PrecisionChoice(
            "auto", "fp32", "cpu",
            f"x86 CPU without native bf16 (no AVX512-BF16, no AMX; torch capability {info.get('torch_capability')}): "
            "torch emulates bf16, far slower than fp32",
        )  # fmt: skip
    else:
        entry = None if refresh else _read_cache().get(key)
        cached = entry is not None
        if entry is None:
            gemm = hardware.measure_gemm(threads=1)
            entry = {"gemm": gemm, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            _write_cache(key, entry)
        choice = _decide(entry["gemm"], cached=cached)
    _auto_cpu[memo] = choice
    return choice


def _decide(gemm: dict, *, cached: bool) -> PrecisionChoice:
    fp32, bf16 = float(gemm["fp32_gflops"]), float(gemm["bf16_gflops"])
    ratio = bf16 / max(fp32, 1e-9)
    resolved = "bf16" if ratio >= BF16_MIN_SPEEDUP else "fp32"
    reason = (f"measured GEMM {gemm.get('n')}^2 on {gemm.get('threads')} thread(s): bf16 {bf16:.1f} GFLOP/s, "
              f"fp32 {fp32:.1f} GFLOP/s ({ratio:.2f}x; bf16 needs >= {BF16_MIN_SPEEDUP}x)"
              f"{' [cached]' if cached else ''}")  # fmt: skip
    return PrecisionChoice("auto", resolved, "cpu", reason, gemm=dict(gemm), cached=cached)


def _read_cache() -> dict:
    path = precision_cache_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.debug("precision cache %s unreadable (%s); measuring again", path, exc)
        return {}
    ok = isinstance(data, dict)
    return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("gemm"), dict)} if ok else {}


def _write_cache(key: str, entry: dict) -> None:
    from tissue_mib.utils import atomic_write

    path = precision_cache_path()
    try:
        data = _read_cache() | {key: entry}
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1))
    except OSError as exc:  # a read-only home: measure again next time
        logger.debug("precision cache %s not written (%s)", path, exc)


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
