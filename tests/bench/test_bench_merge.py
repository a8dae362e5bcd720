"""`bench merge`: grids run apart give the table one run of the whole grid gives."""

import json
import logging

import pytest
from typer.testing import CliRunner

from tissue_mib.bench.merge import merge_results
from tissue_mib.cli.main import _app
from tissue_mib.errors import InputError

runner = CliRunner()
SIM = ["-q", "bench", "sim", "--quick", "--methods", "concat,x1 alone"]


def _sim(out, *args):
    res = runner.invoke(_app, [*SIM, *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads((out / "sim_results.json").read_text())


def _cells(result, key="records", metric="accuracy"):
    return {(r.get("dataset"), r.get("row"), r["seed"], r.get("beta")): r[metric] for r in result[key]}


def test_merging_seed_runs_gives_the_whole_grid(tmp_path):
    whole = _sim(tmp_path / "whole", "--seeds", "0,1", "--no-sweep")
    _sim(tmp_path / "s1", "--seeds", "1", "--no-sweep")
    swept = _sim(tmp_path / "s0", "--seeds", "0", "--betas", "0.001")  # with the sweep and the MINE study
    out = tmp_path / "merged"
    res = runner.invoke(_app, ["-q", "bench", "merge", str(tmp_path / "s0"), str(tmp_path / "s1" / "sim_results.json"),
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "beta sweep on SIM-I" in res.output
    merged = json.loads((out / "sim_results.json").read_text())
    assert merged["config"]["seeds"] == [0, 1]
    assert _cells(merged) == _cells(whole)  # every cell, the same value (seeded cells)
    assert merged["table"] == whole["table"] and merged["bayes_limit"] == whole["bayes_limit"]
    assert merged["beta_sweep"] == swept["beta_sweep"] and merged["mine_budget"] == swept["mine_budget"]
    assert [s["path"] for s in merged["merged_from"]][0].endswith("s0/sim_results.json")
    assert (out / "sim_table.md").read_text().startswith("| method |")
    for png in ("bench_sim_accuracy.png", "bench_sim_beta.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_merge_refuses_runs_with_other_settings(tmp_path):
    _sim(tmp_path / "a", "--seeds", "0", "--no-sweep")
    _sim(tmp_path / "b", "--seeds", "1", "--no-sweep", "--epochs", "3")
    res = runner.invoke(_app, ["bench", "merge", str(tmp_path / "a"), str(tmp_path / "b")])
    assert isinstance(res.exception, InputError)
    assert "differs from" in str(res.exception) and "'cell'" in str(res.exception)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "sim_results.json").write_text("{not json")
    for args, words in (([str(tmp_path / "a"), str(tmp_path / "c")], "not a JSON result file"),
                        ([str(tmp_path / "a"), str(tmp_path / "nowhere")], "no such result file"),
                        ([str(tmp_path / "a"), str(tmp_path)], "no sim_results.json or mfeat_results.json"),
                        ([str(tmp_path / "a")], "at least two")):
        res = runner.invoke(_app, ["bench", "merge", *args])
        assert isinstance(res.exception, InputError) and words in str(res.exception), res.output


def _mfeat_result(seed, auroc, *, split=None, epochs=50):
    from dataclasses import asdict, replace

    from tissue_mib.bench.mfeat import MfeatConfig

    cfg = MfeatConfig(view_sets=(("fou", "fac"),), methods=("concat",), seeds=(seed,), normal_digits=(0,))
    cfg = replace(cfg, cell=replace(cfg.cell, epochs=epochs))
    return {"benchmark": "mfeat", "config": asdict(cfg), "split": split or {"train": 1400, "test": 600},
            "classification": [{"views": "fou+fac", "row": "concat", "seed": seed, "status": "ok", "accuracy": 0.9}],
            "anomaly": [{"views": "fou+fac", "row": "concat", "seed": seed, "normal_digit": 0, "status": "ok", "auroc": auroc}],
            "seconds": 10.0}


def test_mfeat_merge_pools_seeds_and_keeps_the_first_of_a_repeated_cell(tmp_path, caplog):
    runs = [_mfeat_result(0, 0.8), _mfeat_result(1, 0.9), _mfeat_result(1, 0.7)]
    paths = [tmp_path / f"r{i}" for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="tissue_mib.bench.merge"):
        merged, cfg = merge_results(runs, paths, out=tmp_path / "out")
    assert cfg.seeds == (0, 1)
    assert [r["auroc"] for r in merged["anomaly"]] == [0.8, 0.9]
    assert "keeping the first" in caplog.text and "r2" in caplog.text
    assert merged["table"][0]["AUROC fou+fac"] == "0.850 ± 0.071"
    assert merged["seconds"] == 30.0
    assert (tmp_path / "out" / "mfeat_table.md").is_file()
    with pytest.raises(InputError, match="different train/test splits"):
        merge_results([runs[0], _mfeat_result(1, 0.9, split={"train": 10, "test": 5})], paths[:2])
    with pytest.raises(InputError, match="setting 'cell'"):
        merge_results([runs[0], _mfeat_result(1, 0.9, epochs=30)], paths[:2])
    sim = {"benchmark": "sim", "config": {}}
    with pytest.raises(InputError, match="different benchmarks"):
        merge_results([runs[0], sim], paths[:2])


def test_a_failed_cell_is_replaced_by_a_rerun_and_axes_keep_table_order(tmp_path):
    failed = _mfeat_result(0, float("nan"))
    failed["anomaly"][0].update(status="failed", cell="mfeat fou+fac concat seed 0 normal 0", error="InputError: x")
    rerun = _mfeat_result(0, 0.8)
    rerun["config"]["methods"] = ["single", "concat"]
    merged, cfg = merge_results([rerun, failed], [tmp_path / "rerun", tmp_path / "first"])
    assert cfg.methods == ("concat", "single")  # the registry's order, not first seen
    merged, _ = merge_results([failed, rerun], [tmp_path / "first", tmp_path / "rerun"])
    assert merged["anomaly"][0]["status"] == "ok" and merged["anomaly"][0]["auroc"] == 0.8
    assert merged["failures"] == []
