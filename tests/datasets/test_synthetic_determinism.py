"""Same seed, same section (counts, coordinates, truth, image and file bytes); another seed differs."""

from __future__ import annotations

import numpy as np

from tissue_mib.datasets.synthetic import generate_section
from tissue_mib.datasets.synthetic.writer import write_section_folder


def _same(a, b) -> bool:
    return (
        a.counts.shape == b.counts.shape
        and (a.counts != b.counts).nnz == 0
        and a.spots.equals(b.spots)
        and a.truth.equals(b.truth)
        and np.array_equal(a.image, b.image)
    )


def test_same_seed_same_section_and_bytes(tmp_path):
    first = generate_section("SYN-BC-D", small=True, seed=3)
    second = generate_section("SYN-BC-D", small=True, seed=3)
    assert _same(first, second)
    write_section_folder(first, tmp_path / "a")
    write_section_folder(second, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 7
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_other_seed_or_fraction_changes_the_section():
    base = generate_section("SYN-BC-D", small=True, seed=3)
    other = generate_section("SYN-BC-D", small=True, seed=4)
    assert not _same(base, other)
    assert not base.spots["in_tissue"].equals(other.spots["in_tissue"])
    custom = generate_section("SYN-BC-D", small=True, seed=3, anomaly_fraction=0.2)
    assert custom.spots.equals(base.spots), "the tissue does not depend on the anomaly fraction"
    assert (custom.truth["anomaly_kind"] != "normal").mean() == np.round(0.2 * len(custom.truth)) / len(custom.truth)


def test_sections_are_independent_of_each_other():
    """A section depends on the seed and its own name only, so n_jobs and order cannot change it."""
    a = generate_section("SYN-NB-B", small=True, seed=0)
    b = generate_section("SYN-NB-C", small=True, seed=0)
    assert not a.spots["in_tissue"].equals(b.spots["in_tissue"])
    assert np.array_equal(a.gene_ids, b.gene_ids), "one gene space for the cohort"
