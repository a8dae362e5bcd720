"""Nothing lost on interruption: runs SIGKILLed mid-epoch, mid-checkpoint and mid-output resume or
leave no partial file; a diverged CLI run exits 1 with one line (the engine's NaN test:
tests/train/test_diverged.py).

The killed runs are real `tissue-mib` processes that SIGKILL themselves at a fixed point
(no cleanup of any kind runs); training is genes-only on the 49-spot squidpy fixture.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tissue_mib.cli import main
from tissue_mib.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
EPOCHS = "6"

# Run the CLI with argv[1:] after arranging a SIGKILL: mid-epoch at the Nth optimiser step, or
# mid-checkpoint at the Nth checkpoint write (its temporary file half written).
KILLED_CLI = """
import os, signal, sys
import torch
from tissue_mib.train import checkpoint

where, n = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}

def count():
    calls["n"] += 1
    return calls["n"] == n

if where == "step":
    step = torch.optim.Adam.step
    def killing_step(self, *a, **kw):
        if count():
            os.kill(os.getpid(), signal.SIGKILL)
        return step(self, *a, **kw)
    torch.optim.Adam.step = killing_step
else:
    save = torch.save
    def killing_save(obj, f, *a, **kw):
        save(obj, f, *a, **kw)
        if count():
            with open(f, "r+b") as fh:
                fh.truncate(os.path.getsize(f) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
    checkpoint.torch.save = killing_save

from tissue_mib.cli.main import app
sys.argv = ["tissue-mib", "-q", *sys.argv[3:]]
app()
"""

# Score with the CLI and SIGKILL the process while it writes the first .scored.h5ad.
KILLED_SCORE = """
import os, signal, sys
import anndata

write = anndata.AnnData.write_h5ad

def killing_write(self, filename, *a, **kw):
    if ".scored.h5ad" not in str(filename):  # the preprocessing cache
        return write(self, filename, *a, **kw)
    with open(filename, "wb") as fh:
        fh.write(b"half an h5ad")
    os.kill(os.getpid(), signal.SIGKILL)

anndata.AnnData.write_h5ad = killing_write
from tissue_mib.cli.main import app
sys.argv = ["tissue-mib", "-q", *sys.argv[1:]]
app()
"""


@pytest.fixture(scope="module")
def fixture_h5ad(shared_data) -> Path:
    return shared_data / "visium-fixture-squidpy" / "test_data.h5ad"


@pytest.fixture(scope="module")
def fp32_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "fp32.yaml"
    path.write_text("train: {threads: 1, batch_size: 8, patience: null}\n")
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "interrupt-cache"))
    monkeypatch.delenv("TISSUE_MIB_LOCK_WAIT", raising=False)


def _train_args(fixture_h5ad, config, out) -> list[str]:
    return ["train", "--normal", str(fixture_h5ad), "--method", "gene-svdd", "--genes-only", "--epochs", EPOCHS,
            "--precision", "fp32", "--device", "cpu", "--config", str(config), "--out", str(out)]  # fmt: skip


def _cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run `tissue-mib ARGS` in-process; (exit code, stderr less the warning lines, the warning lines)."""
    monkeypatch.setattr(sys, "argv", ["tissue-mib", *map(str, args)])
    try:
        main.app()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    lines = capsys.readouterr().err.splitlines(keepends=True)
    log = [line for line in lines if line.startswith("warning: ")]
    return code, "".join(line for line in lines if line not in log), "".join(log)


def _killed(script: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def uninterrupted(fixture_h5ad, fp32_config, tmp_path_factory) -> dict:
    """The weights of the run nobody interrupted."""
    out = tmp_path_factory.mktemp("full") / "model"
    mp = pytest.MonkeyPatch()
    mp.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "interrupt-cache"))
    mp.setattr(sys, "argv", ["tissue-mib", "-q", *_train_args(fixture_h5ad, fp32_config, out)])
    try:
        main.app()
    finally:
        mp.undo()
    assert not out.with_name("model.checkpoint").exists()  # dropped once the model is written
    return load_file(out / "weights.safetensors")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_killed_mid_epoch_then_mid_checkpoint_resumes_to_identical_weights(
    fixture_h5ad, fp32_config, uninterrupted, tmp_path, monkeypatch, capsys
):
    out, ckpt = tmp_path / "model", tmp_path / "model.checkpoint"
    args = _train_args(fixture_h5ad, fp32_config, out)
    _killed(KILLED_CLI, "step", 11, *args)  # SIGKILL at the 11th optimiser step: inside an epoch
    assert not out.exists() and (tmp_path / ".model.lock").exists()  # no model; the dead run's lock is left
    first = load_checkpoint(ckpt)["position"]["epoch"]
    assert 1 <= first < int(EPOCHS) - 2

    code, err, log = _cli(monkeypatch, capsys, *args)
    assert code == 2 and "--resume" in err and len(err.strip().splitlines()) == 1  # never overwritten silently
    assert "taking over lock" in log and "no longer running" in log  # the killed run's lock

    _killed(KILLED_CLI, "save", 2, *args, "--resume")  # resumed, then SIGKILLed half-way through its 2nd checkpoint
    assert load_checkpoint(ckpt)["position"]["epoch"] == first + 1  # the last complete checkpoint, not the half one
    assert len(list(ckpt.glob(".last.pt.tmp-*"))) == 1

    code, err, _ = _cli(monkeypatch, capsys, *args, "--resume")
    assert code == 0, err
    assert _same(load_file(out / "weights.safetensors"), uninterrupted)  # bit for bit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # checkpoint, temporaries and lock gone


def test_killed_scoring_leaves_no_partial_output(fixture_h5ad, tmp_path, monkeypatch, capsys):
    from tissue_mib import io, tl

    model = tmp_path / "m"
    tl.fit(io.read(fixture_h5ad), method="gene-svdd", modalities=("genes",), epochs=1, config={"train": {"threads": 1}}, out=model)
    out = tmp_path / "scored"
    _killed(KILLED_SCORE, "score", fixture_h5ad, "--model", model, "--out", out)
    left = sorted(p.name for p in out.iterdir())  # nothing under a real name: a hidden temporary and the lock
    assert len(left) == 2 and fnmatch.fnmatch(left[0], ".test_data.scored.h5ad.tmp-*") and left[1] == ".tissue-mib.lock"

    code, err, log = _cli(monkeypatch, capsys, "score", fixture_h5ad, "--model", model, "--out", out)
    assert code == 0, err
    assert "removed 1 partial file" in log and "taking over lock" in log
    names = sorted(p.name for p in out.iterdir())
    assert names == ["test_data.flagged.geojson", "test_data.map.png", "test_data.region_genes.csv", "test_data.scored.h5ad"]


def test_diverged_cli_exits_1_with_one_line(fixture_h5ad, fp32_config, tmp_path, monkeypatch, capsys):
    from tissue_mib.methods import METHODS

    cls = METHODS.get("gene-svdd")
    original = cls.training_loss
    monkeypatch.setattr(cls, "training_loss", lambda self, b, p: {**original(self, b, p), "loss": torch.tensor(float("inf"))})
    out = tmp_path / "model"
    code, err, _ = _cli(monkeypatch, capsys, "-q", *_train_args(fixture_h5ad, fp32_config, out))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: training diverged: non-finite loss inf in phase") and "epoch 1" in err
    assert not out.exists()
