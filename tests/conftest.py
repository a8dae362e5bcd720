"""Shared test fixtures: paths to ../shared/data (beside the repository root) and quiet progress."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
