"""The loop: determinism, resume equality, early stopping, phases, precision, predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.train import BatchLoader, TrainConfig, fit, predict
from tissue_mib.train.loop import _val_loss


def _run(tiny, data, *, seed=0, **cfg):
    torch.manual_seed(seed)
    m = tiny()
    kw = {"epochs": 3, "batch_size": 16, "lr": 1e-2, "precision": "fp32", "device": "cpu", "seed": seed} | cfg
    history = fit(m, data, config=TrainConfig(**kw))
    return m, history


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_loss_goes_down_and_history_records(tiny, data):
    m, h = _run(tiny, data, epochs=4)
    losses = h.column("loss")
    assert len(h.records) == 4 and losses[-1] < losses[0]
    r = h.records[0]
    assert {"epoch", "phase", "phase_epoch", "loss", "distance", "val_loss", "lr", "time_s"} <= set(r)
    assert r["lr"] == 1e-2 and r["val_loss"] is None and r["time_s"] > 0
    assert m.setup_calls == 1 and m.epochs_seen == [0, 1, 2, 3]


def test_fp32_runs_are_identical(tiny, data):
    a, ha = _run(tiny, data)
    b, hb = _run(tiny, data)
    assert _same_state(a, b)
    assert ha.column("loss") == hb.column("loss")
    c, _ = _run(tiny, data, seed=1)
    assert not _same_state(a, c)


def test_resume_gives_identical_weights(tiny, data, tmp_path):
    full, _ = _run(tiny, data, epochs=5)

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    m = tiny()
    cfg = TrainConfig(epochs=5, batch_size=16, lr=1e-2, precision="fp32", device="cpu", checkpoint_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        fit(m, data, config=cfg, callbacks=[interrupt])
    assert (tmp_path / "last.pt").exists()
    torch.manual_seed(0)
    resumed = tiny()
    cfg.resume = True
    h = fit(resumed, data, config=cfg)
    assert _same_state(full, resumed)
    assert [r["epoch"] for r in h.records] == [0, 1, 2, 3, 4]


def test_resume_with_two_phases_and_val(tiny, data_factory, tmp_path):
    data, val = data_factory(seed=0), data_factory(n_sections=1, seed=5)
    kw = dict(epochs={"warmup": 2, "main": 3}, batch_size=16, lr=1e-2, precision="fp32", device="cpu", patience=2)
    torch.manual_seed(0)
    full = tiny(phases=("warmup", "main"))
    hf = fit(full, data, val_data=val, config=TrainConfig(**kw))
    assert [r["phase"] for r in hf.records][:2] == ["warmup", "warmup"]

    def interrupt(record):
        if record["epoch"] == 1:  # the end of the warm-up phase
            raise RuntimeError("power cut")

    torch.manual_seed(0)
    m = tiny(phases=("warmup", "main"))
    with pytest.raises(RuntimeError, match="power cut"):
        fit(m, data, val_data=val, config=TrainConfig(**kw, checkpoint_dir=str(tmp_path)), callbacks=[interrupt])
    torch.manual_seed(0)
    resumed = tiny(phases=("warmup", "main"))
    hr = fit(resumed, data, val_data=val, config=TrainConfig(**kw, checkpoint_dir=str(tmp_path), resume=True))
    assert _same_state(full, resumed)
    assert hr.to_dict() == {**hf.to_dict(), "records": hr.records} and hr.column("loss") == hf.column("loss")


def test_early_stopping_restores_best(tiny, data_factory):
    data, val = data_factory(seed=0), data_factory(n_sections=1, seed=9)
    seen = {}

    def remember(record):  # weights after every epoch
        seen[record["epoch"]] = {k: v.clone() for k, v in m.state_dict().items()}

    torch.manual_seed(0)
    m = tiny()
    # min_delta larger than any possible gain: only epoch 0 counts as an improvement
    cfg = TrainConfig(epochs=30, batch_size=16, lr=1e-2, precision="fp32", device="cpu", patience=2, min_delta=1e9)
    h = fit(m, data, val_data=val, config=cfg, callbacks=[remember])
    vals = h.column("val_loss")
    assert all(np.isfinite(vals)) and vals[-1] < vals[0]  # later epochs were better, yet not by min_delta
    assert h.best_epoch["main"] == 0 and h.stopped_early == ["main"] and len(vals) == 3
    assert all(torch.equal(v, seen[0][k]) for k, v in m.state_dict().items())
    assert not all(torch.equal(v, seen[2][k]) for k, v in m.state_dict().items())


def test_early_stopping_keeps_lowest_val_loss(tiny, data_factory):
    data, val = data_factory(seed=0), data_factory(n_sections=1, seed=9)
    torch.manual_seed(0)
    m = tiny()
    h = fit(m, data, val_data=val, config=TrainConfig(epochs=6, batch_size=16, lr=1e-2, precision="fp32", device="cpu"))
    vals = h.column("val_loss")
    assert h.best_epoch["main"] == int(np.argmin(vals)) and h.stopped_early == []
    again = _val_loss(m, BatchLoader(val, batch_size=16), "main")
    assert again == pytest.approx(min(vals), rel=1e-6)


def test_epochs_must_name_the_phases(tiny, data):
    with pytest.raises(InputError, match="phases"):
        fit(tiny(), data, config=TrainConfig(epochs={"warmup": 1}, device="cpu"))


def test_resume_needs_a_directory(tiny, data):
    with pytest.raises(InputError, match="checkpoint_dir"):
        fit(tiny(), data, config=TrainConfig(resume=True, device="cpu"))


def test_corrupt_checkpoint_is_an_input_error(tiny, data, tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="last.pt"):
        fit(tiny(), data, config=TrainConfig(epochs=1, device="cpu", checkpoint_dir=str(tmp_path), resume=True))


def test_bf16_autocast_runs_on_cpu(tiny, data):
    torch.manual_seed(0)
    m = tiny()
    h = fit(m, data, config=TrainConfig(epochs=2, batch_size=32, lr=1e-2, precision="bf16", device="cpu"))
    assert m.amp_dtype == torch.bfloat16 and m.last_encoder_dtype == torch.bfloat16
    assert all(np.isfinite(h.column("loss")))
    out = predict(m, data, precision="bf16", device="cpu")
    assert out["score"].dtype == np.float32 and np.isfinite(out["score"]).all()


def test_predict_all_rows_in_order_and_batch_size_free(tiny, data):
    m, _ = _run(tiny, data, epochs=1)
    a = predict(m, data, batch_size=5, precision="fp32", device="cpu")
    b = predict(m, data, batch_size=200, precision="fp32", device="cpu")
    assert a["score"].shape == (data.n,) and a["latent"].shape == (data.n, 8)
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-6)
    # row order: the score of row i equals the score of a batch holding row i alone
    one = predict(m, data.subset(np.arange(data.n)), batch_size=1, precision="fp32", device="cpu")
    np.testing.assert_allclose(one["score"], a["score"], rtol=1e-5, atol=1e-6)
    assert not m.training


def test_khop_equals_whole_graph(tiny, data):
    """With hops = GCN layers + 1, a target's output equals the whole-graph GCN output."""
    m, _ = _run(tiny, data, epochs=1)
    m.eval()
    with torch.no_grad():
        full = {
            "genes": torch.from_numpy(data.modalities["genes"]),
            "histology": torch.from_numpy(data.modalities["histology"]),
            "edge_index": torch.from_numpy(data.edge_index),
            "target": torch.arange(data.n),
        }
        ref = m.predict(full)["score"].numpy()
    out = predict(m, data, batch_size=3, precision="fp32", device="cpu")
    np.testing.assert_allclose(out["score"], ref, rtol=1e-5, atol=1e-6)


def test_predict_selected_rows_see_their_whole_neighbourhood(tiny, data):
    m, _ = _run(tiny, data, epochs=1)
    every = predict(m, data, precision="fp32", device="cpu")
    rows = np.array([70, 3, 64, 5])
    some = predict(m, data, precision="fp32", device="cpu", rows=rows, batch_size=2)
    np.testing.assert_allclose(some["score"], every["score"][rows], rtol=1e-5, atol=1e-6)
