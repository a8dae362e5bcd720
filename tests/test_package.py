"""`import tissue_mib as tm` gives the scanpy-style namespaces right away."""

import pytest


def test_subpackages_are_reachable_after_the_import():
    import tissue_mib as tm

    assert callable(tm.io.read) and callable(tm.pp.prepare) and callable(tm.tl.fit) and callable(tm.tl.score)
    assert callable(tm.pl.anomaly_map) and callable(tm.metrics.evaluate)
    assert {"io", "pp", "tl", "pl"} <= set(tm.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tm.nope  # noqa: B018


def test_the_import_stays_light():
    """`import tissue_mib` loads neither torch nor scanpy (python -X importtime: about 0.05 s against
    about 5 s for io, pp, tl and pl together); the subpackages load on first use."""
    import subprocess
    import sys

    code = "import sys, tissue_mib; print(sorted({'torch', 'scanpy', 'squidpy', 'tissue_mib.tl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
