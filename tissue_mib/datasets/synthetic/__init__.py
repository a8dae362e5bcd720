"""The built-in synthetic Visium cohort: SYN-NB-A..H (healthy) and SYN-BC-A..D (planted anomalies).

`write_cohort(out, small=..., seed=...)` writes each section as a Space Ranger-style folder
(10x h5, positions, scale factors, hires/lowres PNG, full-resolution pyramidal TIFF, truth.csv)
plus `<NAME>.h5ad` read back through `tissue_mib.io.read` with `obs['domain']` and
`obs['anomaly_kind']` (normal, genes, histology, both); `contamination=FRAC` plants the same
anomalies in that share of the healthy sections' spots. `generate_section` builds one in
memory; `write_section(out, "SYN-NB-I")` writes an extra healthy section the cohort does
not hold (healthy tissue a model never saw). See docs/synthetic-cohort.md.
"""

from tissue_mib.datasets.synthetic.cohort import is_complete, read_manifest, small_cohort, summary_table, write_cohort, write_section
from tissue_mib.datasets.synthetic.config import (
    ANOMALY_KINDS,
    CANCER_SECTIONS,
    DEFAULT_ANOMALY_FRACTIONS,
    DOMAINS,
    EXTRA_NORMAL_SECTIONS,
    FULL,
    GENERATOR_VERSION,
    MAX_CONTAMINATION,
    NORMAL_SECTIONS,
    SECTION_NAMES,
    SMALL,
    CohortConfig,
)
from tissue_mib.datasets.synthetic.section import SyntheticSection, generate_section

__all__ = [
    "ANOMALY_KINDS",
    "CANCER_SECTIONS",
    "DEFAULT_ANOMALY_FRACTIONS",
    "DOMAINS",
    "EXTRA_NORMAL_SECTIONS",
    "FULL",
    "GENERATOR_VERSION",
    "MAX_CONTAMINATION",
    "NORMAL_SECTIONS",
    "SECTION_NAMES",
    "SMALL",
    "CohortConfig",
    "SyntheticSection",
    "generate_section",
    "is_complete",
    "read_manifest",
    "small_cohort",
    "summary_table",
    "write_cohort",
    "write_section",
]
