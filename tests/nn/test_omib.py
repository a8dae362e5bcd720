import math

import numpy as np
import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.nn.objectives.omib import (
    beta_bounds,
    beta_bounds_three,
    draw_beta,
    dynamic_r,
    entropy,
    estimate_mi,
    output_kl,
)


def test_r_is_one_for_equal_kls():
    kl = torch.tensor([0.2, 1.0, 3.0])
    assert dynamic_r(kl, kl.clone()) == pytest.approx(1.0)
    assert dynamic_r(torch.zeros(3), torch.zeros(3)) == pytest.approx(1.0)


def test_r_extremes_and_value():
    one = torch.ones(4)
    assert dynamic_r(one, 1e6 * one) < 1e-6  # modality 2 left out much more: r -> 0
    assert dynamic_r(one, 1e-6 * one) > 2 - 1e-6  # r -> 2
    assert 0 < dynamic_r(one, 3 * one) < 1 < dynamic_r(3 * one, one) < 2
    assert dynamic_r(one, math.e * one) == pytest.approx(1 - math.tanh(1.0), rel=1e-6)


def test_r_uses_the_ratio_of_means():
    kl_1, kl_2 = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])
    assert dynamic_r(kl_1, kl_2) == pytest.approx(1.0)  # the mean of ratios would give ln(4/3) != 0


def test_output_kl_svdd_and_regression():
    y_i, y = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    for kind in ("svdd", "regression"):
        torch.testing.assert_close(output_kl(y_i, y, kind), torch.tensor([2.5, 4.5]))


def test_output_kl_multiclass_by_hand():
    y_i = torch.tensor([[1.0, 0.0, -1.0]])
    y = torch.tensor([[0.0, 0.5, 0.0]])
    p = np.exp(y_i.numpy()) / np.exp(y_i.numpy()).sum()
    q = np.exp(y.numpy()) / np.exp(y.numpy()).sum()
    np.testing.assert_allclose(output_kl(y_i, y, "multiclass").numpy(), [(p * np.log(p / q)).sum()], rtol=1e-5)
    assert float(output_kl(y, y, "multiclass")) == pytest.approx(0.0, abs=1e-7)


def test_output_kl_multilabel_by_hand():
    y_i, y = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.0, 1.0]])
    p, q = 1 / (1 + np.exp(-y_i.numpy())), 1 / (1 + np.exp(-y.numpy()))
    manual = (p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))).sum()
    np.testing.assert_allclose(output_kl(y_i, y, "multilabel").numpy(), [manual], rtol=1e-5)
    with pytest.raises(InputError, match="head kind 'ranking'"):
        output_kl(y_i, y, "ranking")


def test_beta_bounds_by_hand():
    m_l, m_u = beta_bounds(2.0, 3.0, 1.0)
    assert m_l == pytest.approx(1 / 15) and m_u == pytest.approx(1 / 12)
    assert m_l < m_u
    with pytest.raises(InputError, match="fix beta"):
        beta_bounds(1.0, 1.0, 2.5)


def test_beta_bounds_three_modalities():
    m_l, m_u = beta_bounds_three((1.0, 2.0, 3.0), (0.5, 0.5, 1.0))
    assert m_l == pytest.approx(1 / (5 * 6)) and m_u == pytest.approx(1 / (5 * 4))
    m_l, m_u = beta_bounds_three((1.0, 2.0, 3.0), (0.5, 0.5, 1.0), r=(1.0, 0.5))
    assert m_l == pytest.approx(1 / (2.5 * 6)) and m_u == pytest.approx(1 / (2.5 * 4))
    with pytest.raises(InputError, match="3 entropies"):
        beta_bounds_three((1.0, 2.0), (0.5, 0.5, 1.0))
    # sum H - sum I below the joint entropy's floor max H_i is floored there
    assert beta_bounds_three((1.0, 2.0, 3.0), (2.0, 2.0, 3.0))[1] == pytest.approx(1 / (5 * 3.0))


def test_draw_beta_is_seeded_and_in_bounds():
    draws = [draw_beta(0.01, 0.02, np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1] and 0.01 <= draws[0] <= 0.02
    many = [draw_beta(0.01, 0.02, rng) for rng in [np.random.default_rng(1)] for _ in range(200)]
    assert min(many) >= 0.01 and max(many) <= 0.02 and np.std(many) > 0.002
    with pytest.raises(InputError, match="M_l <= M_u"):
        draw_beta(0.02, 0.01, np.random.default_rng(0))


def _correlated(rho: float, n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, d))


def test_mine_on_correlated_gaussians():
    rho = 0.8
    x, y = _correlated(rho, 4000, 1)
    truth = -0.5 * math.log(1 - rho**2)  # 0.511 nats
    est = estimate_mi(x, y, steps=1000, batch_size=512, hidden_dim=64, seed=0)
    assert abs(est - truth) < 0.1


def test_mine_is_deterministic_and_small_for_independent_data():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2))
    torch.manual_seed(123)
    a = estimate_mi(x, y, steps=300, batch_size=256, hidden_dim=32, seed=5)
    after_a = torch.rand(1)
    torch.manual_seed(123)
    b = estimate_mi(x, y, steps=300, batch_size=256, hidden_dim=32, seed=5)
    assert a == b
    assert abs(a) < 0.1
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after_a)  # the global torch RNG is left untouched
    # high-dimensional inputs go through PCA (max_dim) and still give a finite estimate
    wide = np.concatenate([x, rng.standard_normal((2000, 300))], axis=1)
    assert math.isfinite(estimate_mi(wide, wide, steps=20, batch_size=64, hidden_dim=8, max_dim=16))


def test_entropy_is_mine_of_v_with_itself_and_grows_with_budget():
    v, _ = _correlated(0.0, 1000, 2)
    kw = {"batch_size": 128, "hidden_dim": 16, "seed": 1}
    short = entropy(v, steps=200, **kw)
    assert short == estimate_mi(v, v, steps=200, **kw)
    # I(v; v) is infinite for continuous v: the estimate keeps growing with the budget
    assert entropy(v, steps=800, **kw) > short + 1.0


def test_entropy_trains_on_only_while_the_estimate_is_not_positive():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((500, 3))
    kw = {"steps": 5, "batch_size": 64, "hidden_dim": 16}
    assert entropy(v, seed=1, **kw) <= 0  # not converged after 5 steps
    assert entropy(v, seed=1, max_steps=40, **kw) > 0  # trained on in blocks of 5
    # a positive estimate after `steps` is the same with or without the option
    assert entropy(v, seed=0, max_steps=40, **kw) == entropy(v, seed=0, **kw) > 0


def test_mine_bad_input():
    with pytest.raises(InputError, match="same number of rows"):
        estimate_mi(np.zeros((10, 2)), np.zeros((9, 2)), steps=1)
    bad = np.ones((10, 2))
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        estimate_mi(bad, bad, steps=1)


def test_mine_loss_gradient_is_the_bias_corrected_dv_gradient():
    from tissue_mib.nn.objectives.omib import MINE

    torch.manual_seed(0)
    x, y, y_m = torch.randn(64, 2), torch.randn(64, 2), torch.randn(64, 2)
    mine = MINE(2, 2, hidden_dim=8)
    # first step: the moving average is E[e^T] itself, so the gradient is that of -DV
    loss_grads = torch.autograd.grad(mine.loss(x, y, y_m), list(mine.parameters()))
    dv_grads = torch.autograd.grad(-mine.dv_bound(x, y, y_m), list(mine.parameters()))
    for a, b in zip(loss_grads, dv_grads):
        torch.testing.assert_close(a, b)
    # later steps divide grad E[e^T] by the moving average instead of the batch value
    ma = float(mine.log_ma_et.exp())
    mine.loss(x, y, y_m)  # moves the average towards the same batch value: unchanged
    assert float(mine.log_ma_et.exp()) == pytest.approx(ma, rel=1e-5)
    mine.log_ma_et.fill_(math.log(2 * ma))
    with torch.no_grad():
        et = torch.exp(mine(x, y_m)).mean()
    t_grad = torch.autograd.grad(mine(x, y).mean(), list(mine.parameters()))
    et_grad = torch.autograd.grad(torch.exp(mine(x, y_m)).mean(), list(mine.parameters()))
    new_ma = (1 - mine.ema) * 2 * ma + mine.ema * float(et)
    got = torch.autograd.grad(mine.loss(x, y, y_m), list(mine.parameters()))
    for g, tg, eg in zip(got, t_grad, et_grad):
        torch.testing.assert_close(g, -(tg - eg / new_ma), rtol=1e-4, atol=1e-6)


def test_mine_features_are_idempotent_and_reduce_wide_inputs():
    from tissue_mib.nn.objectives.omib import mine_features

    rng = np.random.default_rng(0)
    wide = rng.standard_normal((300, 40)) @ rng.standard_normal((40, 500))  # rank 40 in 500 dims
    f = mine_features(wide, max_dim=32, seed=0)
    assert f.shape == (300, 32) and f.dtype == np.float32
    np.testing.assert_allclose(f.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(f.std(0), 1, rtol=1e-4)
    np.testing.assert_allclose(mine_features(f, max_dim=32), f, atol=1e-5)
    images = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    assert mine_features(images, max_dim=256).shape == (50, 48)
