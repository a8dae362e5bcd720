"""Several sections in one AnnData."""

from __future__ import annotations

import numpy as np
import pytest

from tissue_mib import io
from tissue_mib.errors import InputError


def test_concat_keeps_libraries_and_roundtrips(shared_data, tmp_path):
    b1 = io.read(shared_data / "her2st", section="B1")
    v1 = io.read(shared_data / "visium-fixture-scanpy" / "1.0.0")
    both = io.concat([b1, v1])
    assert both.n_obs == 395 and both.n_vars == b1.n_vars + v1.n_vars  # no shared gene names
    assert list(both.uns["spatial"]) == ["B1", "1.0.0"]
    assert both.obs_names[0] == f"B1_{b1.obs_names[0]}" and both.obs_names[-1] == f"1.0.0_{v1.obs_names[-1]}"
    assert both.obs["library_id"].dtype == "category"
    np.testing.assert_array_equal(both.obsm["spatial"][:295], b1.obsm["spatial"])
    assert both.X.dtype == np.float32 and both.X[:295].sum() == b1.X.sum()
    assert both.var.loc["SAMD11", "gene_ids"] == "" and both.var.loc[v1.var_names[0], "gene_ids"].startswith("ENSG")
    path = tmp_path / "both.h5ad"
    both.write_h5ad(path)
    again = io.read(path)  # a multi-section h5ad keeps its libraries and their metadata
    assert list(again.uns["spatial"]) == ["B1", "1.0.0"]
    assert again.uns["spatial"]["B1"]["metadata"]["layout"] == "legacy_st"
    assert again.uns["spatial"]["1.0.0"]["metadata"]["blank_images"] == ["hires"]
    assert again.obs["section"].value_counts().to_dict() == {"B1": 295, "1.0.0": 100}
    with pytest.raises(InputError, match=r"library id 'B1' appears in more than one input"):
        io.concat([b1, b1])
