"""What the CPU is and how fast it multiplies matrices in fp32 and in bf16.

`cpu_info()` names the CPU and the flags that decide bf16 speed; `native_bf16()` says whether
it computes bf16 in hardware (x86: AVX512-BF16 or AMX); `measure_gemm()` times square matrix
products in fp32 and under bf16 autocast, bounded in time so that a CPU that emulates bf16
(about 1 GFLOP/s) costs a fraction of a second. `train.device` uses them to resolve
`precision="auto"` on CPU; `bench perf` reports them.
"""

from __future__ import annotations

import os
import platform
import time
from functools import lru_cache
from pathlib import Path

import torch

# flags that decide bf16 speed (x86 /proc/cpuinfo names; `bf16`/`sve` are ARM's)
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "bf16", "sve")
_X86 = {"x86_64", "amd64", "i386", "i686", "x86"}


@lru_cache(maxsize=1)
def _proc_cpuinfo() -> tuple[str | None, frozenset[str]]:
    """(model name, flags) from /proc/cpuinfo; (None, empty) where it cannot be read."""
    model, flags = None, frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if model is None and key in ("model name", "hardware", "cpu model"):
            model = value.strip() or None
        elif not flags and key in ("flags", "features"):
            flags = frozenset(value.split())
        if model is not None and flags:
            break
    return model, flags


def _torch_flag(name: str) -> bool | None:
    """`torch.cpu.<name>()` where this torch has it (private helpers: guarded), else None."""
    fn = getattr(torch.cpu, name, None)
    if fn is None:
        return None
    try:
        return bool(fn())
    except Exception:  # noqa: BLE001 - a helper that fails says nothing about the CPU
        return None


def cpu_capability() -> str | None:
    """torch's dispatch level for this CPU (`AVX2`, `AVX512`, ...), None where torch cannot say."""
    fn = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    try:
        return str(fn()) if fn is not None else None
    except Exception:  # noqa: BLE001
        return None


def cpu_info() -> dict:
    """The CPU as plain values: model, architecture, torch capability, flags, cores, threads.

    `flags` maps each of RELEVANT_FLAGS to True/False as /proc/cpuinfo lists it (empty where
    that file is missing); `torch_avx512_bf16` / `torch_amx_tile`: torch's own answer (None
    where this torch lacks the helper).
    """
    model, flags = _proc_cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "model": model or platform.processor() or None,
        "arch": platform.machine(),
        "torch_capability": cpu_capability(),
        "torch_avx512_bf16": _torch_flag("_is_avx512_bf16_supported"),
        "torch_amx_tile": _torch_flag("_is_amx_tile_supported"),
        "flags": {f: f in flags for f in RELEVANT_FLAGS} if flags else {},
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }


def native_bf16(info: dict | None = None) -> bool | None:
    """Whether the CPU computes bf16 in hardware: True/False on x86 (AVX512-BF16 or AMX, by
    torch's report, else /proc/cpuinfo), None where it cannot be told (other architectures,
    no report): then only a measurement decides."""
    info = info or cpu_info()
    if str(info.get("arch", "")).lower() not in _X86:
        return None
    torch_says = [info.get("torch_avx512_bf16"), info.get("torch_amx_tile")]
    if any(v is not None for v in torch_says):
        return any(bool(v) for v in torch_says)
    flags = info.get("flags") or {}
    if flags:
        return bool(flags.get("avx512_bf16") or flags.get("amx_tile") or flags.get("amx_bf16"))
    return None


def _matmul_seconds(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None) -> float:
    start = time.perf_counter()
    if dtype is None:
        torch.mm(a, b)
    else:
        with torch.autocast("cpu", dtype=dtype):
            torch.mm(a, b)
    return time.perf_counter() - start


def measure_gemm(
    *, threads: int | None = None, max_n: int = 512, probe_n: int = 128, repeats: int = 3, max_repeats: int = 20,
    budget_s: float = 0.5,
) -> dict:
    """GFLOP/s of an n x n matrix product in fp32 and under bf16 autocast on the CPU, with
    `threads` torch threads (None: torch's current count; restored after).

    First a probe at `probe_n` (one warm-up call and one timed call each), then the largest
    n in (max_n, max_n/2, ..., probe_n) whose `repeats` + 1 calls of both precisions fit in
    what is left of `budget_s` at the probe's rates; there the two precisions alternate call
    by call (load from other processes hits both alike), at least `repeats` and at most
    `max_repeats` times while the budget lasts, and the fastest call of each counts (a short
    call is more likely to run unpreempted on a shared CPU than a long one). A CPU that
    emulates bf16 stays at the probe size. Returns `fp32_gflops`, `bf16_gflops`, `n`,
    `repeats`, `threads`, `seconds` (the measurement's own wall time).
    """
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _measure_gemm(max_n=max_n, probe_n=probe_n, repeats=repeats, max_repeats=max_repeats, budget_s=budget_s)
    finally:
        torch.set_num_threads(old_threads)


def _measure_gemm(*, max_n: int, probe_n: int, repeats: int, max_repeats: int, budget_s: float) -> dict:
    start = time.perf_counter()
    deadline = start + budget_s
    gen = torch.Generator().manual_seed(0)
    dtypes = {"fp32": None, "bf16": torch.bfloat16}

    def run(n: int, least: int, most: int) -> tuple[dict[str, float], int]:
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        for dtype in dtypes.values():  # warm-up: oneDNN builds its kernel per shape
            _matmul_seconds(a, b, dtype)
        best = {k: float("inf") for k in dtypes}
        calls = 0
        while calls < least or (calls < most and time.perf_counter() < deadline):
            for k, dtype in dtypes.items():
                best[k] = min(best[k], _matmul_seconds(a, b, dtype))
            calls += 1
        return {k: 2.0 * n**3 / max(t, 1e-9) / 1e9 for k, t in best.items()}, calls

    def cost(n: int, rates: dict[str, float]) -> float:
        return (repeats + 1) * 2.0 * n**3 / 1e9 * sum(1.0 / max(r, 1e-6) for r in rates.values())

    with torch.no_grad():
        (rates, calls), n_used = run(probe_n, 1, 1), probe_n
        n = max_n
        while n >= probe_n:
            if cost(n, rates) <= deadline - time.perf_counter():
                (rates, calls), n_used = run(n, repeats, max_repeats), n
                break
            n //= 2
    return {
        "fp32_gflops": round(rates["fp32"], 2),
        "bf16_gflops": round(rates["bf16"], 2),
        "n": n_used,
        "repeats": calls,
        "threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - start, 3),
    }
