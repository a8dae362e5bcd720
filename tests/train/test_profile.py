"""`EpochProfile`: where an epoch's time goes, each encoder's forward and backward included."""

from __future__ import annotations

import time

import pytest
import torch

from tissue_mib.methods import build_method
from tissue_mib.train import TrainConfig, fit
from tissue_mib.train.profile import PARTS, EpochProfile

from .conftest import make_data

PAUSE_S = 0.02


class _SlowBackward(torch.autograd.Function):
    """Identity that sleeps PAUSE_S in its backward."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        time.sleep(PAUSE_S)
        return grad


def _method():
    torch.manual_seed(0)
    return build_method(
        "concat-svdd",
        modalities={"genes": {"encoder": "gcn", "in_dim": 6, "hidden_dim": 8}, "histology": {"encoder": "small-cnn"}},
        task={"kind": "svdd"},
        latent_dim=8,
    )


@pytest.fixture(scope="module")
def data():
    return make_data(n_sections=2, side=8, patch=16)


def _fit(method, data, epochs=2):
    profile = EpochProfile()
    fit(method, data, config=TrainConfig(epochs=epochs, batch_size=32, device="cpu", precision="fp32"), profile=profile)
    return profile


def test_parts_add_up_to_the_epoch_and_hooks_are_removed(data):
    method = _method()
    profile = _fit(method, data)
    assert len(profile.epochs) == 2
    for epoch in profile.epochs:
        parts = [epoch[k] for k in ("genes", "histology", *PARTS)]
        assert all(p >= 0 for p in parts)
        assert epoch["histology"] > 0 and epoch["genes"] > 0 and epoch["optimiser"] > 0 and epoch["data"] > 0
        assert sum(parts) == pytest.approx(epoch["epoch_s"], rel=0.05)
        assert sum(epoch["share"].values()) == pytest.approx(1.0, rel=0.05)
    for encoder in method.encoders.values():
        assert not encoder._forward_hooks and not encoder._forward_pre_hooks


def test_an_encoders_backward_is_charged_to_that_encoder(data):
    """A sleep inside the histology encoder's backward lands in `histology`, not elsewhere."""
    method = _method()
    encoder = method.encoders["histology"]
    plain = encoder.forward
    encoder.forward = lambda x, **kw: _SlowBackward.apply(plain(x, **kw))
    profile = _fit(method, data, epochs=1)
    epoch = profile.epochs[0]
    n_steps = 128 // 32
    assert epoch["histology"] >= n_steps * PAUSE_S
    assert epoch["genes"] < n_steps * PAUSE_S / 2 and epoch["fusion_objective"] < n_steps * PAUSE_S / 2
