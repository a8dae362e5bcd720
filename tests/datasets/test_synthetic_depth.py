"""Sequencing depth follows the tissue as in real breast tissue (her2st A1..D1): adipose and
stroma shallow (about 1-1.5k UMIs per spot), glands somewhat deeper, the planted gene
anomalies tumour-like deep (3-10k); histology-only anomalies keep their domain's depth. So
UMIs per spot alone rank the anomalies, and a score that falls with depth is inverted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tissue_mib.datasets.synthetic import CANCER_SECTIONS, SECTION_NAMES


def _totals(adata) -> np.ndarray:
    return np.asarray(adata.X.sum(axis=1)).ravel()


@pytest.fixture(scope="module")
def spots(synthetic_sections) -> pd.DataFrame:
    """Every in-tissue spot of the small cohort: section, domain, anomaly kind and UMIs."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "section": name,
                    "domain": a.obs["domain"].astype(str).to_numpy(),
                    "kind": a.obs["anomaly_kind"].astype(str).to_numpy(),
                    "umis": _totals(a),
                }
            )
            for name, a in synthetic_sections.items()
        ],
        ignore_index=True,
    )


def test_normal_domains_have_breast_tissue_depth(spots):
    median = spots[spots["kind"] == "normal"].groupby("domain")["umis"].median()
    assert 900 <= median["adipose"] <= 1400, median
    assert 1000 <= median["stroma"] <= 1500, median
    assert median["stroma"] < median["duct"] <= 2500, median
    assert median["duct"] < median["immune"] <= 3000, median
    healthy = spots[spots["section"].str.startswith("SYN-NB")]["umis"]
    q25, q75 = np.quantile(healthy, [0.25, 0.75])
    assert 1.6 < q75 / q25 < 3.0, "a log-normal spread per spot like her2st's (IQR ratio about 2)"


def test_gene_anomalies_are_deep_and_histology_only_keep_their_domain_depth(spots):
    kinds = spots.groupby("kind")["umis"].median()
    for kind in ("genes", "both"):
        assert 3000 <= kinds[kind] <= 10000, kinds
        q25, q75 = np.quantile(spots.loc[spots["kind"] == kind, "umis"], [0.25, 0.75])
        assert q25 >= 2500 and q75 <= 12000, (kind, q25, q75)
    assert 0.8 < kinds["histology"] / kinds["normal"] < 1.5, kinds


@pytest.mark.parametrize("name", CANCER_SECTIONS)
def test_anomalies_are_at_least_twice_as_deep_and_depth_ranks_them(synthetic_sections, name):
    adata = synthetic_sections[name]
    umis = _totals(adata)
    kind = adata.obs["anomaly_kind"].astype(str).to_numpy()
    anomalous, gene = kind != "normal", np.isin(kind, ["genes", "both"])
    assert np.median(umis[anomalous]) >= 2 * np.median(umis[~anomalous])
    assert np.median(umis[gene]) >= 3 * np.median(umis[~anomalous])
    assert roc_auc_score(anomalous, umis) > 0.7, "UMIs per spot alone rank the anomalies"
    assert roc_auc_score(anomalous, -umis) < 0.3, "a score that falls with depth is inverted"


def test_manifest_records_the_depth_per_section(synthetic_cohort, spots):
    import json

    manifest = json.loads((synthetic_cohort / "cohort.json").read_text())
    by_name = {rec["section"]: rec for rec in manifest["sections"]}
    assert list(by_name) == list(SECTION_NAMES)
    for name in SECTION_NAMES:
        mine = spots[spots["section"] == name]
        assert by_name[name]["median_umis_normal"] == pytest.approx(mine.loc[mine["kind"] == "normal", "umis"].median())
    for name in CANCER_SECTIONS:
        assert by_name[name]["median_umis_anomalous"] >= 2 * by_name[name]["median_umis_normal"]
