"""Every registered method x every task it supports x its modality counts: a few training
steps through the engine, loss down, outputs not constant and finite, save/reload equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from tissue_mib.methods import METHODS, build_method
from tissue_mib.train import fit, predict

MODALITY_SETS = {1: ("genes",), 2: ("genes", "histology"), 3: ("genes", "histology", "audio")}


def _cases():
    for name in METHODS.names():
        cls = METHODS.get(name)
        for kind in cls.tasks:
            for n in cls.n_modalities:
                yield pytest.param(name, kind, n, id=f"{name}-{kind}-{n}mod")


def _modalities_for(name: str, n: int) -> tuple[str, ...]:
    if name == "histo-svdd":
        return ("histology",)
    return MODALITY_SETS[n]


@pytest.mark.parametrize(("name", "kind", "n_mod"), list(_cases()))
def test_method_trains_predicts_and_reloads(name, kind, n_mod, tiny, tmp_path):
    mods = _modalities_for(name, n_mod)
    data = tiny.tiny_data(kind, modalities=mods)
    torch.manual_seed(0)
    method = build_method(name, modalities=tiny.modality_specs(mods), task=tiny.TASK[kind], **tiny.params_for(name))
    config = tiny.train_config(name)
    history = fit(method, data, config=config)

    last_phase = method.phases[-1]
    losses = [r["loss"] for r in history.records if r["phase"] == last_phase]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0], f"{name}/{kind}: loss did not go down: {losses}"

    out = predict(method, data, config=config)
    main = {"svdd": "score", "multiclass": "probs", "multilabel": "probs", "regression": "pred"}[kind]
    assert out[main].shape[0] == tiny.N
    assert out["latent"].shape[0] == tiny.N and out["latent"].ndim == 2
    for key, value in out.items():
        assert np.isfinite(value).all(), f"{key} has non-finite values"
    assert out[main].std(axis=0).max() > 1e-6, f"{main} is constant"
    if kind == "svdd":
        assert (out["score"] >= 0).all()
        assert out["latent"].std(axis=0).max() > 1e-6

    # save (config as YAML, weights as safetensors), rebuild, reload: identical predictions
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(method.config()))
    save_file({k: v.contiguous() for k, v in method.state_dict().items()}, tmp_path / "weights.safetensors")
    again = build_method(**yaml.safe_load((tmp_path / "config.yaml").read_text()))
    again.load_state_dict(load_file(tmp_path / "weights.safetensors"))
    out2 = predict(again, data, config=config)
    assert out2.keys() == out.keys()
    for key in out:
        np.testing.assert_array_equal(out2[key], out[key], err_msg=key)
