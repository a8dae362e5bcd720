"""Property-based tests: any bytes in a positions, scale-factor, label or catalogue file either
parse to a valid table or raise InputError, never another exception."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tissue_mib.errors import InputError
from tissue_mib.io.catalogue import Catalogue
from tissue_mib.io.legacy_st import read_labels
from tissue_mib.io.spaceranger import POSITION_COLUMNS, read_positions, read_scalefactors

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TOKENS = st.sampled_from(["0", "1", "2", "-1", "1.5", "17", "100001", "nan", "inf", "", "abc", " 3", "1e3", '"', "ACGT-1", "x"])


def _lines(n_fields: int, header: str | None) -> st.SearchStrategy[bytes]:
    rows = st.lists(st.lists(TOKENS, min_size=n_fields - 1, max_size=n_fields + 1), max_size=8)
    seps = st.sampled_from([",", "\t"])

    @st.composite
    def build(draw):
        sep = draw(seps)
        lines = [header.replace(",", sep)] if header and draw(st.booleans()) else []
        lines += [sep.join(r) for r in draw(rows)]
        return "\n".join(lines).encode()

    return build()


def _attempt(parse):
    """parse() or None when it raises InputError; any other exception fails the test."""
    try:
        return parse()
    except InputError as err:
        assert "\n" not in str(err)
        return None


POSITIONS = st.one_of(st.binary(max_size=300), _lines(len(POSITION_COLUMNS), ",".join(POSITION_COLUMNS)))


@SETTINGS
@given(data=POSITIONS, headed_name=st.booleans())
def test_positions_parse_or_input_error(tmp_path, data, headed_name):
    spatial = tmp_path / "spatial"
    spatial.mkdir(exist_ok=True)
    for p in spatial.iterdir():
        p.unlink()
    (spatial / ("tissue_positions.csv" if headed_name else "tissue_positions_list.csv")).write_bytes(data)
    result = _attempt(lambda: read_positions(spatial))
    if result is None:
        return
    table, _ = result
    assert list(table.columns) == POSITION_COLUMNS[1:] and table.index.is_unique
    assert table["in_tissue"].isin([0, 1]).all()
    grid = table[["array_row", "array_col"]].to_numpy()
    assert grid.dtype == np.int64 and ((grid >= 0) & (grid <= 100_000)).all()
    assert not table[["array_row", "array_col"]].duplicated().any()
    assert np.isfinite(table[["pxl_row_in_fullres", "pxl_col_in_fullres"]].to_numpy(dtype=float)).all()


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.lists(st.integers(), max_size=2))  # fmt: skip
SCALEFACTORS = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["spot_diameter_fullres", "tissue_hires_scalef", "tissue_lowres_scalef", "x"]), JSON_VALUES)
    .map(lambda d: json.dumps(d).encode()),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
)


@SETTINGS
@given(data=SCALEFACTORS)
def test_scalefactors_parse_or_input_error(tmp_path, data):
    (tmp_path / "scalefactors_json.json").write_bytes(data)
    sf = _attempt(lambda: read_scalefactors(tmp_path))
    if sf is not None:
        assert "spot_diameter_fullres" in sf
        assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in sf.values())


@SETTINGS
@given(data=st.one_of(st.binary(max_size=300), _lines(3, "x,y,label")))
def test_labels_parse_or_input_error(tmp_path, data):
    path = tmp_path / "S1_labeled_coordinates.tsv"
    path.write_bytes(data)
    labels = _attempt(lambda: read_labels(path))
    if labels is not None:
        assert labels.index.is_unique and labels.index.str.fullmatch(r"\d+x\d+").all()


YAML_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                        st.sampled_from(["A..C", "S1..3", "S1..99999", "x{name}", "{0}", "{name.x}", "data/{name}.h5ad"]))  # fmt: skip
YAML_DOCS = st.recursive(
    YAML_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["roots", "sections", "unavailable", "synthetic", "path", "root", "env", "section",
                                         "image", "labels_dir", "layer", "NB-A..B", "her2st"]), inner, max_size=4),  # fmt: skip
    ),
    max_leaves=12,
)


@SETTINGS
@given(data=st.one_of(st.binary(max_size=300), YAML_DOCS.map(lambda d: yaml.safe_dump(d).encode())))
def test_catalogue_parse_or_input_error(tmp_path, data):
    path = tmp_path / "catalogue.yaml"
    path.write_bytes(data)
    catalogue = _attempt(lambda: Catalogue([path]))
    if catalogue is not None:
        assert all(isinstance(n, str) for n in catalogue.names())


@pytest.mark.parametrize(
    "text",
    ["sections: [1, 2]\n", "roots: {her2st: {path: 3}}\n", "synthetic: 5\n", "sections: {A: {path: '{0}'}}\n",
     "sections: {'S1..99999': {path: x}}\n", "when: 2001-02-30\n", "sections: {A..²: {path: x}}\n"],  # fmt: skip
)
def test_malformed_catalogues_are_input_errors(tmp_path, text):
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    with pytest.raises(InputError):
        Catalogue([path])
