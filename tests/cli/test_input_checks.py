"""Every number is range-checked where it enters: CLI options and config keys give exit 2 and one line."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tissue_mib.checks import check_float, check_int, check_seed
from tissue_mib.cli import main
from tissue_mib.errors import InputError
from tissue_mib.pp import PrepConfig
from tissue_mib.tl.fit import _holdout_options
from tissue_mib.train import TrainConfig


def run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`tissue-mib ARGS` in-process; (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tissue-mib", "-q", *map(str, args)])
    try:
        main.app()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--normal", "X", "--epochs", "-3"], "--epochs = -3: must be an integer >= 1"),
        (["train", "--normal", "X", "--epochs", "0"], "--epochs = 0: must be an integer >= 1"),
        (["train", "--normal", "X", "--seed", "-1"], "--seed = -1: must be an integer in [0, 4294967295]"),
        (["train", "--normal", "X", "--seed", "4294967296"], "--seed = 4294967296: must be an integer in [0, 4294967295]"),
        (["score", "X", "--model", "m", "--fdr", "1.5"], "--fdr = 1.5: must be a finite number in (0, 1)"),
        (["score", "X", "--model", "m", "--fdr", "0"], "--fdr = 0.0: must be a finite number in (0, 1)"),
        (["score", "X", "--model", "m", "--fdr", "nan"], "--fdr = nan: must be a finite number in (0, 1)"),
        (["score", "X", "--model", "m", "--smooth", "-1"], "--smooth = -1: must be an integer >= 0"),
        (["score", "X", "--model", "m", "--min-region-spots", "0"], "--min-region-spots = 0: must be an integer >= 1"),
        (["demo", "--epochs", "0"], "--epochs = 0: must be an integer >= 1"),
        (["demo", "--contamination", "0.5"], "--contamination = 0.5: must be a finite number in [0, 0.5)"),
        (["demo", "--contamination", "-0.1"], "--contamination = -0.1: must be a finite number in [0, 0.5)"),
        (["demo-data", "--n-jobs", "0"], "--n-jobs = 0: must be an integer >= 1"),
        (["bench", "sim", "--quick", "--seeds", "0,-1"], "--seeds = -1: must be an integer in [0, 4294967295]"),
        (["bench", "sim", "--quick", "--jobs", "0"], "--jobs = 0: must be an integer >= 1"),
        (["bench", "contamination", "--threads", "0"], "--threads = 0: must be an integer >= 1"),
        (["bench", "contamination", "--cohort-seed", "-2"], "--cohort-seed = -2: must be an integer in [0, 4294967295]"),
        (["bench", "her2st", "--epochs", "-1"], "--epochs = -1: must be an integer >= 1"),
        (["bench", "emotion", "--synthetic", "--seed", "-5"], "--seed = -5: must be an integer in [0, 4294967295]"),
    ],
)
def test_bad_option_exits_2_with_one_line(monkeypatch, capsys, args, message):
    code, err = run(monkeypatch, capsys, *args)
    assert code == 2
    assert err.strip() == f"error: {message}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"epochs": -3}, "train config epochs = -3: must be an integer >= 1"),
        ({"epochs": {"warmup": 2, "main": 0}}, "train config epochs.main = 0: must be an integer >= 1"),
        ({"epochs": "ten"}, "train config epochs = 'ten': must be an integer >= 1"),
        ({"batch_size": 0}, "train config batch_size = 0: must be an integer >= 1"),
        ({"lr": 0.0}, "train config lr = 0.0: must be a finite number > 0"),
        ({"lr": float("inf")}, "train config lr = inf: must be a finite number > 0"),
        ({"lr": "fast"}, "train config lr = 'fast': must be a finite number > 0"),
        ({"threads": 0}, "train config threads = 0: must be an integer >= 1"),
        ({"seed": -1}, "train config seed = -1: must be an integer in [0, 4294967295]"),
        ({"weight_decay": -0.1}, "train config weight_decay = -0.1: must be a finite number >= 0"),
        ({"patience": -1}, "train config patience = -1: must be an integer >= 0"),
        ({"contamination": 0.5}, "train config contamination = 0.5: must be a finite number in [0, 0.5)"),
    ],
)
def test_train_config_ranges(fields, message):
    with pytest.raises(InputError) as err:
        TrainConfig.from_dict(fields)
    assert str(err.value) == message


def test_train_config_accepts_yaml_spellings():
    """PyYAML reads `1e-4` (no dot) as a string: numbers written as strings are taken."""
    cfg = TrainConfig.from_dict({"lr": "1e-4", "epochs": {"warmup": 2, "main": 5}, "threads": 1})
    assert cfg.lr == 1e-4 and cfg.epochs == {"warmup": 2, "main": 5} and cfg.threads == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_top_genes": 0}, "PrepConfig.n_top_genes = 0: must be an integer >= 1"),
        ({"patch_size": -32}, "PrepConfig.patch_size = -32: must be an integer >= 1"),
        ({"target_sum": -1}, "PrepConfig.target_sum = -1: must be a finite number > 0"),
        ({"patch_um": float("nan")}, "PrepConfig.patch_um = nan: must be a finite number > 0"),
        ({"n_neighs": "six"}, "PrepConfig.n_neighs = 'six': must be an integer >= 1"),
        ({"max_missing": 1.5}, "PrepConfig.max_missing = 1.5: must be a finite number in [0, 1]"),
        ({"n_pcs": 0}, "PrepConfig.n_pcs = 0: must be an integer >= 1"),
    ],
)
def test_prep_config_ranges(fields, message):
    with pytest.raises(InputError) as err:
        PrepConfig.from_dict(fields)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fraction": 1.0}, "config holdout fraction = 1.0: must be a finite number in (0, 1)"),
        ({"block_um": -5}, "config holdout block_um = -5: must be a finite number > 0"),
        ({"min_sections": 1}, "config holdout min_sections = 1: must be an integer >= 2"),
    ],
)
def test_holdout_config_ranges(options, message):
    with pytest.raises(InputError) as err:
        _holdout_options(options)
    assert str(err.value) == message


def test_bad_train_key_in_a_config_file_exits_2_before_training(monkeypatch, capsys, tmp_path, shared_data):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train: {epochs: -3}\n")
    section = shared_data / "visium-fixture-scanpy" / "1.0.0"
    code, err = run(monkeypatch, capsys, "train", "--normal", section, "--genes-only", "--config", cfg, "--out", tmp_path / "m")
    assert code == 2 and err.strip() == "error: train config epochs = -3: must be an integer >= 1"
    assert not (tmp_path / "m").exists()


def test_check_helpers_return_plain_numbers():
    assert check_int("10", name="x", lo=1) == 10 and check_int(3.0, name="x") == 3
    assert check_float("1e-4", name="x", lo=0.0, lo_open=True) == 1e-4
    assert check_seed(2**32 - 1, name="x") == 2**32 - 1
    with pytest.raises(InputError, match="must be an integer"):
        check_int(True, name="x")
    with pytest.raises(InputError, match="must be an integer"):
        check_int(2.5, name="x")


def _section_with(tmp_path, shared_data, edit) -> object:
    """A writable copy of the Space Ranger fixture after `edit(spatial_folder)`."""
    outs = tmp_path / "sample" / "outs"
    shutil.copytree(shared_data / "visium-fixture-scanpy" / "1.0.0", outs)
    for p in [outs, *outs.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    edit(outs / "spatial")
    return outs


def _negative_scalefactor(spatial):
    path = spatial / "scalefactors_json.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "spot_diameter_fullres": -89.4}))


def _duplicated_barcode(spatial):
    path = spatial / "tissue_positions_list.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[0].split(",")[0] + "," + lines[1].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_negative_scalefactor, "scalefactors_json.json: spot_diameter_fullres = -89.4: must be a finite number > 0"),
        (_duplicated_barcode, "tissue_positions_list.csv: duplicated barcode 'ACGCCTGACACGCGCT-1' (2 rows; 1 duplicated in all); each must appear once"),
    ],
)
def test_bad_section_file_exits_2_with_one_line(monkeypatch, capsys, tmp_path, shared_data, edit, message):
    outs = _section_with(tmp_path, shared_data, edit)
    code, err = run(monkeypatch, capsys, "train", "--normal", outs, "--genes-only", "--out", tmp_path / "m")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and err.strip().endswith(message)
    assert not (tmp_path / "m").exists()
