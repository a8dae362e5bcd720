"""tests/nn: run torch on one CPU thread per test (tiny tensors; extra threads only contend on busy CI machines)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
