"""`bench sim --quick` and `bench mfeat --quick` end to end through the CLI (typer's CliRunner)."""

import json
import logging

import pytest
import torch
from typer.testing import CliRunner

from tissue_mib.bench.run import Cell, Eta
from tissue_mib.bench.sim import ROWS, SimConfig
from tissue_mib.cli.bench._grid import CELLS_FAILED
from tissue_mib.cli.main import _app, app
from tissue_mib.errors import InputError
from tissue_mib.methods import METHODS

runner = CliRunner()


def test_bench_sim_quick_writes_table_json_and_plots(tmp_path):
    out = tmp_path / "sim"
    res = runner.invoke(_app, ["-q", "bench", "sim", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "authentic optimum" in res.output and "paper SIM-I" in res.output and "MINE estimates" in res.output
    result = json.loads((out / "sim_results.json").read_text())
    rows = {r["method"] for r in result["table"]}
    assert rows == {"omib", "ibma", "e-mib", "l-mib", "c-mib", "concat", "x1 alone", "x2 alone", "authentic optimum",
                    "[a0] alone", "[a1; a2] alone"}
    for rec in result["records"]:
        assert 0.0 <= rec["accuracy"] <= 1.0
    omib = next(r for r in result["records"] if r["row"] == "omib")
    assert omib["M_l"] <= omib["beta"] <= omib["M_u"]  # beta drawn in [M_l, M_u]
    assert [b["beta"] for b in result["beta_sweep"]] == [1e-4, 0.1]
    assert all(b["M_l"] < b["M_u"] for b in result["beta_sweep"])
    assert [m["steps"] for m in result["mine_budget"]] == [5, 10]
    assert next(r for r in result["table"] if r["method"] == "omib")["paper SIM-I"] == 0.892
    for png in ("bench_sim_accuracy.png", "bench_sim_beta.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "sim_table.md").read_text()
    assert "| authentic optimum |" in table and "| 0.0001 |" in table  # the fixed-beta sweep, beta as %g
    # the Bayes limit of each row: 1 with every task-relevant block, below 1 for a part of them
    assert "Bayes limit" in res.output and "Bayes limit" in table
    limit = {r["method"]: r["SIM-I"] for r in result["bayes_limit"]}
    assert limit["authentic optimum"] == limit["omib"] == 1.0
    assert 0.5 < limit["[a0] alone"] < limit["x1 alone"] < 1.0


def test_bench_mfeat_quick_classification_and_one_class(tmp_path, shared_data):
    out = tmp_path / "mfeat"
    res = runner.invoke(_app, ["-q", "bench", "mfeat", "--quick", "--data", str(shared_data / "uci-mfeat"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "mfeat_results.json").read_text())
    assert {r["row"] for r in result["classification"]} == {"omib", "concat", "fou alone", "fac alone"}
    assert result["split"] == {"train": 1400, "test": 600}
    # real data, two epochs: fusion of fou + fac is far above the 10 % of chance
    concat = next(r for r in result["classification"] if r["row"] == "concat")
    assert concat["accuracy"] > 0.5
    for rec in result["anomaly"]:
        assert rec["normal_digit"] == 0 and 0.0 <= rec["auroc"] <= 1.0
    # the Deep SVDD baseline separates digit 0 from the rest even after two epochs
    assert next(r for r in result["anomaly"] if r["row"] == "concat")["auroc"] > 0.8
    for png in ("bench_mfeat_accuracy.png", "bench_mfeat_auroc.png"):
        assert (out / png).is_file()


def test_bad_options_are_input_errors(shared_data):
    res = runner.invoke(_app, ["bench", "sim", "--quick", "--methods", "omib,nonsense"])
    assert isinstance(res.exception, InputError) and "nonsense" in str(res.exception)
    res = runner.invoke(_app, ["bench", "mfeat", "--quick", "--data", str(shared_data / "uci-mfeat"), "--views", "fou"])
    assert isinstance(res.exception, InputError) and "view sets" in str(res.exception)
    res = runner.invoke(_app, ["bench", "sim", "--quick", "--seeds", "a,b"])
    assert isinstance(res.exception, InputError) and "--seeds" in str(res.exception)
    res = runner.invoke(_app, ["bench", "cxr", "--synthetic", "--epochs", "0"])
    assert isinstance(res.exception, InputError) and "--epochs = 0: must be an integer >= 1" in str(res.exception)


def _nan_loss(cls, monkeypatch):
    """Make every training step of method class `cls` return a NaN loss (the loop raises TrainingDiverged)."""
    original = cls.training_loss

    def nan_loss(self, batch, phase):
        terms = original(self, batch, phase)
        return {**terms, "loss": terms["loss"] * torch.tensor(float("nan"))}

    monkeypatch.setattr(cls, "training_loss", nan_loss)


def test_bench_sim_records_a_failing_cell_and_goes_on(tmp_path, monkeypatch):
    _nan_loss(METHODS.get("ibma"), monkeypatch)
    out = tmp_path / "sim"
    res = runner.invoke(_app, ["-q", "bench", "sim", "--quick", "--methods", "ibma,concat", "--seeds", "0,1", "--no-sweep",
                               "--out", str(out)])
    assert res.exit_code == CELLS_FAILED, res.output
    assert "SIM-I ibma seed 0: TrainingDiverged: non-finite loss nan in phase" in res.output
    result = json.loads((out / "sim_results.json").read_text())
    by_row = {(r["row"], r["seed"]): r for r in result["records"]}
    assert by_row[("ibma", 0)]["status"] == "failed" and by_row[("ibma", 0)]["accuracy"] is None
    assert by_row[("ibma", 1)]["error"].startswith("TrainingDiverged: non-finite loss nan in phase")
    assert by_row[("concat", 0)]["status"] == by_row[("concat", 1)]["status"] == "ok"  # the grid went on
    assert [f["cell"] for f in result["failures"]] == ["SIM-I ibma seed 0", "SIM-I ibma seed 1"]
    table = {r["method"]: r["SIM-I"] for r in result["table"]}
    assert table["ibma"] == "— (2 of 2 failed)" and "failed" not in table["concat"]
    assert "| ibma | — (2 of 2 failed) |" in (out / "sim_table.md").read_text()


def test_bench_mfeat_records_a_failing_cell_and_goes_on(tmp_path, shared_data, monkeypatch, capsys):
    _nan_loss(METHODS.get("concat"), monkeypatch)  # concat and concat-svdd (a subclass)
    out = tmp_path / "mfeat"
    # through the console-script entry point, which maps exit codes itself
    monkeypatch.setattr("sys.argv", ["tissue-mib", "-q", "bench", "mfeat", "--quick", "--data", str(shared_data / "uci-mfeat"),
                                     "--methods", "concat,single", "--out", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        app()
    assert exit_info.value.code == CELLS_FAILED
    assert "mfeat fou+fac concat seed 0 normal 0: TrainingDiverged" in capsys.readouterr().err
    result = json.loads((out / "mfeat_results.json").read_text())
    assert [f["cell"] for f in result["failures"]] == ["mfeat fou+fac concat seed 0", "mfeat fou+fac concat seed 0 normal 0"]
    assert all(r["status"] == "ok" for r in result["classification"] + result["anomaly"] if r["row"] != "concat")
    table = {r["method"]: r for r in result["table"]}
    assert table["concat"]["acc fou+fac"] == "— (1 of 1 failed)" and table["concat"]["AUROC fou+fac"] == "— (1 of 1 failed)"
    assert table["fac alone"]["acc fou+fac"] != "—"


def test_bad_input_exits_before_any_cell(monkeypatch):
    calls = []
    monkeypatch.setattr("tissue_mib.bench.sim.fit_predict", lambda *a, **k: calls.append(a))
    for args, what in ((["--epochs", "0"], "--epochs = 0"), (["--datasets", "I,IV"], "'IV'"), (["--n", "5"], "--n = 5"),
                       (["--device", "tpu"], "tpu")):
        res = runner.invoke(_app, ["bench", "sim", "--quick", *args])
        assert isinstance(res.exception, InputError) and what in str(res.exception), (args, res.output)
    assert calls == []


def test_bench_sim_defaults_are_the_papers_setting(monkeypatch):
    seen = {}

    def fake_run_sim(cfg, *, out, sweep, jobs):
        seen["cfg"], seen["sweep"], seen["jobs"] = cfg, sweep, jobs
        return {"table": [], "bayes_limit": [], "failures": [], "seconds": 0.0}

    monkeypatch.setattr("tissue_mib.bench.sim.run_sim", fake_run_sim)
    res = runner.invoke(_app, ["bench", "sim", "--no-sweep"])
    assert res.exit_code == 0, res.output
    cfg = seen["cfg"]
    assert seen["jobs"] == 1
    assert (cfg.n, cfg.datasets, cfg.seeds, cfg.rows, cfg.scale) == (10_000, ("I", "II", "III"), (0, 1, 2), ROWS, 1.0)
    assert (cfg.cell.epochs, cfg.cell.lr, cfg.cell.weight_decay, cfg.latent_dim) == (100, 1e-4, 0.0, 256)
    assert SimConfig().cell == Cell(epochs=100, lr=1e-4)


def test_eta_logs_an_estimate_after_the_first_cell_then_every_pass(caplog):
    caplog.set_level(logging.INFO, logger="tissue_mib.bench.run")
    eta = Eta("grid", 5, every=2)
    for _ in range(5):
        eta.step()
    lines = [r.getMessage() for r in caplog.records if "left (estimate)" in r.getMessage()]
    assert [line.split(" cells")[0] for line in lines] == ["grid: 1 of 5", "grid: 2 of 5", "grid: 4 of 5"]


@pytest.mark.parametrize("name", ["emotion", "sentiment", "cxr"])
def test_workflow_needs_data_or_synthetic(name):
    res = runner.invoke(_app, ["bench", name])
    assert isinstance(res.exception, InputError) and "--data PATH or --synthetic" in str(res.exception)


def test_jobs_run_cells_in_worker_processes_with_the_same_results(tmp_path, monkeypatch, shared_data):
    from dataclasses import replace

    from tissue_mib.bench.sim import run_sim

    cfg = replace(SimConfig.quick(), rows=("concat", "x1 alone"), seeds=(0, 1))
    monkeypatch.setattr("tissue_mib.bench.run.os.cpu_count", lambda: 2)  # two jobs: one thread each
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = run_sim(cfg, sweep=False)
    finally:
        torch.set_num_threads(threads)
    parallel = run_sim(cfg, sweep=False, jobs=2)
    assert [(r["dataset"], r["row"], r["seed"]) for r in parallel["records"]] == [
        (r["dataset"], r["row"], r["seed"]) for r in serial["records"]]
    assert [r["accuracy"] for r in parallel["records"]] == [r["accuracy"] for r in serial["records"]]
    res = runner.invoke(_app, ["-q", "bench", "mfeat", "--quick", "--methods", "concat,single", "--jobs", "2",
                               "--data", str(shared_data / "uci-mfeat"), "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "m" / "mfeat_results.json").read_text())
    assert [r["row"] for r in result["classification"]] == ["concat", "fou alone", "fac alone"]
    assert all(r["status"] == "ok" for r in result["anomaly"])
    res = runner.invoke(_app, ["bench", "sim", "--quick", "--jobs", "0"])
    assert isinstance(res.exception, InputError) and "jobs" in str(res.exception)
