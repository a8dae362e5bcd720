"""What the terminal shows: step lines by default, results only with -q, INFO with -v, help flags."""

from __future__ import annotations

import logging
import re

import pytest

from tissue_mib import logs



@pytest.fixture
def train_args(synthetic_cohort, tmp_path, monkeypatch):
    """A small demo-like run: gene-svdd, one epoch, on three healthy synthetic sections."""
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path / "cache"))
    normal = ",".join(str(synthetic_cohort / f"SYN-NB-{c}.h5ad") for c in "ABC")
    return ["train", "--normal", normal, "--method", "gene-svdd", "--epochs", "1", "--out", tmp_path / "model"]


def test_default_run_prints_one_line_per_step_and_no_info(train_args, cli):
    code, out, err = cli(*train_args)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert any(line.startswith("read 3 section(s): SYN-NB-A, SYN-NB-B, SYN-NB-C") for line in lines), err
    assert any(re.match(r"prepare \d training sections: [\d,]+ spots, [\d,]+ genes \([\d.]+ s\)$", line) for line in lines), err
    assert any(re.match(r"train gene-svdd: 1 epochs, [\d,]+ held-out spots to calibrate on \(", line) for line in lines), err
    assert "INFO" not in err and "DEBUG" not in err
    assert "model directory:" in out


def test_quiet_prints_results_only(train_args, cli):
    code, out, err = cli("-q", *train_args)
    assert code == 0 and err == ""
    assert "model directory:" in out


def test_verbose_counts(train_args, cli):
    code, _, err = cli("-v", *train_args)
    assert code == 0 and "INFO tissue_mib." in err and "DEBUG" not in err
    assert logs.level_for(2) == logging.DEBUG and logs.level_for(0, quiet=True) == logging.ERROR


def test_log_lines_go_through_tqdm_write(monkeypatch, capsys):
    """One mechanism: every record is written with tqdm.write, which keeps open bars whole."""
    written = []
    monkeypatch.setattr(logs.tqdm, "write", lambda s, file=None: written.append(s))
    logs.configure()
    with logs.step("fit thing") as line:
        line.detail = "3 spots"
    logging.getLogger("tissue_mib.x").info("hidden at the default level")
    logging.getLogger("tissue_mib.x").warning("careful")
    assert len(written) == 2 and re.fullmatch(r"fit thing: 3 spots \(0\.\d s\)", written[0]) and written[1] == "warning: careful"
    with logs.step("bench cell"), logs.step("train inside it"):  # a step inside a step is a detail: INFO
        pass
    assert written[2:] == ["bench cell (0.0 s)"]


def test_help_shows_flags_without_a_type(monkeypatch, cli):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = cli("--help")
    assert code == 0
    assert re.search(r"--quiet\s+-q\s+Results and errors only", out) and re.search(r"--verbose\s+-v\s+More detail", out)
    assert "<bool>" not in out and "<int>" not in out
    _, out, _ = cli("demo", "--help")
    assert "--full" in out and "<bool>" not in out
