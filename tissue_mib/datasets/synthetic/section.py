"""One synthetic section in memory: counts, spots, truth and the full-resolution image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from tissue_mib.datasets.synthetic import genes, histology
from tissue_mib.datasets.synthetic.config import (
    ANOMALY_KINDS,
    CANCER_SECTIONS,
    DEFAULT_ANOMALY_FRACTIONS,
    DOMAINS,
    EXTRA_NORMAL_SECTIONS,
    MAX_CONTAMINATION,
    SECTION_NAMES,
    CohortConfig,
    config_for,
)
from tissue_mib.datasets.synthetic.layout import Layout, make_layout, spot_composition
from tissue_mib.errors import InputError

_BASES = np.array(list("ACGT"))


@dataclass
class SyntheticSection:
    """A generated section.

    `counts`: int32 CSR (n_spots, n_genes) over the in-tissue spots, in the order of `truth`;
    `spots`: every grid spot (Space Ranger positions columns, indexed by barcode);
    `truth`: in-tissue spots (index barcode) with categorical `domain` and `anomaly_kind`;
    `image`: uint8 (H, W, 3) full resolution at `mpp` µm/px; `layout`: the pixel maps.
    """

    name: str
    config: CohortConfig
    counts: sparse.csr_matrix
    gene_ids: np.ndarray
    gene_symbols: np.ndarray
    spots: pd.DataFrame
    truth: pd.DataFrame
    image: np.ndarray
    layout: Layout

    @property
    def mpp(self) -> float:
        return self.config.mpp


def barcodes(n: int) -> np.ndarray:
    """Visium-style barcodes (16 bases + `-1`), distinct for spot indices 0..n-1."""
    digits = (np.arange(n)[:, None] * 2654435761 % 4**16 // 4 ** np.arange(15, -1, -1)[None]) % 4
    return np.array(["".join(row) + "-1" for row in _BASES[digits]])


def section_seeds(seed: int, name: str) -> list[np.random.Generator]:
    """Independent generators (layout, genes, image) for section `name`; they do not depend on other sections."""
    children = np.random.SeedSequence([seed, 1 + (SECTION_NAMES + EXTRA_NORMAL_SECTIONS).index(name)]).spawn(3)
    return [np.random.default_rng(s) for s in children]


def cohort_programmes(seed: int, config: CohortConfig) -> genes.GeneProgrammes:
    """The gene programmes shared by all sections of a cohort with this seed."""
    return genes.make_programmes(np.random.default_rng(np.random.SeedSequence([seed, 0])), config.n_genes)


def check_fraction(name: str, fraction: float) -> float:
    if not 0 <= float(fraction) < 1:
        raise InputError(f"anomaly fraction of {name} must be in [0, 1), got {fraction}")
    if name not in CANCER_SECTIONS and float(fraction) > 0:
        raise InputError(f"{name} is a healthy section; anomaly fractions apply to {', '.join(CANCER_SECTIONS)} only")
    return float(fraction)


def check_contamination(contamination: float) -> float:
    """The share of a healthy section's spots made anomalous: a number in [0, MAX_CONTAMINATION]."""
    try:
        value = float(contamination)
    except (TypeError, ValueError):
        raise InputError(f"contamination must be a number between 0 and {MAX_CONTAMINATION}, got {contamination!r}") from None
    if not 0 <= value <= MAX_CONTAMINATION:  # also rejects nan
        raise InputError(f"contamination must be between 0 and {MAX_CONTAMINATION}, got {contamination}")
    return value


def generate_section(
    name: str,
    *,
    small: bool = False,
    seed: int = 0,
    anomaly_fraction: float | None = None,
    contamination: float = 0.0,
) -> SyntheticSection:
    """Generate section `name` (one of SYN-NB-A..H, SYN-BC-A..D, or an extra healthy SYN-NB-I..P) in memory.

    `anomaly_fraction`: share of in-tissue spots that are anomalous (default: 0 for SYN-NB,
    0.876, 0.214, 0.722, 0.454 for SYN-BC-A..D). `contamination` (SYN-NB only, 0 to 0.5): the
    share of a healthy section's spots made anomalous with the same planted anomalies as
    SYN-BC (blobs split into histology | both | genes), so a healthy reference is impure; the
    tissue, its domains and the other spots' layout do not change with it. Same name, size,
    seed, fraction and contamination give the same section; the gene space depends on the
    seed and size only.
    """
    if name not in SECTION_NAMES + EXTRA_NORMAL_SECTIONS:
        raise InputError(f"unknown synthetic section {name!r}; known: {', '.join(SECTION_NAMES + EXTRA_NORMAL_SECTIONS)}")
    config = config_for(small)
    fraction = check_fraction(name, DEFAULT_ANOMALY_FRACTIONS.get(name, 0.0) if anomaly_fraction is None else anomaly_fraction)
    contamination = check_contamination(contamination)
    if contamination > 0:
        if name in CANCER_SECTIONS:
            raise InputError(f"{name} is a cancer section; contamination applies to the healthy sections SYN-NB-* only")
        fraction = contamination
    programmes = cohort_programmes(seed, config)
    layout_rng, gene_rng, image_rng = section_seeds(seed, name)

    layout = make_layout(layout_rng, config, anomaly_fraction=fraction)
    spots = layout.spots.copy()
    spots.index = pd.Index(barcodes(len(spots)), name="barcode")
    in_tissue = spots[spots["in_tissue"] == 1]
    composition, tumour_share = spot_composition(layout, config)
    kind_codes = layout.anomaly_map[in_tissue["pxl_row_in_fullres"].to_numpy(), in_tissue["pxl_col_in_fullres"].to_numpy()]
    truth = pd.DataFrame(
        {
            "domain": pd.Categorical.from_codes(composition.argmax(1), categories=list(DOMAINS)),
            "anomaly_kind": pd.Categorical.from_codes(kind_codes.astype(np.int64), categories=list(ANOMALY_KINDS)),
        },
        index=in_tissue.index,
    )
    counts = genes.sample_counts(gene_rng, programmes, composition=composition, tumour_share=tumour_share, config=config)
    image = histology.render(image_rng, layout, mpp=config.mpp)
    return SyntheticSection(
        name=name,
        config=config,
        counts=counts,
        gene_ids=programmes.gene_ids,
        gene_symbols=programmes.gene_symbols,
        spots=spots,
        truth=truth,
        image=image,
        layout=layout,
    )
