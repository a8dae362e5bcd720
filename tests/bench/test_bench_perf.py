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
    monkeypatch.setattr("tissue_mib.bench.perf.perf_histology", lambda **kw: [{
        "encoder": "resnet18", "precision": "auto", "resolved": "fp32", "batch": 32, "gflop_train_per_sample": 3.3,
        "forward_samples_per_s": 100.0, "train_samples_per_s": 20.0, "train_gflops": 66.0,
        "bound_train_samples_per_s": 24.0, "fraction_of_bound": 0.83}])  # fmt: skip
    share = {"genes": 0.1, "histology": 0.6, "data": 0.05, "optimiser": 0.05, "fusion_objective": 0.15, "epoch_other": 0.05}
    monkeypatch.setattr("tissue_mib.bench.perf.perf_epochs", lambda **kw: [{
        "bench": "omib gcn+resnet18", "phase": "main", "resolved": "fp32", "spots": 600, "epoch_s": 2.0, "share": share}])
    return calls


def test_perf_out_is_a_folder_with_perf_json_and_the_machine(fast_perf, tmp_path):
    out = tmp_path / "perf"
    res = runner.invoke(_app, ["-q", "bench", "perf", "--quick", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    figures = json.loads((out / "perf.json").read_text())
    assert {"machine", "histology", "patches", "prepare", "training", "epochs", "scoring", "scoring_large"} <= set(figures)
    assert "fraction_of_bound" in res.output and "histology_%" in res.output
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


def test_perf_histology_counts_flops_and_relates_the_rate_to_the_gemm_bound():
    from tissue_mib.bench.perf import perf_histology

    rows = perf_histology(precisions=("fp32",), batch=4, patch=32, budget_s=0.01, gemm_gflops={"fp32": 50.0, "bf16": 100.0},
                          device="cpu")  # fmt: skip
    by = {r["encoder"]: r for r in rows}
    assert set(by) == {"resnet18", "small-cnn"}
    resnet, small = by["resnet18"], by["small-cnn"]
    assert 1.0 < resnet["gflop_forward_per_sample"] < 1.3  # ResNet-18, 3x3 stem, 32x32: 0.56 GMAC
    assert 2.5 < resnet["gflop_train_per_sample"] / resnet["gflop_forward_per_sample"] < 3.5  # backward ~ 2x forward
    assert small["gflop_forward_per_sample"] < resnet["gflop_forward_per_sample"] / 10
    for r in rows:
        assert r["gemm_bound_gflops"] == 100.0 and r["train_samples_per_s"] > 0 and r["forward_samples_per_s"] > 0
        assert r["fraction_of_bound"] == pytest.approx(r["train_samples_per_s"] * r["gflop_train_per_sample"] / 100.0)


def test_perf_epochs_splits_each_epoch_into_its_parts():
    from tissue_mib.bench.perf import perf_epochs

    rows = perf_epochs(methods=("concat-svdd",), histology_encoder="small-cnn", n_sections=2, n_spots=80, n_genes=200,
                       precision="fp32", device="cpu")  # fmt: skip
    assert [r["phase"] for r in rows] == ["main"]
    row = rows[0]
    assert row["spots"] == 160 and row["epoch_s"] > 0 and row["histology"] > 0 and row["genes"] > 0
    assert sum(row["share"].values()) == pytest.approx(1.0, abs=0.05)
