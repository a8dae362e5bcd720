"""Sizes and constants of the synthetic cohort: section names, the SMALL and FULL configs."""

from __future__ import annotations

from dataclasses import dataclass

NORMAL_SECTIONS = tuple(f"SYN-NB-{c}" for c in "ABCDEFGH")
CANCER_SECTIONS = tuple(f"SYN-BC-{c}" for c in "ABCD")
SECTION_NAMES = NORMAL_SECTIONS + CANCER_SECTIONS
# Further healthy sections that `write_cohort` does not write (`write_section` does): tissue a
# model never saw, to check its calibration. Their seeds follow those of SECTION_NAMES.
EXTRA_NORMAL_SECTIONS = tuple(f"SYN-NB-{c}" for c in "IJKLMNOP")

# Tumour share of the papers' test sections BC-A..D (her2st A1, B1, C1, D1).
DEFAULT_ANOMALY_FRACTIONS = dict(zip(CANCER_SECTIONS, (0.876, 0.214, 0.722, 0.454)))

# Largest share of a healthy section's spots that `contamination` may make anomalous.
MAX_CONTAMINATION = 0.5
# Version of the generator's output: bump it when the same parameters give different data, so
# that a cohort folder written by an older version is not reused (cohort.json records it).
# 2: per-domain sequencing depth after her2st, deep tumour-like gene anomalies; contamination.
GENERATOR_VERSION = 2

DOMAINS = ("stroma", "duct", "adipose", "immune")
ANOMALY_KINDS = ("normal", "genes", "histology", "both")

SPOT_UM = 55.0  # Visium spot diameter
SPACING_UM = 100.0  # Visium centre-to-centre distance


@dataclass(frozen=True)
class CohortConfig:
    """Size of each section and of the gene space.

    `rows` x `spots_per_row` is the hexagonal capture grid; the tissue covers between
    `spots_range` spots of it. `mpp` is the full-resolution image's micrometres per pixel.
    """

    name: str
    n_genes: int
    rows: int
    spots_per_row: int
    spots_range: tuple[int, int]
    mpp: float = 2.0
    margin_um: float = 200.0
    hires_px: int = 2000
    lowres_px: int = 600
    dispersion: float = 4.0  # negative-binomial shape (theta) of every gene
    dropout: float = 0.05  # extra zero-inflation probability per count
    cellularity: float = 0.85  # share of a fully tumorous spot's RNA from tumour cells (the gene anomaly strength)


SMALL = CohortConfig(name="small", n_genes=500, rows=26, spots_per_row=26, spots_range=(380, 460))
FULL = CohortConfig(name="full", n_genes=2000, rows=64, spots_per_row=64, spots_range=(2100, 2900), cellularity=0.5)


def config_for(small: bool) -> CohortConfig:
    """SMALL (tests, seconds) or FULL (the demo cohort)."""
    return SMALL if small else FULL
