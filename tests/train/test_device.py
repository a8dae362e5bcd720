"""Device and precision resolution; a CUDA run where a GPU exists."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.train import TrainConfig, fit, predict, resolve_device, resolve_precision
from tissue_mib.train.device import cpu_threads, deterministic, grad_scaler


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
    assert resolve_precision("auto", cpu) is torch.bfloat16
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("fp16", cpu) is torch.float16
    assert grad_scaler(torch.float16, cpu).is_enabled() and not grad_scaler(torch.bfloat16, cpu).is_enabled()


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
