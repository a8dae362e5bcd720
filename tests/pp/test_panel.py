"""The gene panel: fitting, order + hash, matching by symbol or Ensembl ID, missing genes."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib import pp
from tissue_mib.errors import InputError


def section(symbols, ids=None, *, lib="S1", n=6):
    X = np.arange(n * len(symbols), dtype=np.float32).reshape(n, len(symbols)) + 1
    var = pd.DataFrame({"gene_ids": ids if ids is not None else [""] * len(symbols),
                        "gene_symbols": list(symbols)}, index=list(symbols))
    obs = pd.DataFrame({"library_id": pd.Categorical([lib] * n)}, index=[f"b{i}" for i in range(n)])
    return AnnData(sp.csr_matrix(X), obs=obs, var=var)


PANEL = pp.GenePanel(genes=("ACTB", "CD3E", "KRT8", "ERBB2", "MKI67"),
                     gene_ids=("ENSG00000075624", "ENSG00000198851", "ENSG00000170421", "ENSG00000141736", ""))


@pytest.mark.parametrize("chunk", [None, 4])  # 6 spots: densified in chunks of 4 and 2
def test_apply_reorders_and_zero_fills_missing_genes(caplog, monkeypatch, chunk):
    from tissue_mib.settings import settings

    monkeypatch.setattr(settings, "chunk_spots", chunk)
    adata = section(["MKI67", "KRT8", "ACTB", "OTHER", "ERBB2"])
    with caplog.at_level(logging.WARNING, logger="tissue_mib.pp.panel"):
        out = PANEL.apply(adata, max_missing=0.2)
    X_in = adata.X.toarray()
    assert list(out.var_names) == list(PANEL.genes)
    assert out.X.dtype == np.float32 and isinstance(out.X, np.ndarray)
    np.testing.assert_array_equal(out.X[:, 0], X_in[:, 2])  # ACTB
    np.testing.assert_array_equal(out.X[:, 1], 0)  # CD3E missing
    np.testing.assert_array_equal(out.X[:, 4], X_in[:, 0])  # MKI67
    assert out.uns["tissue_mib_panel"] == {"hash": PANEL.hash, "n_missing": 1, "frac_missing": 0.2}
    assert out.var["panel_missing"].tolist() == [False, True, False, False, False]
    assert "1 of 5 genes (20.0%) missing" in caplog.text


def test_apply_matches_ensembl_ids_with_versions_when_symbols_differ():
    ids = ["ENSG00000141736.13", "ENSG00000075624.17", "ENSG00000198851.9", "ENSG00000170421.12"]
    adata = section(ids, ids=ids)  # an ID-only section: var_names and symbols are IDs
    adata.var["gene_symbols"] = ""
    out = PANEL.apply(adata, max_missing=0.2)
    np.testing.assert_array_equal(out.X[:, 0], adata.X.toarray()[:, 1])  # ACTB by ID
    np.testing.assert_array_equal(out.X[:, 3], adata.X.toarray()[:, 0])  # ERBB2 by ID
    assert out.uns["tissue_mib_panel"]["n_missing"] == 1  # MKI67 has no ID in the panel


def test_apply_above_the_limit_names_another_species():
    adata = section(["Actb", "Cd3e", "Krt8", "Erbb2", "Mki67"])
    with pytest.raises(InputError, match=r"5 of 5 panel genes \(100%\) missing from section S1.*another species") as err:
        PANEL.apply(adata)
    assert "'ACTB'" in str(err.value) and "'Actb'" in str(err.value) and "\n" not in str(err.value)


def test_apply_above_the_limit_names_another_id_type():
    panel = pp.GenePanel(genes=("ENSG00000075624", "ENSG00000198851"), gene_ids=("ENSG00000075624", "ENSG00000198851"))
    with pytest.raises(InputError, match="another ID type"):
        panel.apply(section(["ACTB", "CD3E", "KRT8"]))
    symbols_only = pp.GenePanel(genes=("ACTB", "CD3E"), gene_ids=("", ""))
    ids = ["ENSG00000075624", "ENSG00000198851"]
    adata = section(ids, ids=ids)
    adata.var["gene_symbols"] = ""
    with pytest.raises(InputError, match="another ID type"):
        symbols_only.apply(adata)


def test_mouse_ids_against_a_human_panel_name_another_species():
    ids = ["ENSMUSG00000029580", "ENSMUSG00000032094"]
    adata = section(ids, ids=ids)
    adata.var["gene_symbols"] = ""
    with pytest.raises(InputError, match="another species"):
        PANEL.apply(adata)


def test_max_missing_is_configurable():
    adata = section(["ACTB", "CD3E"])
    with pytest.raises(InputError, match="limit 20%"):
        PANEL.apply(adata)
    assert PANEL.apply(adata, max_missing=0.6).uns["tissue_mib_panel"]["n_missing"] == 3


def test_hash_depends_on_order_and_round_trips():
    swapped = pp.GenePanel(genes=PANEL.genes[::-1], gene_ids=PANEL.gene_ids[::-1])
    assert swapped.hash != PANEL.hash and len(PANEL.hash) == 64
    assert pp.GenePanel.from_dict(PANEL.to_dict()) == PANEL
    assert pp.GenePanel(genes=list(PANEL.genes), gene_ids=list(PANEL.gene_ids)) == PANEL  # lists become tuples
    with pytest.raises(InputError, match="one value per gene"):
        pp.GenePanel(genes=("A", "B"), gene_ids=("", ""), reference_mean=(1.0,), reference_std=(1.0,))
    bad = PANEL.to_dict() | {"hash": swapped.hash}
    with pytest.raises(InputError, match="does not match"):
        pp.GenePanel.from_dict(bad)


def test_select_panel_uses_sections_as_batches_and_keeps_var_order():
    rng = np.random.default_rng(0)
    parts = []
    for lib in ("A", "B"):
        X = rng.poisson(1.0, size=(40, 50)).astype(np.float32)
        for g in (7, 31):  # same mean as the others (1), three times the variance, in both sections
            X[:, g] = rng.choice([0.0, 4.0], size=40, p=[0.75, 0.25])
        a = section([f"G{i}" for i in range(50)], lib=lib, n=40)
        a.X = sp.csr_matrix(np.log1p(X))
        a.obs_names = [f"{lib}{i}" for i in range(40)]
        parts.append(a)
    panel = pp.select_panel(parts, n_top_genes=10)
    assert len(panel) == 10 and {"G7", "G31"} <= set(panel.genes)
    assert list(panel.genes) == sorted(panel.genes, key=lambda g: int(g[1:]))
