"""tests/nn: one CPU thread per test for torch and BLAS (tiny tensors; extra threads only contend on busy CI machines)."""

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
