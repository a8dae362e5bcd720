"""Two gloo ranks on CPU train what one process trains with the same global batch (docs/distributed.md)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tissue_mib

WORKER = Path(__file__).with_name("ddp_worker.py")
# fp32 on CPU: the ranks sum their shares in another order than one process (gradients, BatchNorm
# statistics), so results agree to rounding, amplified by Adam over 2 epochs at lr 1e-2
# (measured: weights 4.4e-6, scores 1.0e-5 at most)
TOLERANCE = {"rtol": 1e-4, "atol": 5e-5}

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with gloo is not available",
)


def _one_process(tmp_path) -> dict:
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    return worker.run(str(tmp_path / "checkpoint-one"))


def _two_ranks(tmp_path) -> dict:
    out = tmp_path / "two.pt"
    repo = str(Path(tissue_mib.__file__).resolve().parents[1])
    env = os.environ | {"OMP_NUM_THREADS": "1", "TISSUE_MIB_QUIET": "1",
                        "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER), str(out),
           str(tmp_path / "checkpoint-two")]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict, dict]:
    """(one process, two gloo ranks): the results of ddp_worker.run."""
    tmp_path = tmp_path_factory.mktemp("ddp")
    two = _two_ranks(tmp_path)
    assert two.pop("world") == 2
    return _one_process(tmp_path), two


@pytest.mark.parametrize("name", ["gene-svdd", "concat-svdd"])
def test_two_gloo_ranks_match_one_process(runs, name):
    a, b = runs[0][name], runs[1][name]
    assert b["ranks_agree"]
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        torch.testing.assert_close(b["state"][key], a["state"][key], **TOLERANCE, msg=f"{name} {key}")
    torch.testing.assert_close(b["score"], a["score"], **TOLERANCE)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
    assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)


def test_omib_setup_is_the_one_process_setup(runs):
    """OMIB draws its noise per rank, so its training differs from one process'; what precedes
    training (MINE -> beta and its bounds, the SVDD centre) is equal bit for bit, and the ranks agree."""
    a, b = runs[0]["omib"]["state"], runs[1]["omib"]
    assert b["ranks_agree"]
    for key in ("beta", "M_l", "M_u", "head.center", "modality_heads.genes.center"):
        assert torch.equal(b["state"][key], a[key]), key
    assert torch.isfinite(b["score"]).all()


def test_resume_under_torchrun_is_exact(runs):
    """Interrupted after an epoch and resumed from rank 0's checkpoint, two ranks end with the
    weights of their uninterrupted run, bit for bit (as one process does, docs/engine.md)."""
    assert runs[1]["resumed_exactly"] and runs[0]["resumed_exactly"]
