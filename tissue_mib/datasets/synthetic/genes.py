"""Gene programmes of the synthetic cohort and negative-binomial counts per spot.

Each domain has its own marker genes on top of a shared baseline; the tumour programme
(gene anomalies) raises cycling and epithelial genes and shifts a random set of others,
all of them genes that already vary between healthy domains, so HVG selection keeps them.
A spot's expected profile mixes the domains in its disc and, where gene-anomalous, the
tumour profile (share = tumour tissue in the disc x cellularity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from tissue_mib.datasets.synthetic.config import DOMAINS, CohortConfig

# Relative RNA content per domain (adipose spots are poor in UMIs, immune and ducts rich).
_DOMAIN_DEPTH = {"stroma": 0.9, "duct": 1.2, "adipose": 0.45, "immune": 1.3}
_TUMOUR_DEPTH = 1.25


@dataclass(frozen=True)
class GeneProgrammes:
    """Cohort-wide gene space: IDs, symbols and log mean profiles (domains (D, G), tumour (G,))."""

    gene_ids: np.ndarray
    gene_symbols: np.ndarray
    domain_log_mean: np.ndarray
    tumour_log_mean: np.ndarray


def make_programmes(rng: np.random.Generator, n_genes: int) -> GeneProgrammes:
    """Draw the baseline, domain markers (4 % of genes each), cycling genes (2 %) and the tumour shift."""
    n_markers, n_cycling = max(10, n_genes // 25), max(8, n_genes // 50)
    groups = [d.upper() for d in DOMAINS] + ["CYCLING"]
    sizes = [n_markers] * len(DOMAINS) + [n_cycling]
    labels = np.concatenate([np.full(n, g) for g, n in zip(groups, sizes)] + [np.full(n_genes - sum(sizes), "SG")])
    symbols = np.array([f"{g}{i + 1}" for g in groups + ["SG"] for i in range((labels == g).sum())])
    ids = np.array([f"ENSSYN{i + 1:06d}" for i in range(n_genes)])

    base = rng.normal(0.0, 1.0, n_genes)
    domain_log_mean = base + rng.normal(0.0, 0.2, (len(DOMAINS), n_genes))
    for d, name in enumerate(DOMAINS):
        markers = labels == name.upper()
        domain_log_mean[d, markers] += rng.uniform(1.5, 3.0, markers.sum())
    cycling = labels == "CYCLING"
    domain_log_mean[DOMAINS.index("immune"), cycling] += 0.8

    # Tumour: epithelial (duct markers), cycling, and a shift of 10 % of the domain markers and
    # background genes; stromal and adipose markers fall.
    tumour = base + rng.normal(0.0, 0.2, n_genes)
    tumour[labels == "DUCT"] += rng.uniform(0.8, 1.8, n_markers)
    tumour[cycling] += rng.uniform(2.0, 3.0, n_cycling)
    tumour[(labels == "STROMA") | (labels == "ADIPOSE")] -= 0.8
    shifted = rng.choice(np.flatnonzero(labels != "CYCLING"), size=n_genes // 10, replace=False)
    tumour[shifted] += rng.choice([-1.0, 1.0], shifted.size) * rng.uniform(1.0, 2.0, shifted.size)
    return GeneProgrammes(gene_ids=ids, gene_symbols=symbols, domain_log_mean=domain_log_mean, tumour_log_mean=tumour)


def _profiles(log_mean: np.ndarray) -> np.ndarray:
    p = np.exp(log_mean - log_mean.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def sample_counts(
    rng: np.random.Generator,
    programmes: GeneProgrammes,
    *,
    composition: np.ndarray,
    tumour_share: np.ndarray,
    config: CohortConfig,
) -> sparse.csr_matrix:
    """Counts (n_spots, n_genes) int32 CSR for spots with domain shares `composition` (n, D)
    and gene-anomalous tissue share `tumour_share` (n,), with a per-section batch effect
    (gene-wise log fold changes, sd 0.15, and a depth factor, sd 0.15 in log)."""
    n_genes = programmes.gene_ids.size
    batch_shift = rng.normal(0.0, 0.15, n_genes)
    section_depth = np.exp(rng.normal(0.0, 0.15))
    tumour = config.cellularity * tumour_share[:, None]
    mean = (1 - tumour) * (composition @ _profiles(programmes.domain_log_mean + batch_shift)) + tumour * _profiles(programmes.tumour_log_mean + batch_shift)
    depth_factor = composition @ np.array([_DOMAIN_DEPTH[d] for d in DOMAINS])
    depth_factor = depth_factor * (1 + tumour[:, 0] * (_TUMOUR_DEPTH - 1))
    depth = config.median_umi * section_depth * depth_factor * np.exp(rng.normal(0.0, 0.3, len(composition)))
    mean *= depth[:, None]
    theta = config.dispersion
    counts = rng.poisson(rng.gamma(theta, mean / theta))
    counts[rng.random(counts.shape) < config.dropout] = 0
    return sparse.csr_matrix(counts.astype(np.int32))
