"""What the terminal shows: step lines by default, results only with -q, INFO with -v, help flags."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from tissue_mib import logs
from tissue_mib.cli import main


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`tissue-mib ARGS` in-process; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tissue-mib", *map(str, args)])
    code = 0
    try:
        main.app()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def train_args(synthetic_cohort, tmp_path, monkeypatch):
    """A small demo-like run: gene-svdd, one epoch, on three healthy synthetic sections."""
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path / "cache"))
    normal = ",".join(str(synthetic_cohort / f"SYN-NB-{c}.h5ad") for c in "ABC")
    return ["train", "--normal", normal, "--method", "gene-svdd", "--epochs", "1", "--out", tmp_path / "model"]


def test_default_run_prints_one_line_per_step_and_no_info(monkeypatch, capsys, train_args):
    code, out, err = run(monkeypatch, capsys, *train_args)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert any(line.startswith("read 3 section(s): SYN-NB-A, SYN-NB-B, SYN-NB-C") for line in lines), err
    assert any(re.match(r"prepare \d training sections: [\d,]+ spots, [\d,]+ genes \([\d.]+ s\)$", line) for line in lines), err
    assert any(re.match(r"train gene-svdd: 1 epochs, [\d,]+ held-out spots to calibrate on \(", line) for line in lines), err
    assert "INFO" not in err and "DEBUG" not in err
    assert "model directory:" in out


def test_quiet_prints_results_only(monkeypatch, capsys, train_args):
    code, out, err = run(monkeypatch, capsys, "-q", *train_args)
    assert code == 0 and err == ""
    assert "model directory:" in out


def test_verbose_counts(monkeypatch, capsys, train_args):
    code, _, err = run(monkeypatch, capsys, "-v", *train_args)
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


def test_help_shows_flags_without_a_type(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(monkeypatch, capsys, "--help")
    assert code == 0
    assert re.search(r"--quiet\s+-q\s+Results and errors only", out) and re.search(r"--verbose\s+-v\s+More detail", out)
    assert "<bool>" not in out and "<int>" not in out
    _, out, _ = run(monkeypatch, capsys, "demo", "--help")
    assert "--full" in out and "<bool>" not in out
