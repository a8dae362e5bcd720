"""Device and precision resolution (auto on CPU with the capability and the measurement
faked, its cache); a CUDA run where a GPU exists."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
import yaml

from tissue_mib.errors import InputError
from tissue_mib.train import TrainConfig, fit, hardware, predict, resolve_device, resolve_precision
from tissue_mib.train import device as device_mod
from tissue_mib.train.data import BatchLoader
from tissue_mib.train.device import cpu_threads, deterministic, grad_scaler, place, precision_choice

CPU = torch.device("cpu")


def fake_cpu(*, arch="x86_64", avx512_bf16=False, amx=False, model="Fake CPU 9000"):
    flags = {"avx2": True, "avx512f": avx512_bf16, "avx512_bf16": avx512_bf16, "amx_tile": amx, "amx_bf16": amx}
    return {
        "model": model, "arch": arch, "torch_capability": "AVX512" if avx512_bf16 else "AVX2",
        "torch_avx512_bf16": avx512_bf16 if arch == "x86_64" else False, "torch_amx_tile": amx if arch == "x86_64" else False,
        "flags": flags, "cores": 2, "cores_usable": 2, "torch_threads": 1, "torch_version": torch.__version__,
    }


@pytest.fixture
def fake_machine(monkeypatch, tmp_path):
    """A fresh process's view of a fake CPU: set `.info` and `.rates`; `.calls` counts measurements."""

    class Machine:
        info = fake_cpu()
        rates = {"fp32": 100.0, "bf16": 1.0}
        calls = 0

    def measure(**kw):
        Machine.calls += 1
        return {"fp32_gflops": Machine.rates["fp32"], "bf16_gflops": Machine.rates["bf16"], "n": 1024,
                "repeats": 3, "threads": kw.get("threads"), "seconds": 0.1}  # fmt: skip

    monkeypatch.setattr(hardware, "cpu_info", lambda: dict(Machine.info))
    monkeypatch.setattr(hardware, "measure_gemm", measure)
    monkeypatch.setattr(device_mod, "_auto_cpu", {})
    monkeypatch.setattr(device_mod, "_logged", set())
    monkeypatch.setenv(device_mod.CACHE_ENV, str(tmp_path / "cache" / "cpu_precision.json"))
    monkeypatch.delenv(device_mod.PRECISION_ENV, raising=False)
    Machine.cache = tmp_path / "cache" / "cpu_precision.json"
    return Machine


def test_auto_device_follows_cuda():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_device_and_precision():
    with pytest.raises(InputError, match="tpu"):
        resolve_device("tpu")
    with pytest.raises(InputError, match="fp8"):
        resolve_precision("fp8", torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu_is_an_input_error():
    with pytest.raises(InputError, match="no CUDA"):
        resolve_device("cuda")


def test_precision_choice_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) in (None, torch.bfloat16)
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    assert resolve_precision("fp16", cpu) is torch.float16
    assert grad_scaler(torch.float16, cpu).is_enabled() and not grad_scaler(torch.bfloat16, cpu).is_enabled()


def test_auto_without_native_bf16_is_fp32_without_measuring(fake_machine):
    fake_machine.info = fake_cpu(avx512_bf16=False, amx=False)  # an AVX2-only x86 CPU
    choice = precision_choice("auto", CPU)
    assert choice.resolved == "fp32" and choice.dtype is None and "without native bf16" in choice.reason
    assert fake_machine.calls == 0 and not fake_machine.cache.exists()
    assert resolve_precision("auto", CPU) is None


@pytest.mark.parametrize("flags", [dict(avx512_bf16=True), dict(amx=True), dict(arch="aarch64")])
def test_auto_measures_where_bf16_may_be_native_and_caches_per_machine(fake_machine, flags):
    fake_machine.info = fake_cpu(**flags)
    fake_machine.rates = {"fp32": 60.0, "bf16": 150.0}
    choice = precision_choice("auto", CPU)
    assert choice.resolved == "bf16" and choice.dtype is torch.bfloat16 and not choice.cached
    assert choice.gemm["bf16_gflops"] == 150.0 and "150.0 GFLOP/s" in choice.reason and fake_machine.calls == 1
    assert precision_choice("auto", CPU) == choice and fake_machine.calls == 1  # same process: remembered
    device_mod._auto_cpu.clear()  # a new process on the same machine: read from the cache file
    again = precision_choice("auto", CPU)
    assert again.resolved == "bf16" and again.cached and fake_machine.calls == 1
    entries = json.loads(fake_machine.cache.read_text())
    assert list(entries) == [device_mod.machine_key(fake_machine.info)] and "Fake CPU 9000" in list(entries)[0]
    device_mod._auto_cpu.clear()  # another CPU (or another torch): measured anew
    fake_machine.info = fake_machine.info | {"model": "Other CPU"}
    precision_choice("auto", CPU)
    assert fake_machine.calls == 2 and len(json.loads(fake_machine.cache.read_text())) == 2


def test_auto_keeps_fp32_when_measured_bf16_is_not_faster(fake_machine):
    fake_machine.info = fake_cpu(avx512_bf16=True)
    fake_machine.rates = {"fp32": 100.0, "bf16": 110.0}  # below BF16_MIN_SPEEDUP
    choice = precision_choice("auto", CPU)
    assert choice.resolved == "fp32" and fake_machine.calls == 1 and "1.10x" in choice.reason


def test_auto_choice_is_logged_once(fake_machine, caplog):
    fake_machine.info = fake_cpu(avx512_bf16=True)
    fake_machine.rates = {"fp32": 50.0, "bf16": 200.0}
    with caplog.at_level(logging.INFO, logger="tissue_mib.train.device"):
        for _ in range(3):
            resolve_precision("auto", CPU)
    lines = [r.getMessage() for r in caplog.records if r.name == "tissue_mib.train.device"]
    assert len(lines) == 1 and "precision auto on cpu: bf16" in lines[0]


def test_environment_fixes_auto_on_cpu(fake_machine, monkeypatch):
    fake_machine.info = fake_cpu(avx512_bf16=False)
    monkeypatch.setenv(device_mod.PRECISION_ENV, "bf16")
    assert precision_choice("auto", CPU).resolved == "bf16" and fake_machine.calls == 0
    monkeypatch.setenv(device_mod.PRECISION_ENV, "measure")  # measure even where the flags decide
    fake_machine.rates = {"fp32": 100.0, "bf16": 1.0}
    assert precision_choice("auto", CPU).resolved == "fp32" and fake_machine.calls == 1
    monkeypatch.setenv(device_mod.PRECISION_ENV, "fp8")
    with pytest.raises(InputError, match="TISSUE_MIB_CPU_PRECISION"):
        precision_choice("auto", CPU)


def test_unwritable_cache_still_decides(fake_machine, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(device_mod.CACHE_ENV, str(blocker / "sub" / "cache.json"))  # a file where a folder should be
    fake_machine.info = fake_cpu(amx=True)
    fake_machine.rates = {"fp32": 50.0, "bf16": 250.0}
    assert precision_choice("auto", CPU).resolved == "bf16"


def test_fit_uses_and_model_directory_records_the_auto_choice(fake_machine, tiny, data, tmp_path):
    from tissue_mib.train.modeldir import ModelDir

    fake_machine.info = fake_cpu(avx512_bf16=False)
    m = tiny()
    cfg = TrainConfig(epochs=1, batch_size=32, device="cpu", precision="auto")
    history = fit(m, data, config=cfg)
    assert m.amp_dtype is None and m.last_encoder_dtype == torch.float32
    md = ModelDir(method=m, panel={"genes": ["G"], "gene_ids": ["E"], "hash": "h"}, train_config=cfg, history=history)
    md._write(tmp_path)
    block = yaml.safe_load((tmp_path / "config.yaml").read_text())["precision"]
    assert block["requested"] == "auto" and block["resolved"] == "fp32" and block["device"] == "cpu"
    assert "without native bf16" in block["reason"]


def test_measure_gemm_is_bounded_and_restores_threads():
    before = torch.get_num_threads()
    out = hardware.measure_gemm(threads=1, max_n=128, probe_n=32, repeats=2, budget_s=0.5)
    assert out["fp32_gflops"] > 0 and out["bf16_gflops"] > 0 and out["threads"] == 1 and out["n"] in (32, 64, 128)
    assert torch.get_num_threads() == before
    tiny_budget = hardware.measure_gemm(max_n=1024, probe_n=32, budget_s=0.0)  # no time left: the probe only
    assert tiny_budget["n"] == 32 and tiny_budget["repeats"] == 1


def test_cpu_info_names_the_flags():
    info = hardware.cpu_info()
    assert info["torch_version"] == torch.__version__ and info["torch_threads"] == torch.get_num_threads()
    assert set(info["flags"]) in (set(), set(hardware.RELEVANT_FLAGS))
    assert hardware.native_bf16(fake_cpu(avx512_bf16=False)) is False
    assert hardware.native_bf16(fake_cpu(amx=True)) is True
    assert hardware.native_bf16(fake_cpu(arch="aarch64")) is None


def test_deterministic_restores_the_global_flag():
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before


def test_cpu_threads_set_and_restored(tiny, data):
    before = torch.get_num_threads()  # 1 (tests/train/conftest.py)
    seen = []
    fit(tiny(), data, config=TrainConfig(epochs=1, device="cpu", threads=before + 1),
        callbacks=[lambda r: seen.append(torch.get_num_threads())])
    assert seen == [before + 1] and torch.get_num_threads() == before
    with pytest.raises(InputError, match="threads"):
        with cpu_threads(0):
            pass


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_and_predict_on_cuda(tiny, data):
    torch.manual_seed(0)
    m = tiny()
    h = fit(m, data, config=TrainConfig(epochs=3, batch_size=16, lr=1e-2, device="cuda", precision="auto"))
    assert next(m.parameters()).device.type == "cuda"
    assert m.amp_dtype in (torch.bfloat16, torch.float16)
    assert h.column("loss")[-1] < h.column("loss")[0]
    out = predict(m, data, device="cuda")
    assert out["score"].shape == (data.n,) and np.isfinite(out["score"]).all()


def test_place_on_cpu_keeps_the_weights_contiguous():
    conv = torch.nn.Conv2d(3, 4, 3)
    place(conv, torch.device("cpu"))
    assert conv.weight.is_contiguous()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_puts_conv_weights_channels_last_and_batches_on_the_gpu(data):
    conv = torch.nn.Conv2d(3, 4, 3)
    place(conv, torch.device("cuda"))
    assert conv.weight.is_cuda and conv.weight.is_contiguous(memory_format=torch.channels_last)
    batch = next(iter(BatchLoader(data, batch_size=8, device="cuda")))
    assert all(v.is_cuda for v in batch.values())
