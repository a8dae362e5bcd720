"""The commands as a user runs them: train -> score end to end, exit codes, no partial outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from tissue_mib.cli import main

LIGHT = """\
modalities:
  histology: {encoder: small-cnn, channels: [8, 16, 32]}
train: {threads: 1, batch_size: 256}
"""



@pytest.fixture(scope="module")
def light_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "light.yaml"
    path.write_text(LIGHT)
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache(monkeypatch, cache_dir):
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="module")
def genes_model(synthetic_cohort, tmp_path_factory, cache_dir) -> Path:
    """A gene-svdd model trained with the CLI on three healthy synthetic sections."""
    out = tmp_path_factory.mktemp("models") / "genes"
    mp = pytest.MonkeyPatch()
    mp.setenv("TISSUE_MIB_CACHE_DIR", str(cache_dir))
    mp.setattr(sys, "argv", ["tissue-mib", "-q", "train", "--normal",
                             ",".join(str(synthetic_cohort / f"SYN-NB-{c}.h5ad") for c in "ABC"),
                             "--method", "gene-svdd", "--epochs", "2", "--out", str(out)])  # fmt: skip
    try:
        main.app()
    finally:
        mp.undo()
    return out


def test_train_then_score_writes_every_output(genes_model, synthetic_cohort, tmp_path, cli):
    assert (genes_model / "weights.safetensors").is_file()
    code, out, err = cli("-q", "score", synthetic_cohort / "SYN-BC-B.h5ad",
                         synthetic_cohort / "SYN-BC-C.h5ad", "--model", genes_model, "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    for name in ("SYN-BC-B", "SYN-BC-C"):
        for suffix in ("scored.h5ad", "map.png", "flagged.geojson", "region_genes.csv", "metrics.json"):
            assert (tmp_path / f"{name}.{suffix}").is_file(), suffix
    scored = ad.read_h5ad(tmp_path / "SYN-BC-B.scored.h5ad")
    for key in ("tissue_mib_score", "tissue_mib_pvalue", "tissue_mib_qvalue", "tissue_mib_label"):
        assert key in scored.obs
    assert np.isfinite(scored.obs["tissue_mib_score"]).all()
    assert "spatial_connectivities" in scored.obsp and "tissue_mib_patches" not in scored.obsm
    assert scored.uns["tissue_mib"]["method"] == "gene-svdd"
    assert "auroc" in out and "oracle" in out  # the metrics table says its F1 is an oracle
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_unknown_section_name_exits_2(tmp_path, genes_model, cli):
    code, _, err = cli("-q", "score", "NO-SUCH-SECTION", "--model", genes_model, "--out", tmp_path)
    assert code == 2
    assert err.startswith("error:") and "NO-SUCH-SECTION" in err and "BC-A" in err
    assert len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_model_from_another_gene_panel_exits_2(tmp_path, genes_model, shared_data, cli):
    mouse = shared_data / "visium-fixture-squidpy" / "test_data.h5ad"
    code, _, err = cli("-q", "score", mouse, "--model", genes_model, "--out", tmp_path)
    assert code == 2 and "gene" in err.lower()
    assert not any(tmp_path.iterdir())


def test_h5ad_without_spatial_exits_2(tmp_path, genes_model, synthetic_cohort, cli):
    adata = ad.read_h5ad(synthetic_cohort / "SYN-BC-A.h5ad")
    del adata.obsm["spatial"]
    path = tmp_path / "nospatial.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "out"
    code, _, err = cli("-q", "score", path, "--model", genes_model, "--out", out)
    assert code == 2 and "spatial" in err and "nospatial.h5ad" in err
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_model_exits_2(tmp_path, genes_model, synthetic_cohort, cli):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in genes_model.iterdir():
        broken.joinpath(f.name).write_bytes(f.read_bytes())
    weights = broken / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    out = tmp_path / "out"
    code, _, err = cli("-q", "score", synthetic_cohort / "SYN-BC-A.h5ad", "--model", broken, "--out", out)
    assert code == 2 and "weights.safetensors" in err
    assert not out.exists() or not any(out.iterdir())


def test_histology_model_on_a_section_without_image_exits_2(tmp_path, synthetic_cohort, light_config, cli):
    model = tmp_path / "concat"
    sections = ",".join(str(synthetic_cohort / f"SYN-NB-{c}.h5ad") for c in "AB")
    code, _, err = cli("-q", "train", "--normal", sections, "--method", "concat-svdd",
                       "--config", light_config, "--epochs", "1", "--out", model)  # fmt: skip
    assert code == 0, err
    adata = ad.read_h5ad(synthetic_cohort / "SYN-BC-A.h5ad")
    lib = next(iter(adata.uns["spatial"]))
    adata.uns["spatial"][lib]["images"] = {}
    adata.uns["spatial"][lib]["metadata"]["fullres_image"] = ""
    path = tmp_path / "noimage.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "out"
    code, _, err = cli("-q", "score", path, "--model", model, "--out", out)
    assert code == 2 and "image" in err
    assert not out.exists() or not any(out.iterdir())


def test_genes_only_round_trip_on_the_squidpy_fixture(shared_data, tmp_path):
    """Real data: already normalised, mouse genes, 49 spots."""
    from tissue_mib import io, tl

    adata = io.read(shared_data / "visium-fixture-squidpy" / "test_data.h5ad")
    model = tl.fit(adata, method="gene-svdd", modalities=("genes",), epochs=2, config={"train": {"threads": 1}})
    model.save(tmp_path / "m")
    scored = tl.score(adata, tl.TissueModel.load(tmp_path / "m"), copy=True)
    assert np.isfinite(scored.obs["tissue_mib_score"]).all()
    assert scored.obs["tissue_mib_score"].std() > 0
    assert set(scored.obs["tissue_mib_label"].cat.categories) == {"normal", "anomalous"}


def test_usage_errors_exit_2_with_click_message(monkeypatch, capsys, cli):
    """An unknown option or a bare command is a usage error (exit 2, click's message), not an internal error."""
    code, _, err = cli("-q", "train", "--bogus")
    assert code == 2 and "No such option: --bogus" in err and "internal error" not in err
    monkeypatch.setattr(sys, "argv", ["tissue-mib"])
    with pytest.raises(SystemExit) as exit_info:
        main.app()
    out = capsys.readouterr()
    assert exit_info.value.code == 2 and "Usage" in out.out + out.err and "internal error" not in out.err
