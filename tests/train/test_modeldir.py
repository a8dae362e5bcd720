"""Model directory round trip and every way a model directory can be wrong."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from tissue_mib.errors import InputError
from tissue_mib.methods import build_method
from tissue_mib.train import History, TrainConfig, fit, predict
from tissue_mib.train.modeldir import ModelDir

PANEL = {"genes": [f"G{i}" for i in range(6)], "gene_ids": [f"E{i}" for i in range(6)], "hash": "abc123"}
SPECS = {
    "genes": {"encoder": "gcn", "in_dim": 6, "hidden_dim": 8, "out_dim": 8},
    "histology": {"encoder": "small-cnn", "channels": [4, 8], "out_dim": 8},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_factory):
    data = data_factory()
    torch.manual_seed(0)
    m = build_method("concat-svdd", modalities=SPECS, task={"kind": "svdd"}, latent_dim=8)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-3, precision="fp32", device="cpu")
    history = fit(m, data, config=cfg)
    md = ModelDir(method=m, panel=PANEL, train_config=cfg, prep={"patch_size": 4}, history=history,
                  calibration=np.array([0.1, 0.2, 0.3]), holdout={"mode": "sections", "groups": [1]},
                  meta={"modalities": ["genes", "histology"]})
    path = md.save(tmp_path_factory.mktemp("models") / "concat")
    return data, md, path


def test_round_trip_gives_identical_predictions(trained):
    data, md, path = trained
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["config.yaml", "panel.json", "weights.safetensors", "history.json", "calibration.npy", "holdout.json"])
    back = ModelDir.load(path, method="concat-svdd", panel_hash="abc123")
    a = predict(md.method, data, precision="fp32", device="cpu")
    b = predict(back.method, data, precision="fp32", device="cpu")
    assert np.array_equal(a["score"], b["score"]) and np.array_equal(a["latent"], b["latent"])
    assert back.panel == PANEL and back.prep == {"patch_size": 4} and back.meta["modalities"] == ["genes", "histology"]
    assert back.train_config == md.train_config
    assert back.history.column("loss") == md.history.column("loss")
    assert back.calibration.tolist() == [0.1, 0.2, 0.3] and back.holdout["groups"] == [1]
    assert back.precision == {"requested": "fp32", "resolved": "fp32", "device": "cpu", "reason": "requested",
                              "gemm": None, "cached": False}  # fmt: skip
    assert torch.equal(back.method.state_dict()["head.center"], md.method.state_dict()["head.center"])


def _copy(path, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(path, dst)
    return dst


def test_truncated_weights(trained, tmp_path):
    p = _copy(trained[2], tmp_path)
    w = p / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(InputError, match="weights.safetensors"):
        ModelDir.load(p)


def test_corrupt_weights_with_fixed_checksum(trained, tmp_path):
    """Garbage that passes the checksum still fails cleanly in the safetensors reader."""
    p = _copy(trained[2], tmp_path)
    w = p / "weights.safetensors"
    w.write_bytes(b"\xff" * 64)
    cfg = yaml.safe_load((p / "config.yaml").read_text())
    cfg["weights_sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
    (p / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="weights.safetensors.*cannot be read"):
        ModelDir.load(p)


def test_missing_file(trained, tmp_path):
    p = _copy(trained[2], tmp_path)
    (p / "calibration.npy").unlink()
    with pytest.raises(InputError, match="calibration.npy is missing"):
        ModelDir.load(p)


def test_wrong_method(trained):
    with pytest.raises(InputError, match="config.yaml.*'concat-svdd', expected 'omib'"):
        ModelDir.load(trained[2], method="omib")


def test_panel_hash_mismatch(trained, tmp_path):
    with pytest.raises(InputError, match="panel.json.*expected"):
        ModelDir.load(trained[2], panel_hash="fff000")
    p = _copy(trained[2], tmp_path)
    panel = json.loads((p / "panel.json").read_text())
    panel["hash"] = "edited"
    (p / "panel.json").write_text(json.dumps(panel))
    with pytest.raises(InputError, match="panel.json"):
        ModelDir.load(p)


def test_shape_mismatch(trained, tmp_path):
    """Weights of another gene panel size do not fit the method the config builds."""
    p = _copy(trained[2], tmp_path)
    cfg = yaml.safe_load((p / "config.yaml").read_text())
    cfg["method"]["modalities"]["genes"]["in_dim"] = 7
    (p / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="weights.safetensors.*do not fit"):
        ModelDir.load(p)


def test_save_replaces_a_model_but_not_other_folders(trained, tmp_path):
    _, md, _ = trained
    target = tmp_path / "m"
    md.save(target)
    md.save(target)  # replacing an earlier model directory is fine
    assert ModelDir.load(target).calibration.size == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers
    other = tmp_path / "docs"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a model directory"):
        md.save(other)
    assert (other / "notes.txt").read_text() == "mine"


def test_failed_save_leaves_nothing(trained, tmp_path):
    _, md, _ = trained
    bad = ModelDir(method=md.method, panel={"genes": []}, history=History())  # no hash -> fails while writing
    with pytest.raises(KeyError):
        bad.save(tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_calibration_graph_round_trips_and_is_checked(trained, tmp_path):
    from dataclasses import replace

    _, md, _ = trained
    edges = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    target = replace(md, calibration_edges=edges).save(tmp_path / "m")
    assert np.array_equal(ModelDir.load(target).calibration_edges, edges)
    np.save(target / "calibration_edges.npy", np.array([[0, 5], [5, 0]]))  # spot 5 of 3 calibration spots
    with pytest.raises(InputError, match="calibration_edges.npy: not a \\(2, E\\) graph over the 3 calibration spots"):
        ModelDir.load(target)
