"""Fixtures for the dataset tests: the small synthetic cohort, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synthetic_cohort(tmp_path_factory) -> Path:
    """Folder holding the small synthetic cohort (seed 0): 12 Space Ranger folders + .h5ad files."""
    from tissue_mib.datasets.synthetic import small_cohort
    from tissue_mib.settings import settings

    out = tmp_path_factory.mktemp("synthetic")
    old, settings.progress = settings.progress, False
    try:
        small_cohort(out)
    finally:
        settings.progress = old
    return out


@pytest.fixture(scope="session")
def synthetic_sections(synthetic_cohort) -> dict:
    """Every section of the small cohort read back through `tissue_mib.io.read`, by name."""
    from tissue_mib import io
    from tissue_mib.datasets.synthetic import SECTION_NAMES

    return {name: io.read(synthetic_cohort / f"{name}.h5ad") for name in SECTION_NAMES}
