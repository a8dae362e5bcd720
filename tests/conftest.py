"""Shared test fixtures: paths to ../shared/data (beside the repository root) and quiet progress."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tests use tiny tensors and arrays, for which one thread (torch and BLAS) is fastest."""
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder `../shared/data` (her2st, visium fixtures, uci-mfeat)."""
    if not SHARED_DATA.is_dir():
        raise FileNotFoundError(f"../shared/data not found beside the repository at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _quiet_progress():
    from tissue_mib.settings import settings

    old = settings.progress
    settings.progress = False
    yield
    settings.progress = old


@pytest.fixture(autouse=True)
def _reset_logging():
    """A CLI run configures the root logger (tissue_mib.logs.configure); undo it after each test."""
    import logging

    from tissue_mib.logs import TqdmHandler

    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, TqdmHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture(scope="session")
def synthetic_cohort(tmp_path_factory) -> Path:
    """Folder holding the small synthetic cohort (seed 0), written once per test session:
    12 Space Ranger folders + `.h5ad` files (SYN-NB-A..H, SYN-BC-A..D)."""
    from tissue_mib.datasets.synthetic import small_cohort
    from tissue_mib.settings import settings

    out = tmp_path_factory.mktemp("synthetic")
    old, settings.progress = settings.progress, False
    try:
        small_cohort(out)
    finally:
        settings.progress = old
    return out


@pytest.fixture
def cli(monkeypatch, capsys):
    """cli(*args) runs `tissue-mib ARGS` in-process through the console entry point: (exit code, stdout, stderr)."""
    import sys

    from tissue_mib.cli import main

    def run(*args) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["tissue-mib", *map(str, args)])
        code = 0
        try:
            main.app()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
