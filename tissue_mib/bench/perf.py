"""`bench perf`: speed figures (the machine and its GEMM GFLOP/s, patches/s, preprocessing
time, training and scoring spots/s).

Speed targets live here, printed as numbers, not in timed unit tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time

import torch

from tissue_mib.settings import chunk_spots

logger = logging.getLogger(__name__)
CACHE_ENV = "TISSUE_MIB_CACHE_DIR"


def perf_machine(*, device: str = "auto", quick: bool = False) -> dict:
    """The machine as named values with units: CPU model, torch's CPU capability, the flags
    that decide bf16 speed, cores and torch threads, GEMM GFLOP/s in fp32 and under bf16
    autocast (on torch's threads and on one thread, the figure `precision="auto"` decides
    by), and what `auto` resolves to on `device` with its reason."""
    from tissue_mib.train import hardware
    from tissue_mib.train.device import precision_choice, resolve_device

    info = hardware.cpu_info()
    budget = 0.6 if quick else 2.0
    gemm = hardware.measure_gemm(budget_s=budget, max_n=512 if quick else 1024)
    dev = resolve_device(device)
    choice = precision_choice("auto", dev)
    cpu_choice = choice if dev.type == "cpu" else precision_choice("auto", torch.device("cpu"))
    one = cpu_choice.gemm if cpu_choice.gemm else hardware.measure_gemm(threads=1, budget_s=budget)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu_model": info["model"],
        "arch": info["arch"],
        "torch_version": info["torch_version"],
        "torch_cpu_capability": info["torch_capability"],
        "torch_avx512_bf16": info["torch_avx512_bf16"],
        "torch_amx_tile": info["torch_amx_tile"],
        "cpu_flags": info["flags"],
        "native_bf16": hardware.native_bf16(info),
        "cores": info["cores"],
        "cores_usable": info["cores_usable"],
        "torch_threads": info["torch_threads"],
        "load_avg_1min": load,
        "gemm_n": gemm["n"],
        "gemm_fp32_gflops": gemm["fp32_gflops"],
        "gemm_bf16_gflops": gemm["bf16_gflops"],
        "gemm_1thread_n": one["n"],
        "gemm_1thread_fp32_gflops": one["fp32_gflops"],
        "gemm_1thread_bf16_gflops": one["bf16_gflops"],
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "precision_auto": choice.resolved,
        "precision_auto_reason": choice.reason,
    }


def perf_training(
    *, method: str = "omib", histology_encoder: str = "small-cnn", n_spots: int = 2500, n_genes: int = 3000,
    epochs: int = 1, precisions: tuple[str, ...] = ("fp32", "bf16"), device: str = "auto", seed: int = 0,
) -> list[dict]:
    """Train `method` (GCN genes + `histology_encoder`) for `epochs` per phase on one prepared
    Visium-shaped section of `n_spots`, then score it; one row per precision with spots/s."""
    from tissue_mib.bench.memory import PeakRSS
    from tissue_mib.pp.benchmark import synthetic_section
    from tissue_mib.train import TrainConfig, fit, predict, resolve_device

    data, n_panel = _training_data([synthetic_section("PERF", n_spots=n_spots, n_genes=n_genes, seed=seed)])
    rows = []
    for precision in precisions:
        model = _svdd_method(method, n_panel, histology_encoder, seed)
        config = TrainConfig(epochs=epochs, device=device, precision=precision, seed=seed, patience=None)
        with PeakRSS() as peak:
            t0 = time.perf_counter()
            history = fit(model, data, config=config)
            total = time.perf_counter() - t0
            t_epochs = sum(r["time_s"] for r in history.records)
            t0 = time.perf_counter()
            predict(model, data, config=config)
            t_pred = time.perf_counter() - t0
        rows.append({
            "bench": f"{method} gcn+{histology_encoder}",
            "precision": precision,
            "device": str(resolve_device(device)),
            "spots": data.n,
            "epoch_s": t_epochs / len(history.records),
            "train_spots_per_s": len(history.records) * data.n / t_epochs,
            "setup_s": total - t_epochs,
            "score_spots_per_s": data.n / t_pred,
            "peak_rss_gb": peak.gb,
        })
    return rows


def perf_histology(
    *, encoders: tuple[str, ...] = ("resnet18", "small-cnn"), precisions: tuple[str, ...] = ("fp32", "bf16", "auto"),
    batch: int = 128, patch: int = 32, budget_s: float = 6.0, gemm_gflops: dict[str, float] | None = None,
    device: str = "auto", seed: int = 0,
) -> list[dict]:
    """Each histology encoder (the training default: 256-d output, SVDD norms) on uint8
    `patch` x `patch` patches in batches of `batch`, per precision: forward (eval, no grad)
    and forward + backward (train mode) samples/s, the fastest of repeated calls within
    `budget_s` per row; GFLOP per sample (`torch.utils.flop_counter`, forward and forward +
    backward); the achieved GFLOP/s and its fraction of the GEMM bound, the GEMM GFLOP/s of the
    faster precision (`gemm_gflops` {"fp32": ., "bf16": .}, the machine block's, on CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    from tissue_mib.bench.memory import PeakRSS
    from tissue_mib.nn.encoders import ENCODERS
    from tissue_mib.train.device import place, precision_choice, resolve_device

    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (batch, patch, patch, 3), dtype=torch.uint8, generator=gen).to(dev)
    bound = max(gemm_gflops.values()) if gemm_gflops and dev.type == "cpu" else None
    rows = []
    for name in encoders:
        torch.manual_seed(seed)
        net = place(ENCODERS.build(name, svdd=True, out_dim=256), dev)
        with FlopCounterMode(display=False) as fwd_flops, torch.no_grad():
            net.eval()(x)
        with FlopCounterMode(display=False) as train_flops:
            net.train()(x).float().sum().backward()
        gflop_fwd = fwd_flops.get_total_flops() / batch / 1e9
        gflop_train = train_flops.get_total_flops() / batch / 1e9
        for precision in precisions:
            choice = precision_choice(precision, dev)
            with PeakRSS() as peak:
                fwd_s = _fastest(lambda: _encoder_call(net.eval(), x, choice.dtype, backward=False), dev, budget_s / 3)
                train_s = _fastest(lambda: _encoder_call(net.train(), x, choice.dtype, backward=True), dev, budget_s * 2 / 3)
            train_rate = batch / train_s
            rows.append({
                "encoder": name, "precision": precision, "resolved": choice.resolved, "device": str(dev), "batch": batch,
                "patch_px": patch, "gflop_forward_per_sample": gflop_fwd, "gflop_train_per_sample": gflop_train,
                "forward_samples_per_s": batch / fwd_s, "train_samples_per_s": train_rate,
                "train_gflops": train_rate * gflop_train, "gemm_bound_gflops": bound,
                "bound_train_samples_per_s": bound / gflop_train if bound else None,
                "fraction_of_bound": train_rate * gflop_train / bound if bound else None, "peak_rss_gb": peak.gb,
            })  # fmt: skip
    return rows


def _encoder_call(net, x, dtype, *, backward: bool) -> None:
    with torch.autocast(device_type=x.device.type, dtype=dtype, enabled=dtype is not None):
        if not backward:
            with torch.no_grad():
                net(x)
            return
        out = net(x)
    out.float().sum().backward()


def _fastest(call, dev: torch.device, budget_s: float) -> float:
    """Seconds of the fastest of at least 2 calls of `call` (after one warm-up) within `budget_s`."""
    call()
    best, spent, n = float("inf"), 0.0, 0
    while n < 2 or spent < budget_s:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        call()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        took = time.perf_counter() - t0
        best, spent, n = min(best, took), spent + took, n + 1
    return best


def perf_epochs(
    *, methods: tuple[str, ...] = ("omib", "ibma"), histology_encoder: str = "resnet18", n_sections: int = 8,
    n_spots: int = 2500, n_genes: int = 3000, precision: str = "auto", device: str = "auto", seed: int = 0,
) -> list[dict]:
    """One epoch per phase of each method (GCN genes + `histology_encoder`, the method's
    defaults otherwise) on a cohort of `n_sections` Visium-shaped sections of `n_spots`, with
    where each epoch's time went (`train.profile.EpochProfile`: seconds and shares of data,
    histology, genes, fusion/objective, optimiser, outside the steps); one row per epoch."""
    from tissue_mib.bench.memory import PeakRSS
    from tissue_mib.pp.benchmark import synthetic_section
    from tissue_mib.train import TrainConfig, fit, resolve_device
    from tissue_mib.train.device import precision_choice
    from tissue_mib.train.profile import EpochProfile

    sections = [synthetic_section(f"PERF-{i}", n_spots=n_spots, n_genes=n_genes, seed=seed + i) for i in range(n_sections)]
    data, n_panel = _training_data(sections)
    dev = resolve_device(device)
    resolved = precision_choice(precision, dev).resolved
    rows = []
    for method in methods:
        model = _svdd_method(method, n_panel, histology_encoder, seed)
        profile = EpochProfile()
        config = TrainConfig(epochs=1, device=device, precision=precision, seed=seed, patience=None)
        with PeakRSS() as peak:
            start = time.perf_counter()
            fit(model, data, config=config, profile=profile)
            total = time.perf_counter() - start
        setup = total - sum(e["epoch_s"] for e in profile.epochs)
        for epoch in profile.epochs:
            rows.append({"bench": f"{method} gcn+{histology_encoder}", "phase": epoch.pop("phase"), "precision": precision,
                         "resolved": resolved, "device": str(dev), "spots": data.n, "setup_s": setup,
                         "train_spots_per_s": data.n / epoch["epoch_s"], **epoch, "peak_rss_gb": peak.gb})  # fmt: skip
    return rows


def _training_data(sections) -> tuple:
    """`sections` prepared (no cache) as one MultiModalData of genes + histology with the spot
    graph; and the panel size."""
    from tissue_mib import pp
    from tissue_mib.tl.tensors import to_data

    prepared, panel = pp.prepare(sections, use_cache=False)
    return to_data(prepared, ("genes", "histology"), graph=True), len(panel)


def _svdd_method(method: str, n_genes: int, histology_encoder: str, seed: int):
    """`method` under Deep SVDD with GCN genes (`n_genes` inputs) and `histology_encoder`, seeded."""
    from tissue_mib.methods import build_method

    torch.manual_seed(seed)
    return build_method(
        method,
        modalities={"genes": {"encoder": "gcn", "in_dim": n_genes}, "histology": {"encoder": histology_encoder}},
        task={"kind": "svdd"},
    )


def perf_scoring(*, method: str = "omib", histology_encoder: str = "small-cnn", n_spots: int = 3000,
                 large_spots: int = 100_000, n_genes: int = 5000, train_spots: int = 1000, device: str = "auto",
                 seed: int = 0) -> dict:
    """`tl.score` figures: a model (`method`, GCN genes + `histology_encoder`, one epoch per phase on
    two Visium-shaped sections of `train_spots`; its quality is not the point) scores a Visium-shaped
    section of `n_spots` (block `scoring`) and a Visium HD-shaped section of `large_spots` 8 µm
    bins (block `scoring_large`), each prepared cold first, then scored from that cached
    preprocessing (`score_section`). Everything is cached in a temporary folder."""
    from tissue_mib import tl
    from tissue_mib.pp.benchmark import synthetic_hd_section, synthetic_section

    with _private_cache():
        cohort = [synthetic_section(f"PERF-NB{i}", n_spots=train_spots, n_genes=n_genes, seed=seed + i) for i in range(2)]
        preset = {"modalities": {"histology": {"encoder": histology_encoder}}, "train": {"patience": None}}
        model = tl.fit(cohort, method=method, config=preset, epochs=1, device=device, seed=seed)
        del cohort
        scoring = score_section(model, synthetic_section("PERF-BC", n_spots=n_spots, n_genes=n_genes, seed=seed + 2))
        large = score_section(model, synthetic_hd_section("PERF-HD", n_spots=large_spots, n_genes=n_genes, seed=seed + 3))
    return {"scoring": scoring, "scoring_large": large}


def score_section(model, section) -> dict:
    """Seconds and peak resident memory (GB, the whole process, `section` itself included) of
    preparing `section` cold (`pp.prepare` into the cache), then of `tl.score` on it served from the cache."""
    from tissue_mib import pp, tl
    from tissue_mib.bench.memory import PeakRSS

    with PeakRSS() as prep_peak:
        start = time.perf_counter()
        pp.prepare(section, panel=model.panel, config=model.prep)
        prep_s = time.perf_counter() - start
    with PeakRSS() as peak:
        start = time.perf_counter()
        tl.score(section, model, copy=True)
        score_s = time.perf_counter() - start
    layout = next(iter(section.uns["spatial"].values()))["metadata"]["layout"]
    return {"spots": section.n_obs, "layout": layout, "method": model.name, "prepare_s": prep_s,
            "prepare_peak_rss_gb": prep_peak.gb, "seconds": score_s, "spots_per_s": section.n_obs / score_s,
            "peak_rss_gb": peak.gb, "peak_rss_exact": peak.exact, "chunk_spots": chunk_spots(), "load_avg_1min": _load()}


@contextlib.contextmanager
def _private_cache():
    """TISSUE_MIB_CACHE_DIR set to a temporary folder (removed after), as it was before on exit."""
    previous = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_ENV] = tmp
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = previous


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None
