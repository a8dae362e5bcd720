"""The per-method presets in configs/: valid YAML whose method builds and whose train section parses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tissue_mib.methods import build_method
from tissue_mib.train import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = ["omib", "ibma", "e_mib", "l_mib", "c_mib", "concat_svdd", "gene_svdd", "histo_svdd"]


@pytest.mark.parametrize("stem", PRESETS)
def test_preset_builds(stem):
    preset = yaml.safe_load((CONFIGS / f"{stem}.yaml").read_text())
    assert preset["method"].replace("-", "_") == stem
    specs = {m: dict(spec) for m, spec in preset["modalities"].items()}
    specs.setdefault("genes", {"encoder": "gcn"})["in_dim"] = 50
    specs.setdefault("histology", {"encoder": "resnet18"})
    method = build_method(preset["method"], modalities=specs, task={"kind": "svdd"}, **preset["params"])
    train = TrainConfig.from_dict(preset["train"])
    assert train.epochs_for(method.phases)
    assert train.lr == 1e-4 and train.batch_size == 128
