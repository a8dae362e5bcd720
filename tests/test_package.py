"""`import tissue_mib as tm` gives the scanpy-style namespaces right away."""

import pytest


def test_subpackages_are_reachable_after_the_import():
    import tissue_mib as tm

    assert callable(tm.io.read) and callable(tm.pp.prepare) and callable(tm.tl.fit) and callable(tm.tl.score)
    assert callable(tm.pl.anomaly_map) and callable(tm.metrics.evaluate)
    assert {"io", "pp", "tl", "pl"} <= set(tm.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tm.nope  # noqa: B018
