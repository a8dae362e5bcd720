"""`bench sim --quick` and `bench mfeat --quick` end to end through the CLI (typer's CliRunner)."""

import json

import pytest
from typer.testing import CliRunner

from tissue_mib.cli.main import _app
from tissue_mib.errors import InputError

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
    assert "| authentic optimum |" in (out / "sim_table.md").read_text()


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


@pytest.mark.parametrize("name", ["emotion", "sentiment", "cxr"])
def test_workflow_needs_data_or_synthetic(name):
    res = runner.invoke(_app, ["bench", name])
    assert isinstance(res.exception, InputError) and "--data PATH or --synthetic" in str(res.exception)
