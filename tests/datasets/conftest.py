"""Fixtures for the dataset tests: the small synthetic cohort (tests/conftest.py) read back by name."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synthetic_sections(synthetic_cohort) -> dict:
    """Every section of the small cohort read back through `tissue_mib.io.read`, by name."""
    from tissue_mib import io
    from tissue_mib.datasets.synthetic import SECTION_NAMES

    return {name: io.read(synthetic_cohort / f"{name}.h5ad") for name in SECTION_NAMES}
