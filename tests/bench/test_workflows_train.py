"""Each workflow trains and evaluates on its synthetic stand-in through the shared methods and engine."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import tissue_mib
from tissue_mib.bench.run import Cell
from tissue_mib.bench.workflows import RECIPES, Recipe, run_workflow
from tissue_mib.cli.main import _app
from tissue_mib.errors import InputError

CONFIGS = Path(tissue_mib.__file__).resolve().parent / "configs" / "workflows"
SMALL = {"latent_dim": 32}
FAST = Cell(epochs=4, warmup_epochs=1, lr=3e-3, batch_size=32)


def _recipe(name, method="omib", **params):
    extra = {"k": 32, "mine_steps": 20} if method == "omib" else {}
    return replace(RECIPES[name], method=method, params={**SMALL, **extra, **params}, train=FAST)


def test_emotion_learns_above_chance(tmp_path):
    res = run_workflow("emotion", synthetic_dir=tmp_path, recipe=_recipe("emotion"), out=tmp_path / "out")
    assert res["metrics"]["accuracy"] > 0.5  # chance is 1/6
    assert res["encoders"]["audio"]["encoder"] == "mlp" and res["n_test"] == 72
    assert json.loads((tmp_path / "out" / "emotion_results.json").read_text())["recipe"]["method"] == "omib"
    assert (tmp_path / "out" / "bench_emotion.png").is_file()


def test_sentiment_three_sequences_regression(tmp_path):
    res = run_workflow("sentiment", synthetic_dir=tmp_path, recipe=_recipe("sentiment", method="e-mib"))
    m = res["metrics"]
    assert set(m) == {"MAE", "Corr", "Acc-2", "F1", "Acc-7"}
    assert m["Corr"] > 0.5 and m["Acc-2"] > 0.7 and m["MAE"] < 1.5
    assert res["encoders"]["text"]["encoder"] == "seq-transformer" and res["encoders"]["audio"]["encoder"] == "conv1d"


def test_cxr_multilabel_auroc(tmp_path):
    res = run_workflow("cxr", synthetic_dir=tmp_path, recipe=_recipe("cxr", method="concat"))
    m = res["metrics"]
    assert set(m) == {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion", "mAUC"}
    assert m["mAUC"] > 0.75


def test_emotion_raw_inputs_use_resnet18_and_conv1d(tmp_path):
    from tissue_mib.datasets.workflows import write_synthetic_emotion

    path = write_synthetic_emotion(tmp_path / "raw.npz", n=48, raw=True)
    recipe = replace(_recipe("emotion", method="concat"), train=Cell(epochs=1, lr=1e-3, batch_size=16))
    res = run_workflow("emotion", data=path, recipe=recipe)
    assert res["encoders"]["video"]["encoder"] == "resnet18" and res["encoders"]["audio"]["encoder"] == "conv1d"
    assert 0.0 <= res["metrics"]["accuracy"] <= 1.0


@pytest.mark.parametrize("name", ["emotion", "sentiment", "cxr"])
def test_shipped_presets_are_valid_recipes(name):
    path = CONFIGS / f"{name}.yaml"
    recipe = Recipe.from_dict(yaml.safe_load(path.read_text()), base=RECIPES[name], source=str(path))
    from tissue_mib.methods import METHODS
    from tissue_mib.nn.encoders import ENCODERS

    assert recipe.method in METHODS
    assert all(spec["encoder"] in ENCODERS for spec in recipe.encoders.values())
    assert recipe.train.epochs >= 50


def test_recipe_rejects_unknown_keys():
    with pytest.raises(InputError, match=r"x.yaml: unknown key\(s\) \['optimiser'\]"):
        Recipe.from_dict({"optimiser": "sgd"}, base=RECIPES["cxr"], source="x.yaml")
    with pytest.raises(InputError, match="'train' must map"):
        Recipe.from_dict({"train": {"epoch": 3}}, base=RECIPES["cxr"], source="x.yaml")


def test_cli_cxr_synthetic_with_config(tmp_path):
    cfg = tmp_path / "cxr.yaml"
    cfg.write_text(yaml.safe_dump({"method": "ibma", "params": {"latent_dim": 32},
                                   "train": {"epochs": 2, "lr": 3e-3, "batch_size": 64}}))
    res = CliRunner().invoke(_app, ["-q", "bench", "cxr", "--synthetic", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "mAUC" in res.output
    result = json.loads((tmp_path / "o" / "cxr_results.json").read_text())
    assert result["recipe"]["method"] == "ibma" and result["synthetic"] is True
