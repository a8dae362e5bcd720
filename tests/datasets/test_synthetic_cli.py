"""`tissue-mib demo-data`: prints the per-section summary; reuses a complete cohort."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from tissue_mib.cli.main import _app, app
from tissue_mib.datasets.synthetic import summary_table


def test_demo_data_prints_summary_of_existing_cohort(synthetic_cohort):
    result = CliRunner().invoke(_app, ["demo-data", "--small", "--out", str(synthetic_cohort)])
    assert result.exit_code == 0, result.output
    assert "already there" in result.output
    for name in ("SYN-NB-A", "SYN-NB-H", "SYN-BC-A", "SYN-BC-D"):
        assert name in result.output
    for fraction in summary_table(synthetic_cohort)["anomalous"]:
        assert f"{fraction:.3f}" in result.output


def test_demo_data_default_out_is_the_catalogue_folder(tmp_path, monkeypatch, synthetic_cohort):
    monkeypatch.setenv("TISSUE_MIB_SYNTHETIC_DIR", str(synthetic_cohort))
    result = CliRunner().invoke(_app, ["demo-data", "--small"])
    assert result.exit_code == 0, result.output
    assert str(synthetic_cohort) in result.output.replace("\n", "")


def test_demo_data_rejects_bad_fractions_with_exit_code_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tissue-mib", "demo-data", "--small", "--out", str(tmp_path), "--anomaly-fractions", "0.5,x"])
    with pytest.raises(SystemExit) as exit_info:
        app()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --anomaly-fractions")
    assert not any(tmp_path.iterdir())
