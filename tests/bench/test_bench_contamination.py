"""`bench contamination`: a tiny grid through the CLI (gene-svdd, levels 0 and 0.2, one epoch)
reusing the session's small cohort for level 0; the JSON and table carry levels and trims."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tissue_mib.bench.contamination import METHODS, ContaminationConfig, parse_trims, trim_value
from tissue_mib.cli.main import _app
from tissue_mib.demo import CANCER
from tissue_mib.errors import InputError

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, synthetic_cohort):
    out = tmp_path_factory.mktemp("contamination")
    (out / "cohort-c0").symlink_to(synthetic_cohort, target_is_directory=True)  # level 0: the session's cohort
    args = ["-q", "bench", "contamination", "--methods", "gene-svdd", "--levels", "0,0.2", "--trim", "0,match",
            "--epochs", "1", "--seeds", "0", "--threads", "1", "--out", str(out)]  # fmt: skip
    res = runner.invoke(_app, args)
    assert res.exit_code == 0, res.output
    return out, res.output, json.loads((out / "contamination_results.json").read_text())


def test_records_carry_levels_trims_and_aurocs(tiny_run):
    out, _, result = tiny_run
    assert result["benchmark"] == "contamination" and result["failures"] == []
    assert result["config"]["levels"] == [0.0, 0.2] and result["config"]["trims"] == ["0", "match"]
    recs = {(r["level"], r["trim"]): r for r in result["records"]}
    assert set(recs) == {(0.0, "0"), (0.0, "match"), (0.2, "0"), (0.2, "match")}
    for (level, trim), r in recs.items():
        assert r["status"] == "ok" and r["method"] == "gene-svdd" and r["seed"] == 0
        assert r["trim_value"] == trim_value(trim, level)
        assert set(r["auroc_sections"]) == set(CANCER)
        assert 0.0 <= r["auroc"] <= 1.0
        assert r["auroc"] == pytest.approx(sum(r["auroc_sections"].values()) / len(CANCER))
        assert r["reference_anomalous_share"] == pytest.approx(level, abs=0.01)
    # at level 0 `match` trims nothing: the model of trim 0, not trained again
    assert recs[(0.0, "match")]["same_model_as"] == "0" and recs[(0.0, "match")]["auroc"] == recs[(0.0, "0")]["auroc"]
    assert recs[(0.2, "match")]["trim_value"] == 0.2 and "same_model_as" not in recs[(0.2, "match")]
    base = recs[(0.0, "0")]["auroc"]
    for (level, trim), r in recs.items():
        assert r["loss"] == pytest.approx(base - r["auroc"])
        assert r["vs_trim0"] == pytest.approx(r["auroc"] - recs[(level, "0")]["auroc"])
    # level 0 came from the session's cohort; level 0.2 was written under --out
    assert result["cohorts"]["0"] == str(out / "cohort-c0")
    manifest = json.loads((out / "cohort-c0.2" / "cohort.json").read_text())
    assert manifest["contamination"] == 0.2 and manifest["size"] == "small"


def test_table_has_a_row_per_method_level_and_trim(tiny_run):
    out, output, result = tiny_run
    assert [(r["method"], r["level"], r["trim"]) for r in result["table"]] == [
        ("gene-svdd", "0", "0"), ("gene-svdd", "0", "match (0)"), ("gene-svdd", "0.2", "0"), ("gene-svdd", "0.2", "match (0.2)")]
    for row in result["table"]:
        assert 0.0 <= row["auroc_mean"] <= 1.0 and row["auroc_sd"] == 0.0 and row["n_seeds"] == 1
    table = (out / "contamination_table.md").read_text()
    assert "| method | level | trim | AUROC | loss vs level 0 | vs trim 0 | SYN-BC-A |" in table
    assert "| gene-svdd | 0.2 | match (0.2) |" in table and "| gene-svdd | 0 | 0 |" in table
    assert "bench contamination" in output and "match (0.2)" in output


def test_options_and_defaults():
    assert METHODS == ("omib", "ibma", "concat-svdd", "gene-svdd", "histo-svdd")
    from tissue_mib.cli.demo import DEMO_METHODS

    assert METHODS == DEMO_METHODS
    assert parse_trims("0, MATCH,0.10,0.1,0.0") == ("0", "match", "0.1")
    assert ContaminationConfig(trims=(0.0, "match", 0.05)).trims == ("0", "match", "0.05")
    assert ContaminationConfig().epochs == 8


@pytest.mark.parametrize(("args", "words"), [
    (["--trim", "0.6"], "--trim"),
    (["--trim", "half"], "--trim"),
    (["--levels", "0,0.7"], "contamination must be between"),
    (["--levels", "0,0.5", "--trim", "match"], "below 0.5"),
    (["--methods", "nonsense"], "nonsense"),
    (["--epochs", "0"], "--epochs"),
])  # fmt: skip
def test_bad_options_stop_before_any_cohort(tmp_path, args, words):
    res = runner.invoke(_app, ["bench", "contamination", "--out", str(tmp_path / "o"), *args])
    assert isinstance(res.exception, InputError) and words in str(res.exception), res.output
    assert not (tmp_path / "o").exists()
