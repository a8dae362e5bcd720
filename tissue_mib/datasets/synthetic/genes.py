"""Gene programmes of the synthetic cohort and negative-binomial counts per spot.

Each domain has its own marker genes on top of a shared baseline; the tumour programme
(gene anomalies) raises cycling and epithelial genes and shifts a random set of others,
all of them genes that already vary between healthy domains, so HVG selection keeps them.
A spot's expected profile mixes the domains in its disc and, where gene-anomalous, the
tumour profile (share = tumour tissue in the disc x cellularity).

Sequencing depth follows the tissue as in real breast sections (her2st A1..D1, see
docs/synthetic-cohort.md): adipose and stroma are UMI-poor (about 1.1-1.3k UMIs per spot),
glands somewhat richer, immune aggregates richer still, and gene-anomalous (tumour-like)
tissue deep (median about 5k, 3-10k). Histology-only anomalies keep their domain's depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from tissue_mib.datasets.synthetic.config import DOMAINS, CohortConfig

# Expected UMIs per spot (median of a log-normal) and the log-sd of its spread per spot, by
# domain and for gene-anomalous (tumour) tissue. From her2st's pathologist labels (A1..D1):
# adipose median 1.2k (IQR 0.9-1.5k), breast glands 1.4k (0.8-2.0k), invasive cancer 6.4k
# (4.3-11k); within a section the log-sd of a class is mostly 0.4-0.7 and immune infiltrate
# has 1-1.5x the UMIs of connective tissue. The medians are set before the 5 % dropout (measured figures in the docs).
DOMAIN_DEPTH = {"stroma": (1350.0, 0.5), "duct": (1900.0, 0.55), "adipose": (1150.0, 0.45), "immune": (2300.0, 0.4)}
TUMOUR_DEPTH = (5500.0, 0.5)


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


def spot_depth(composition: np.ndarray, tumour_share: np.ndarray) -> np.ndarray:
    """Median expected UMIs per spot (n,): the disc's domains and its gene-anomalous tissue by area.

    Tumour tissue counts by its area, not by the cellularity: the tumour is dense and deep
    even where only part of its RNA carries the tumour profile.
    """
    domain = composition @ np.array([DOMAIN_DEPTH[d][0] for d in DOMAINS])
    return (1 - tumour_share) * domain + tumour_share * TUMOUR_DEPTH[0]


def spot_log_sd(composition: np.ndarray, tumour_share: np.ndarray) -> np.ndarray:
    """Log-sd (n,) of each spot's depth around `spot_depth`, mixed like the depth."""
    domain = composition @ np.array([DOMAIN_DEPTH[d][1] for d in DOMAINS])
    return (1 - tumour_share) * domain + tumour_share * TUMOUR_DEPTH[1]


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
    (gene-wise log fold changes, sd 0.15, and a depth factor, sd 0.15 in log). Each spot's
    depth is log-normal around `spot_depth` with the log-sd `spot_log_sd`."""
    n_genes = programmes.gene_ids.size
    batch_shift = rng.normal(0.0, 0.15, n_genes)
    section_depth = np.exp(rng.normal(0.0, 0.15))
    tumour = config.cellularity * tumour_share[:, None]
    mean = (1 - tumour) * (composition @ _profiles(programmes.domain_log_mean + batch_shift)) + tumour * _profiles(programmes.tumour_log_mean + batch_shift)
    depth = spot_depth(composition, tumour_share) * section_depth * np.exp(spot_log_sd(composition, tumour_share) * rng.normal(0.0, 1.0, len(composition)))
    mean *= depth[:, None]
    theta = config.dispersion
    counts = rng.poisson(rng.gamma(theta, mean / theta))
    counts[rng.random(counts.shape) < config.dropout] = 0
    return sparse.csr_matrix(counts.astype(np.int32))
