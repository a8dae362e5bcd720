import math

import numpy as np
import pytest
import torch

from tissue_mib.nn.objectives.svdd import init_center, sq_distance
from tissue_mib.nn.objectives.vib import VIB, GaussianVAE, gaussian_kl, mib_kl, reparameterise


def test_center_is_mean_with_small_coordinates_pushed_out():
    outputs = torch.tensor([[1.0, 0.04, -0.06, 0.0, -2.0], [3.0, 0.0, 0.0, 0.0, -4.0]])
    c = init_center(outputs, eps=0.1)
    torch.testing.assert_close(c, torch.tensor([2.0, 0.1, -0.1, 0.1, -3.0]))
    assert (c.abs() >= 0.1).all()
    assert c.dtype == torch.float32
    # exactly eps stays, larger eps moves more
    torch.testing.assert_close(init_center(torch.tensor([[0.1, -0.1]]), eps=0.1), torch.tensor([0.1, -0.1]))
    torch.testing.assert_close(init_center(torch.tensor([[0.3, -0.3]]), eps=0.5), torch.tensor([0.5, -0.5]))


def test_center_works_from_bf16_outputs():
    c = init_center(torch.randn(10, 4).to(torch.bfloat16))
    assert c.dtype == torch.float32 and c.shape == (4,)


def test_sq_distance():
    y = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    torch.testing.assert_close(sq_distance(y, torch.tensor([1.0, 0.0])), torch.tensor([4.0, 1.0]))


def test_gaussian_kl_matches_monte_carlo():
    mu = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.3, -0.7]], dtype=torch.float64)
    std = torch.tensor([[0.8, 1.5, 0.3], [1.0, 0.5, 2.0]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    z = mu + std * torch.randn(200_000, *mu.shape, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, std)
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(std))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    kl = gaussian_kl(mu, std)
    assert kl.shape == (2,)
    np.testing.assert_allclose(kl.numpy(), mc.numpy(), rtol=0.02)
    # and the exact closed form through torch.distributions
    exact = torch.distributions.kl_divergence(q, p).sum(-1)
    np.testing.assert_allclose(kl.numpy(), exact.numpy(), rtol=1e-5)


def test_standard_normal_has_zero_kl():
    assert torch.allclose(gaussian_kl(torch.zeros(3, 4), torch.ones(3, 4)), torch.zeros(3))


def test_mib_kl_averages_over_latent_dims():
    torch.manual_seed(0)
    d = 50
    mu, std = torch.randn(8, d), torch.rand(8, d) + 0.1
    by_hand = 0.5 * np.mean(mu.numpy() ** 2 + std.numpy() ** 2 - 2 * np.log(std.numpy()) - 1)
    assert mib_kl(mu, std).ndim == 0
    np.testing.assert_allclose(float(mib_kl(mu, std)), by_hand, rtol=1e-5)
    # summing over dims (gaussian_kl) is d times larger
    np.testing.assert_allclose(float(gaussian_kl(mu, std).mean()), d * float(mib_kl(mu, std)), rtol=1e-5)


def test_reparameterise():
    mu, std = torch.zeros(20_000, 2), torch.full((20_000, 2), 3.0)
    assert torch.equal(reparameterise(mu, std, sample=False), mu)
    torch.manual_seed(0)
    z = reparameterise(mu, std)
    assert abs(float(z.std()) - 3.0) < 0.1


def test_vib_block_follows_the_authors():
    vib = VIB(dim=6, svdd=False)
    assert vib.body[0].out_features == 1024 and vib.mu.out_features == 6
    with torch.no_grad():
        mu, std = vib(torch.randn(4, 6))
    assert mu.shape == std.shape == (4, 6) and (std > 0).all()
    # std = softplus(linear - 5): small at initialisation
    assert float(std.max()) < 0.1
    h = vib.body(torch.ones(1, 6))
    torch.testing.assert_close(vib(torch.ones(1, 6))[1], torch.nn.functional.softplus(vib.std(h) - 5))


@pytest.mark.parametrize("cls,kw", [(GaussianVAE, {"in_dim": 6, "latent_dim": 4}), (VIB, {"dim": 6})])
def test_vae_blocks_bias_free_under_svdd(cls, kw):
    block = cls(**kw)
    assert not any("bias" in n for n, _ in block.named_parameters())
    with torch.no_grad():
        mu, std = block(torch.randn(3, 6))
    assert mu.shape == std.shape and (std > 0).all()
    assert math.isfinite(float(gaussian_kl(mu, std).sum()))


def test_svdd_vae_scales_with_its_input():
    """Under SVDD mu, std (and so the noise std * eps) are positively homogeneous in z: no
    data-independent noise scale a bias-free head could map to the centre."""
    torch.manual_seed(0)
    vae = GaussianVAE(in_dim=8, latent_dim=6, hidden_dim=16, svdd=True)
    z = torch.randn(5, 8)
    mu, std = vae(z)
    mu3, std3 = vae(3.0 * z)
    torch.testing.assert_close(mu3, 3.0 * mu)
    torch.testing.assert_close(std3, 3.0 * std)
    assert (std >= 0).all()
    zero_mu, zero_std = vae(torch.zeros(2, 8))
    assert torch.equal(zero_std, torch.zeros_like(zero_std)) and torch.equal(zero_mu, torch.zeros_like(zero_mu))
    # other tasks keep a softplus std, > 0 everywhere
    plain = GaussianVAE(in_dim=8, latent_dim=6, hidden_dim=16, svdd=False)
    assert (plain(torch.zeros(2, 8))[1] > 0).all()
