"""Train tiny gene-svdd, concat-svdd and omib models and save their weights, scores and losses.

Run alone (one process) or under `python -m torch.distributed.run --nproc_per_node 2` (gloo on
CPU) as `ddp_worker.py OUT CHECKPOINT_DIR`; rank 0 writes `OUT` (torch.save of {method: {"state",
"score", "loss", "val_loss", "ranks_agree"}, "resumed_exactly": bool}).
tests/train/test_distributed.py compares the two.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from tissue_mib.methods import build_method
from tissue_mib.train import MultiModalData, TrainConfig, distributed, fit, predict

METHODS = {
    "gene-svdd": {"genes": {"encoder": "gcn", "in_dim": 6, "hidden_dim": 16, "out_dim": 8}},
    "concat-svdd": {
        "genes": {"encoder": "gcn", "in_dim": 6, "hidden_dim": 16, "out_dim": 8},
        "histology": {"encoder": "small-cnn", "channels": [4, 8, 8], "out_dim": 8},
    },
}
# OMIB draws noise per rank (zeta, e): compared for its setup (MINE, beta, centre) and rank agreement only
OMIB = dict(k=8, mine_steps=100, mine_batch=64, mine_rows=128, pca_dim=4, draws=2, heads_attn=2, latent_dim=8)
# 2 sections of 8 x 8 spots: 128 rows = 4 global batches of 32 (one process or two ranks of 16)
CONFIG = dict(epochs=2, batch_size=32, lr=1e-2, precision="fp32", device="cpu", seed=0, threads=1, patience=None)


def make_data(n_sections: int = 2, side: int = 8, genes: int = 6, patch: int = 8) -> MultiModalData:
    """`n_sections` square 4-neighbour grids of random genes and patches."""
    rng = np.random.default_rng(0)
    per = side * side
    idx = np.arange(per).reshape(side, side)
    pairs = [np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]), np.stack([idx[:-1].ravel(), idx[1:].ravel()])]
    grid = np.concatenate(pairs, axis=1)
    edges = np.concatenate([grid + s * per for s in range(n_sections)], axis=1)
    n = n_sections * per
    return MultiModalData(
        modalities={
            "genes": rng.normal(size=(n, genes)).astype(np.float32),
            "histology": rng.integers(0, 256, size=(n, patch, patch, 3), dtype=np.uint8),
        },
        edge_index=np.concatenate([edges, edges[::-1]], axis=1),
        groups=np.repeat(np.arange(n_sections), per),
    )


def run(checkpoint_dir: str) -> dict:
    """{method: weights, scores of every row, per-epoch loss and val loss, whether every rank
    holds the same weights}; "resumed_exactly": concat-svdd interrupted after its first epoch and
    resumed from `checkpoint_dir` ends with the uninterrupted run's weights, bit for bit."""
    data = make_data()
    train, val = data.subset(np.arange(0, 128)), data.subset(np.arange(96, 128))
    out = {}
    for name, modalities in [*METHODS.items(), ("omib", METHODS["concat-svdd"])]:
        torch.manual_seed(0)
        params = OMIB if name == "omib" else {}
        method = build_method(name, modalities=modalities, task={"kind": "svdd"}, **params)
        config = TrainConfig(**CONFIG) if name != "omib" else TrainConfig(**CONFIG | {"epochs": {"warmup": 1, "main": 1}})
        history = fit(method, train, val_data=val, config=config)
        state = {k: v.detach().clone() for k, v in method.state_dict().items()}
        flat = torch.cat([v.double().reshape(-1) for v in state.values()])
        out[name] = {
            "state": state,
            "score": torch.from_numpy(predict(method, data, config=config)["score"]),
            "loss": history.column("loss"),
            "val_loss": history.column("val_loss"),
            "ranks_agree": all(torch.equal(flat, other) for other in distributed.gather([flat])),
        }
    out["resumed_exactly"] = _resumed_exactly(train, checkpoint_dir, out["concat-svdd"]["state"])
    return out


def _resumed_exactly(train: MultiModalData, checkpoint_dir: str, uninterrupted: dict) -> bool:
    def stop_after_first(record):
        if record["epoch"] == 0:
            raise KeyboardInterrupt

    for resume, callbacks in ((False, [stop_after_first]), (True, [])):
        torch.manual_seed(0)
        method = build_method("concat-svdd", modalities=METHODS["concat-svdd"], task={"kind": "svdd"})
        config = TrainConfig(**CONFIG, checkpoint_dir=checkpoint_dir, resume=resume)
        try:
            fit(method, train, config=config, callbacks=callbacks)
        except KeyboardInterrupt:
            distributed.barrier()  # rank 0's checkpoint is written before any rank resumes from it
    return all(torch.equal(v, uninterrupted[k]) for k, v in method.state_dict().items())


if __name__ == "__main__":
    result = run(sys.argv[2])
    if distributed.is_main():
        torch.save({"world": distributed.world(), **result}, sys.argv[1])
