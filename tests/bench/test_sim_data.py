"""SIM-I..III generator: block layout, shared blocks, label balance, determinism, options."""

import numpy as np
import pytest

from tissue_mib.datasets.sim import SIM_SIZES, make_sim
from tissue_mib.errors import InputError


@pytest.mark.parametrize("kind", ["I", "II", "III"])
def test_block_sizes_follow_the_paper(kind):
    d = make_sim(kind, n=200, seed=1)
    d11, d21 = SIM_SIZES[kind]
    assert d.x1.shape == (200, 200 + 200 + d11 + d11)  # b1 defaults to d11
    assert d.x2.shape == (200, 200 + 200 + d21 + d21)
    assert d.authentic.shape == (200, 200 + d11 + d21)
    mod, start, stop = d.blocks["a1"]
    assert (mod, stop - start) == ("x1", d11)
    mod, start, stop = d.blocks["a2"]
    assert (mod, stop - start) == ("x2", d21)


def test_shared_blocks_are_identical_and_private_blocks_differ():
    d = make_sim("III", n=100, seed=0)
    np.testing.assert_array_equal(d.x1[:, :400], d.x2[:, :400])  # a0 and b0
    assert not np.allclose(d.x1[:, 400:700], d.x2[:, 400:700])  # a1 vs a2
    np.testing.assert_array_equal(d.authentic[:, :200], d.x1[:, :200])
    np.testing.assert_array_equal(d.authentic[:, 200:500], d.x1[:, 400:700])
    np.testing.assert_array_equal(d.authentic[:, 500:], d.x2[:, 400:700])


def test_labels_are_a_linear_rule_on_the_authentic_blocks_and_balanced():
    d = make_sim("I", n=4000, seed=3)
    assert set(np.unique(d.y)) == {0, 1}
    assert 0.45 < d.y.mean() < 0.55
    rule = (d.authentic.astype(np.float64) @ d.delta > 0).astype(int)  # authentic is stored as float32
    assert np.mean(rule == d.y) > 0.998
    # the superfluous blocks carry no label information
    _, start, stop = d.blocks["b1"]
    corr = [abs(np.corrcoef(d.x1[:, j], d.y)[0, 1]) for j in range(start, start + 50)]
    assert max(corr) < 0.08


def test_split_is_9_to_1_stratified_and_disjoint():
    d = make_sim("II", n=1000, seed=0)
    assert len(d.train) == 900 and len(d.test) == 100
    assert not set(d.train) & set(d.test)
    assert abs(d.y[d.test].mean() - d.y[d.train].mean()) < 0.02


def test_deterministic_in_seed_and_superfluous_sizes_are_options():
    a, b = make_sim("I", n=50, seed=7), make_sim("I", n=50, seed=7)
    np.testing.assert_array_equal(a.x1, b.x1)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x1, make_sim("I", n=50, seed=8).x1)
    d = make_sim("I", n=50, b1=10, b2=20)
    assert d.x1.shape[1] == 400 + 500 + 10 and d.x2.shape[1] == 400 + 100 + 20
    assert d.params["b1"] == 10


def test_bad_kind_is_one_line_input_error():
    with pytest.raises(InputError, match="unknown SIM data set 'IV'") as err:
        make_sim("IV")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["I", "II", "III"])
def test_bayes_accuracy_is_the_accuracy_of_the_oracle_on_the_seen_blocks(kind):
    d = make_sim(kind, n=20_000, seed=2)
    a, delta = d.authentic.astype(np.float64), d.delta
    d0, d11 = d.params["d0"], d.params["d11"]
    cols = {"a0": np.arange(d0), "a1": np.arange(d0, d0 + d11), "a2": np.arange(d0 + d11, a.shape[1])}
    for blocks in [("a0",), ("a0", "a1"), ("a0", "a2"), ("a1", "a2")]:
        idx = np.concatenate([cols[b] for b in blocks])
        oracle = np.mean((a[:, idx] @ delta[idx] > 0) == (d.y == 1))  # sign of the seen part of the rule
        assert abs(d.bayes_accuracy(blocks) - oracle) < 0.012, blocks  # sampling sd about 0.004
    assert d.bayes_accuracy() == 1.0
    assert 0.62 < d.bayes_accuracy(("a0",)) < 0.71  # a0 holds 200 of the 800 relevant dims: 0.667 on average


def test_bayes_accuracy_follows_the_dominant_modality():
    sim1, sim2 = make_sim("I", n=100, seed=0), make_sim("II", n=100, seed=0)
    assert sim1.bayes_accuracy(("a0", "a1")) > sim1.bayes_accuracy(("a0", "a2")) + 0.1  # x1 holds the larger a1
    assert sim2.bayes_accuracy(("a0", "a2")) > sim2.bayes_accuracy(("a0", "a1")) + 0.1
    with pytest.raises(InputError, match="unknown task-relevant block"):
        sim1.bayes_accuracy(("b1",))
