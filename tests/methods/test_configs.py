"""The per-method presets shipped in tissue_mib/configs/: valid YAML whose method builds and whose train
section parses; `--config NAME` finds them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import tissue_mib
from tissue_mib.cli._common import load_config
from tissue_mib.errors import InputError

from tissue_mib.methods import build_method
from tissue_mib.train import TrainConfig

CONFIGS = Path(tissue_mib.__file__).resolve().parent / "configs"
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


def test_presets_load_by_name_or_path(tmp_path):
    assert load_config(Path("e-mib")) == yaml.safe_load((CONFIGS / "e_mib.yaml").read_text())
    assert load_config(Path("emotion"), folder=CONFIGS / "workflows")["method"]
    own = tmp_path / "mine.yaml"
    own.write_text("train: {epochs: 3}\n")
    assert load_config(own) == {"train": {"epochs": 3}}
    with pytest.raises(InputError, match="no shipped preset of that name .*omib"):
        load_config(Path("omibb"))
