"""`bench perf` through the CLI: --out is a folder holding perf.json with the machine block
(the heavy figures and the GEMM measurement faked; the real ones are `bench perf --quick`)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tissue_mib.cli.main import _app
from tissue_mib.train import device as device_mod
from tissue_mib.train import hardware

runner = CliRunner()
MACHINE_KEYS = {
    "cpu_model", "arch", "torch_version", "torch_cpu_capability", "torch_avx512_bf16", "torch_amx_tile", "cpu_flags",
    "native_bf16", "cores", "cores_usable", "torch_threads", "load_avg_1min", "gemm_n", "gemm_fp32_gflops",
    "gemm_bf16_gflops", "gemm_1thread_n", "gemm_1thread_fp32_gflops", "gemm_1thread_bf16_gflops", "device", "gpu",
    "precision_auto", "precision_auto_reason",
}  # fmt: skip


@pytest.fixture
def fast_perf(monkeypatch, tmp_path):
    """Fake patches/prepare/training figures and GEMM rates; a fresh precision cache."""
    calls = []

    def gemm(*, threads=None, **kw):
        calls.append(threads)
        return {"fp32_gflops": 80.0, "bf16_gflops": 8.0 if threads is None else 1.0, "n": 512, "repeats": 3,
                "threads": threads or 2, "seconds": 0.01}  # fmt: skip

    monkeypatch.setattr(hardware, "measure_gemm", gemm)
    monkeypatch.setattr(device_mod, "_auto_cpu", {})
    monkeypatch.setenv(device_mod.CACHE_ENV, str(tmp_path / "precision.json"))
    monkeypatch.delenv(device_mod.PRECISION_ENV, raising=False)
    monkeypatch.setattr("tissue_mib.pp.benchmark.perf_patches", lambda **kw: {
        "n_patches": 10, "size": 32, "seconds": 0.1, "patches_per_s": 100.0, "peak_rss_gb": 1.0, "load_avg_1min": 1.0})
    monkeypatch.setattr("tissue_mib.pp.benchmark.perf_prepare", lambda **kw: {
        "n_sections": 2, "n_spots": 300, "seconds": 1.0, "seconds_cached": 0.1, "peak_rss_gb": 1.0})
    monkeypatch.setattr("tissue_mib.bench.perf.perf_training", lambda **kw: [{
        "bench": "omib gcn+small-cnn", "precision": p, "device": "cpu", "spots": 300, "epoch_s": 1.0,
        "train_spots_per_s": 300.0, "setup_s": 0.5, "score_spots_per_s": 900.0, "peak_rss_gb": 1.0}
        for p in ("fp32", "bf16")])  # fmt: skip
    block = {"spots": 300, "layout": "visium", "method": "omib", "prepare_s": 1.0, "prepare_peak_rss_gb": 1.0,
             "seconds": 1.0, "spots_per_s": 300.0, "peak_rss_gb": 1.0}  # fmt: skip
    monkeypatch.setattr("tissue_mib.bench.perf.perf_scoring", lambda **kw: {"scoring": block, "scoring_large": block})
    return calls


def test_perf_out_is_a_folder_with_perf_json_and_the_machine(fast_perf, tmp_path):
    out = tmp_path / "perf"
    res = runner.invoke(_app, ["-q", "bench", "perf", "--quick", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    figures = json.loads((out / "perf.json").read_text())
    assert {"machine", "patches", "prepare", "training", "scoring", "scoring_large"} <= set(figures)
    machine = figures["machine"]
    assert MACHINE_KEYS <= set(machine)
    assert machine["gemm_fp32_gflops"] == 80.0 and machine["gemm_bf16_gflops"] == 8.0
    assert machine["precision_auto"] == "fp32" and machine["device"] == "cpu"
    assert machine["cores"] >= 1 and machine["torch_threads"] >= 1
    assert "precision auto on cpu: fp32" in res.output and "GEMM 512^2" in res.output and "perf.json" in res.output
    assert fast_perf.count(None) == 1 and fast_perf.count(1) <= 1  # one-thread figure measured once at most


def test_perf_out_must_not_be_a_file(fast_perf, tmp_path):
    file = tmp_path / "perf.json"
    file.write_text("{}")
    res = runner.invoke(_app, ["bench", "perf", "--quick", "--out", str(file)])
    assert res.exit_code == 2 and "folder" in res.output


def test_perf_scoring_scores_a_visium_and_a_visium_hd_section():
    """The real scoring blocks at toy sizes: seconds, spots/s and peak resident memory of each step."""
    from tissue_mib.bench.memory import PeakRSS
    from tissue_mib.bench.perf import perf_scoring

    blocks = perf_scoring(method="concat-svdd", n_spots=150, large_spots=300, n_genes=200, train_spots=150, device="cpu")
    assert blocks["scoring"]["layout"] == "visium" and blocks["scoring_large"]["layout"] == "visium_hd"
    for block in blocks.values():
        assert block["seconds"] > 0 and block["spots_per_s"] > 0 and 0 < block["peak_rss_gb"] < 100
        assert block["prepare_peak_rss_gb"] > 0
    assert blocks["scoring_large"]["spots"] == 300
    with PeakRSS() as before:
        pass
    with PeakRSS() as peak:
        block = bytearray(b"\x01") * 300_000_000  # 0.3 GB, every page written
    if peak.exact:
        assert peak.gb - before.gb > 0.25
    del block
