"""`contamination` / `demo-data --contamination FRAC`: a share of the healthy sections' spots
carries the same planted anomalies as SYN-BC, recorded as truth; 0 leaves them healthy."""

from __future__ import annotations

import json
import sys

import anndata
import numpy as np
import pytest
from typer.testing import CliRunner

from tissue_mib.cli.main import _app, app
from tissue_mib.datasets.synthetic import (
    CANCER_SECTIONS,
    GENERATOR_VERSION,
    NORMAL_SECTIONS,
    generate_section,
    is_complete,
    write_cohort,
)
from tissue_mib.errors import InputError

FRAC = 0.2


@pytest.fixture(scope="module")
def contaminated(tmp_path_factory):
    """The small cohort written by the CLI with --contamination 0.2."""
    out = tmp_path_factory.mktemp("contaminated")
    result = CliRunner().invoke(_app, ["demo-data", "--small", "--seed", "0", "--contamination", str(FRAC), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "contaminated" in result.output
    return out


def test_healthy_sections_hold_the_share_of_planted_anomalies(contaminated):
    for name in NORMAL_SECTIONS:
        kind = anndata.read_h5ad(contaminated / f"{name}.h5ad").obs["anomaly_kind"].astype(str).to_numpy()
        anomalous = kind != "normal"
        assert abs(anomalous.mean() - FRAC) <= 1 / len(kind) + 1e-9, name
        for k in ("genes", "histology", "both"):
            assert abs((kind == k).sum() - anomalous.sum() / 3) <= 2, (name, k)


def test_contaminated_spots_are_blobs_and_gene_ones_are_deep(contaminated):
    adata = anndata.read_h5ad(contaminated / "SYN-NB-A.h5ad")
    xy = adata.obsm["spatial"] * 2.0  # µm (SMALL: 2 µm/px)
    neighbours = (np.linalg.norm(xy[:, None] - xy[None], axis=-1) < 110) & ~np.eye(len(xy), dtype=bool)
    kind = adata.obs["anomaly_kind"].astype(str).to_numpy()
    anomalous = kind != "normal"
    share = [anomalous[neighbours[i]].mean() for i in np.flatnonzero(anomalous)]
    assert np.mean(share) > 3 * anomalous.mean(), "contiguous blobs, not scattered spots"
    umis = np.asarray(adata.X.sum(1)).ravel()
    assert np.median(umis[np.isin(kind, ["genes", "both"])]) >= 3 * np.median(umis[~anomalous])


def test_cancer_sections_and_tissue_do_not_change(contaminated, synthetic_cohort):
    for name in CANCER_SECTIONS:
        a = anndata.read_h5ad(contaminated / f"{name}.h5ad")
        b = anndata.read_h5ad(synthetic_cohort / f"{name}.h5ad")
        assert (a.X != b.X).nnz == 0 and (a.obs["anomaly_kind"] == b.obs["anomaly_kind"]).all(), name
    a = anndata.read_h5ad(contaminated / "SYN-NB-B.h5ad")
    b = anndata.read_h5ad(synthetic_cohort / "SYN-NB-B.h5ad")
    assert list(a.obs_names) == list(b.obs_names), "the same tissue"
    assert (a.obs["domain"] == b.obs["domain"]).all(), "the same domains"
    normal = (a.obs["anomaly_kind"] == "normal").to_numpy()
    assert (b.obs["anomaly_kind"] == "normal").all()
    assert 0.75 < normal.mean() < 0.85


def test_manifest_and_h5ad_record_the_contamination(contaminated, synthetic_cohort):
    manifest = json.loads((contaminated / "cohort.json").read_text())
    assert manifest["contamination"] == FRAC and manifest["generator"] == GENERATOR_VERSION
    for rec in manifest["sections"]:
        if rec["section"] in NORMAL_SECTIONS:
            assert rec["anomaly_fraction"] == pytest.approx(FRAC, abs=0.003), rec["section"]
    params = anndata.read_h5ad(contaminated / "SYN-NB-C.h5ad").uns["tissue_mib_synthetic"]
    assert params["contamination"] == FRAC and params["anomaly_fraction"] == FRAC
    assert json.loads((synthetic_cohort / "cohort.json").read_text())["contamination"] == 0
    # the parameters key the reuse of a cohort folder
    assert is_complete(contaminated, small=True, seed=0, contamination=FRAC)
    assert not is_complete(contaminated, small=True, seed=0)
    assert not is_complete(synthetic_cohort, small=True, seed=0, contamination=FRAC)
    result = CliRunner().invoke(_app, ["demo-data", "--small", "--contamination", str(FRAC), "--out", str(contaminated)])
    assert result.exit_code == 0 and "already there" in result.output


def test_older_generator_cohort_is_not_reused(tmp_path, synthetic_cohort):
    for path in synthetic_cohort.glob("*.h5ad"):
        (tmp_path / path.name).symlink_to(path)
    doc = json.loads((synthetic_cohort / "cohort.json").read_text())
    (tmp_path / "cohort.json").write_text(json.dumps(doc))
    assert is_complete(tmp_path, small=True, seed=0)
    del doc["generator"], doc["contamination"]  # cohort.json as written before the depth change
    (tmp_path / "cohort.json").write_text(json.dumps(doc))
    assert not is_complete(tmp_path, small=True, seed=0)


def test_deterministic_and_zero_leaves_the_section_healthy():
    a = generate_section("SYN-NB-D", small=True, seed=2, contamination=0.15)
    b = generate_section("SYN-NB-D", small=True, seed=2, contamination=0.15)
    assert (a.counts != b.counts).nnz == 0 and a.truth.equals(b.truth) and np.array_equal(a.image, b.image)
    clean = generate_section("SYN-NB-D", small=True, seed=2, contamination=0.0)
    default = generate_section("SYN-NB-D", small=True, seed=2)
    assert (clean.truth["anomaly_kind"] == "normal").all()
    assert (clean.counts != default.counts).nnz == 0 and np.array_equal(clean.image, default.image)
    assert a.spots.equals(clean.spots) and (a.truth["domain"] == clean.truth["domain"]).all()
    assert (a.truth["anomaly_kind"] != "normal").mean() == pytest.approx(0.15, abs=1 / len(a.truth))
    other = generate_section("SYN-NB-D", small=True, seed=3, contamination=0.15)
    assert not other.truth["anomaly_kind"].equals(a.truth["anomaly_kind"])


@pytest.mark.parametrize("value", ["0.6", "-0.1", "x", "nan"])
def test_cli_rejects_bad_contamination_with_exit_code_2(value, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tissue-mib", "demo-data", "--small", "--out", str(tmp_path), f"--contamination={value}"])
    with pytest.raises(SystemExit) as exit_info:
        app()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --contamination"), lines
    assert not any(tmp_path.iterdir())


def test_api_rejects_bad_contamination(tmp_path):
    with pytest.raises(InputError, match="between 0 and 0.5"):
        write_cohort(tmp_path, small=True, contamination=0.7)
    with pytest.raises(InputError, match="between 0 and 0.5"):
        write_cohort(tmp_path, small=True, contamination="lots")
    with pytest.raises(InputError, match="healthy sections"):
        generate_section("SYN-BC-A", small=True, contamination=0.1)
    assert not any(tmp_path.iterdir())
