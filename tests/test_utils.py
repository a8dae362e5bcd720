"""tissue_mib.utils.plain: the one converter to JSON/YAML-safe values (model directories,
scored metrics, bench results, GeoJSON)."""

import json
import math
from pathlib import Path

import numpy as np
import yaml

from tissue_mib.utils import plain


def test_plain_makes_json_and_yaml_safe_values():
    value = {
        1: (np.float32(0.5), np.int64(3)),
        "a": np.arange(3),
        "nan": float("nan"),
        "inf": [np.float64(np.inf), -math.inf],
        "path": Path("/tmp/x"),
        "nested": {"t": ((1, 2), (3, 4))},
    }
    out = plain(value)
    assert out == {
        "1": [0.5, 3], "a": [0, 1, 2], "nan": None, "inf": [None, None], "path": "/tmp/x",
        "nested": {"t": [[1, 2], [3, 4]]},
    }  # fmt: skip
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert yaml.safe_load(yaml.safe_dump(out)) == out
    assert type(out["1"][1]) is int and type(out["a"][0]) is int
