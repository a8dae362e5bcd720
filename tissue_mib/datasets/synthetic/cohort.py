"""Write the whole synthetic cohort (SYN-NB-A..H healthy, SYN-BC-A..D with anomalies)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from tissue_mib.datasets.synthetic.config import (
    CANCER_SECTIONS,
    DEFAULT_ANOMALY_FRACTIONS,
    EXTRA_NORMAL_SECTIONS,
    GENERATOR_VERSION,
    NORMAL_SECTIONS,
    SECTION_NAMES,
)
from tissue_mib.datasets.synthetic.section import SyntheticSection, check_contamination, check_fraction, generate_section
from tissue_mib.datasets.synthetic.writer import write_section_folder
from tissue_mib.errors import InputError
from tissue_mib.logs import step
from tissue_mib.settings import progress
from tissue_mib.utils import atomic_write

MANIFEST_FILE = "cohort.json"


def summarize(section: SyntheticSection) -> dict:
    """One summary record: spots, genes, domain counts, anomaly fraction, kind counts and the
    median UMIs per spot of the normal and the anomalous spots."""
    kinds = section.truth["anomaly_kind"].value_counts().to_dict()
    totals = np.asarray(section.counts.sum(axis=1)).ravel()
    anomalous = (section.truth["anomaly_kind"] != "normal").to_numpy()
    return {
        "section": section.name,
        "spots": int(section.counts.shape[0]),
        "genes": int(section.counts.shape[1]),
        "domains": {str(k): int(v) for k, v in section.truth["domain"].value_counts().items()},
        "anomaly_fraction": float((section.truth["anomaly_kind"] != "normal").mean()),
        "kinds": {str(k): int(kinds.get(k, 0)) for k in section.truth["anomaly_kind"].cat.categories},
        "median_umis_normal": float(np.median(totals[~anomalous])) if (~anomalous).any() else None,
        "median_umis_anomalous": float(np.median(totals[anomalous])) if anomalous.any() else None,
    }


def resolve_fractions(anomaly_fractions: Sequence[float] | Mapping[str, float] | None) -> dict[str, float]:
    """Anomaly fraction per SYN-BC section: defaults, a sequence of 4 (A..D) or a mapping by name."""
    if anomaly_fractions is None:
        return dict(DEFAULT_ANOMALY_FRACTIONS)
    if isinstance(anomaly_fractions, Mapping):
        unknown = sorted(set(anomaly_fractions) - set(CANCER_SECTIONS))
        if unknown:
            raise InputError(f"anomaly_fractions: unknown sections {unknown}; known: {', '.join(CANCER_SECTIONS)}")
        fractions = {**DEFAULT_ANOMALY_FRACTIONS, **anomaly_fractions}
    else:
        values = list(anomaly_fractions)
        if len(values) != len(CANCER_SECTIONS):
            raise InputError(f"anomaly_fractions: expected {len(CANCER_SECTIONS)} values for {', '.join(CANCER_SECTIONS)}, got {len(values)}")
        fractions = dict(zip(CANCER_SECTIONS, values))
    return {name: check_fraction(name, f) for name, f in fractions.items()}


def _write_section(out: Path, name: str, small: bool, seed: int, fraction: float, contamination: float = 0.0) -> dict:
    """Generate `name`, write its folder, read it back through io.read, add the truth, write the h5ad."""
    from tissue_mib import io

    section = generate_section(name, small=small, seed=seed, anomaly_fraction=fraction, contamination=contamination)
    folder = out / name
    tiff = write_section_folder(section, folder)
    adata = io.read(folder, image=tiff)
    truth = section.truth.loc[adata.obs_names]
    adata.obs["domain"] = truth["domain"].array
    adata.obs["anomaly_kind"] = truth["anomaly_kind"].array
    adata.uns["tissue_mib_synthetic"] = {
        "section": name,
        "size": section.config.name,
        "seed": seed,
        "anomaly_fraction": contamination if contamination > 0 else fraction,  # planted share of spots
        "contamination": contamination,
        "generator": GENERATOR_VERSION,
    }
    with atomic_write(out / f"{name}.h5ad") as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    return summarize(section)


def write_cohort(
    out: str | os.PathLike,
    *,
    small: bool = False,
    seed: int = 0,
    anomaly_fractions: Sequence[float] | Mapping[str, float] | None = None,
    contamination: float = 0.0,
    n_jobs: int = 1,
) -> list[Path]:
    """Write SYN-NB-A..H and SYN-BC-A..D to `out`: a Space Ranger-style folder and an `.h5ad` per section.

    `small`: a few hundred spots and 500 genes per section (seconds) instead of 2,100-2,900
    spots and 2,000 genes. `anomaly_fractions`: tumour share of SYN-BC-A..D (4 values or a
    mapping by name; default 0.876, 0.214, 0.722, 0.454). `contamination` (0 to 0.5): the
    share of each healthy section's (SYN-NB-A..H) spots made anomalous with the same planted
    anomalies as SYN-BC, so the healthy reference is impure; the truth is in
    `obs['anomaly_kind']` as in SYN-BC. `n_jobs`: sections written in parallel processes; the
    output does not depend on it. Also writes `cohort.json` (parameters, generator version and
    a per-section summary). Returns the `.h5ad` paths in section order.
    """
    out = Path(out)
    fractions = resolve_fractions(anomaly_fractions)
    contamination = check_contamination(contamination)
    if n_jobs < 1:
        raise InputError(f"n_jobs must be >= 1, got {n_jobs}")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, name, small, seed, fractions.get(name, 0.0), contamination if name in NORMAL_SECTIONS else 0.0) for name in SECTION_NAMES]
    with step(f"write the {'small' if small else 'full'} synthetic cohort ({len(jobs)} sections)") as line:
        if n_jobs == 1:
            summaries = [_write_section(*job) for job in progress(jobs, desc="synthetic sections")]
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                summaries = list(progress(pool.map(_write_section, *zip(*jobs)), desc="synthetic sections", total=len(jobs)))
        line.detail = f"seed {seed}, contamination {contamination:g}, to {out}"
    manifest = {
        "generator": GENERATOR_VERSION,
        "size": "small" if small else "full",
        "seed": seed,
        "anomaly_fractions": fractions,
        "contamination": contamination,
        "sections": summaries,
    }
    with atomic_write(out / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return [out / f"{name}.h5ad" for name in SECTION_NAMES]


def write_section(out: str | os.PathLike, name: str = "SYN-NB-I", *, small: bool = False, seed: int = 0) -> Path:
    """Write one extra healthy section (SYN-NB-I..P) of the cohort with this size and seed to `out`.

    Same generator, gene space and kind of batch effects as SYN-NB-A..H, its own random stream
    (layout, counts, image): healthy tissue a model trained on the cohort never saw, e.g. to
    check that its p-values are uniform. Returns the `.h5ad` path; `out/<name>/` is the folder.
    """
    if name not in EXTRA_NORMAL_SECTIONS:
        raise InputError(f"write_section: {name!r} is not an extra healthy section; use one of {', '.join(EXTRA_NORMAL_SECTIONS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_section(out, name, small, seed, 0.0)
    return out / f"{name}.h5ad"


def read_manifest(out: str | os.PathLike) -> dict:
    """The `cohort.json` that write_cohort left in `out`."""
    path = Path(out) / MANIFEST_FILE
    if not path.is_file():
        raise InputError(f"{path}: no synthetic cohort manifest; run `tissue-mib demo-data`")
    return json.loads(path.read_text())


def _umis(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def summary_table(out: str | os.PathLike) -> pd.DataFrame:
    """Per-section summary of the cohort in `out` (spots, genes, domains, anomaly fraction and
    kinds, median UMIs per spot of the normal and the anomalous spots)."""
    rows = []
    for rec in read_manifest(out)["sections"]:
        rows.append(
            {
                "section": rec["section"],
                "spots": rec["spots"],
                "genes": rec["genes"],
                "domains": ", ".join(f"{k} {v}" for k, v in rec["domains"].items()),
                "anomalous": rec["anomaly_fraction"],
                **{f"{k}-only" if k in ("genes", "histology") else k: v for k, v in rec["kinds"].items() if k != "normal"},
                "UMIs normal": _umis(rec.get("median_umis_normal")),
                "UMIs anomalous": _umis(rec.get("median_umis_anomalous")),
            }
        )
    return pd.DataFrame(rows)


def is_complete(out: str | os.PathLike, *, small: bool, seed: int, anomaly_fractions=None, contamination: float = 0.0) -> bool:
    """Whether `out` already holds the cohort that write_cohort would write with these parameters
    (size, seed, anomaly fractions, contamination) and this generator version."""
    out = Path(out)
    manifest = out / MANIFEST_FILE
    if not manifest.is_file() or not all((out / f"{name}.h5ad").is_file() for name in SECTION_NAMES):
        return False
    try:
        doc = json.loads(manifest.read_text())
    except ValueError:
        return False
    return (
        doc.get("generator") == GENERATOR_VERSION
        and doc.get("size") == ("small" if small else "full")
        and doc.get("seed") == seed
        and doc.get("anomaly_fractions") == resolve_fractions(anomaly_fractions)
        and doc.get("contamination", 0.0) == check_contamination(contamination)
    )


def small_cohort(tmpdir: str | os.PathLike, *, seed: int = 0, contamination: float = 0.0) -> list[Path]:
    """The small cohort in `tmpdir` for tests (the `.h5ad` paths): written once, reused while complete."""
    if not is_complete(tmpdir, small=True, seed=seed, contamination=contamination):
        write_cohort(tmpdir, small=True, seed=seed, contamination=contamination)
    return [Path(tmpdir) / f"{name}.h5ad" for name in SECTION_NAMES]
