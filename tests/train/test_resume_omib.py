"""Resume equality with a real two-phase method (OMIB: MINE/beta in setup, buffers for beta and the centre)."""

from __future__ import annotations

import pytest
import torch

from tissue_mib.methods import build_method
from tissue_mib.train import TrainConfig, fit

SPECS = {
    "genes": {"encoder": "gcn", "in_dim": 6, "hidden_dim": 8, "out_dim": 8},
    "histology": {"encoder": "small-cnn", "channels": [4, 8], "out_dim": 8},
}


def _omib():
    torch.manual_seed(0)
    return build_method("omib", modalities=SPECS, task={"kind": "svdd"}, k=8, latent_dim=8, mine_steps=5,
                        mine_rows=64, mine_batch=32)  # fmt: skip


def test_omib_resumed_after_warmup_equals_uninterrupted(data_factory, tmp_path):
    data = data_factory(patch=8)
    kw = dict(epochs={"warmup": 1, "main": 2}, batch_size=32, lr=1e-3, precision="fp32", device="cpu")
    full = _omib()
    h_full = fit(full, data, config=TrainConfig(**kw))

    def interrupt(record):
        if record["phase"] == "warmup":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(_omib(), data, config=TrainConfig(**kw, checkpoint_dir=str(tmp_path)), callbacks=[interrupt])
    resumed = _omib()
    h = fit(resumed, data, config=TrainConfig(**kw, checkpoint_dir=str(tmp_path), resume=True))
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert h.column("loss") == h_full.column("loss") and h.column("phase") == ["warmup", "main", "main"]
