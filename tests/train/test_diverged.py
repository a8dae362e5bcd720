"""A NaN loss stops training with TrainingDiverged and the last good checkpoint kept; a checkpoint
of another run is not resumed."""

from __future__ import annotations

import pytest
import torch

from tissue_mib.errors import InputError, TrainingDiverged
from tissue_mib.train import TrainConfig, fit
from tissue_mib.train.checkpoint import load_checkpoint


def test_nan_loss_at_epoch_2_keeps_the_checkpoint_of_epoch_1(tiny, data, tmp_path):
    method = tiny()
    original = type(method).training_loss

    def nan_from_epoch_2(self, batch, phase):
        terms = original(self, batch, phase)
        return {**terms, "loss": terms["loss"] * float("nan")} if self.epochs_seen[-1] >= 1 else terms

    method.training_loss = nan_from_epoch_2.__get__(method)
    cfg = TrainConfig(epochs=4, batch_size=32, precision="fp32", device="cpu", checkpoint_dir=str(tmp_path))
    with pytest.raises(TrainingDiverged) as info:
        fit(method, data, config=cfg)
    msg = str(info.value)
    assert "non-finite loss nan in phase 'main', epoch 2, batch 1" in msg and "\n" not in msg
    assert f"the checkpoint written after epoch 1 is kept in {tmp_path / 'last.pt'}" in msg
    payload = load_checkpoint(tmp_path)
    assert payload["position"]["epoch"] == 1 and len(payload["history"]["records"]) == 1
    assert all(torch.isfinite(v).all() for v in payload["model"].values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_nan_validation_loss_diverges_too(tiny, data_factory):
    method = tiny()
    val = data_factory(seed=1)
    val.modalities["genes"][0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="non-finite validation loss nan in phase 'main', epoch 1; no checkpoint"):
        fit(method, data_factory(), val_data=val, config=TrainConfig(epochs=2, batch_size=32, device="cpu"))


def test_resume_refuses_a_checkpoint_of_another_run(tiny, data, tmp_path):
    fit(tiny(), data, config=TrainConfig(epochs=1, batch_size=32, device="cpu", checkpoint_dir=str(tmp_path)))
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu", checkpoint_dir=str(tmp_path), resume=True)
    with pytest.raises(InputError, match=r"written by a different run \(batch_size 32 -> 16\)"):
        fit(tiny(), data, config=cfg)
