"""The workflows' sequence encoders, registered in the shared ENCODERS registry."""

import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS


@pytest.mark.parametrize("name", ["conv1d", "seq-transformer"])
def test_shapes_registry_and_any_length(name):
    enc = ENCODERS.build(name, in_dim=7, out_dim=32)
    assert enc.out_dim == 32
    assert enc(torch.randn(5, 11, 7)).shape == (5, 32)
    assert enc(torch.randn(2, 3, 7)).shape == (2, 32)
    with pytest.raises(InputError, match=r"\(N, T, 7\)"):
        enc(torch.randn(5, 7))


@pytest.mark.parametrize("name", ["conv1d", "seq-transformer"])
def test_svdd_removes_biases_and_affine_norms(name):
    enc = ENCODERS.build(name, in_dim=4, out_dim=8, svdd=True)
    names = [n for n, _ in enc.named_parameters()]
    assert not [n for n in names if n.endswith("bias")]
    assert not [n for n, m in enc.named_modules() if isinstance(m, torch.nn.LayerNorm) and m.elementwise_affine]
    with_bias = ENCODERS.build(name, in_dim=4, out_dim=8, svdd=False)
    assert any(n.endswith("bias") for n, _ in with_bias.named_parameters())


def test_conv1d_learns_from_time_pattern():
    torch.manual_seed(0)
    x = torch.randn(64, 12, 3)
    y = (x[:, :, 0].mean(dim=1) > 0).float()
    enc = ENCODERS.build("conv1d", in_dim=3, out_dim=1, hidden=16)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(enc(x).squeeze(-1), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.3
