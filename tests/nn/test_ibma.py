"""IBMA bounds against an independent numpy computation of the literal (unreduced) formulas."""

import math

import numpy as np
import pytest
import torch

from tissue_mib.nn.objectives.ibma import (
    assign,
    class_frequencies,
    class_means,
    ibb_fuse,
    ibb_modality,
    u_term,
    update_Q,
)

C = 3


def _np_assign(A, B):
    a = A / np.linalg.norm(A, axis=1, keepdims=True)
    b = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    e = np.exp(-d2)
    return e / e.sum(1, keepdims=True)


def _np_means(A, labels):
    return np.stack([A[labels == c].mean(0) for c in range(C)])


def _np_u_literal(phi_z, phi_x, p):
    joint = phi_z[:, :, None] * phi_x[:, None, :]  # phi_j(i, a, y)
    return (joint * np.log(joint / (p[None, None, :] * phi_z[:, :, None]))).sum((1, 2))


@pytest.fixture
def example():
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 0])
    n = len(labels)
    data = {
        "labels": labels,
        "Z1": rng.normal(size=(n, 4)) + labels[:, None],
        "Z2": rng.normal(size=(n, 3)) - labels[:, None],
        "Z": rng.normal(size=(n, 5)),
        "X1": rng.normal(size=(n, 6)) + 2 * labels[:, None],
        "X2": rng.normal(size=(n, 2, 2)),  # an image-like input, flattened inside
    }
    data["p"] = np.bincount(labels, minlength=C) / n
    return data


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64 if a.dtype == np.float64 else torch.long, requires_grad=grad)


def test_assign_class_means_frequencies_and_q(example):
    e = example
    lab = _t(e["labels"])
    F1 = class_means(_t(e["Z1"]), lab, C)
    np.testing.assert_allclose(F1.numpy(), _np_means(e["Z1"], e["labels"]), rtol=1e-6)
    np.testing.assert_allclose(assign(_t(e["Z1"]), F1).numpy(), _np_assign(e["Z1"], _np_means(e["Z1"], e["labels"])), rtol=1e-5)
    np.testing.assert_allclose(class_frequencies(lab, C).numpy(), e["p"], rtol=1e-6)
    # image-like inputs are flattened
    assert class_means(_t(e["X2"]), lab, C).shape == (C, 4)
    Q = update_Q(_t(e["Z1"]), lab, F1, C)
    phi = _np_assign(e["Z1"], _np_means(e["Z1"], e["labels"]))
    np.testing.assert_allclose(Q.numpy(), np.stack([phi[e["labels"] == y].mean(0) for y in range(C)]), rtol=1e-5)
    np.testing.assert_allclose(Q.sum(1).numpy(), np.ones(C), rtol=1e-6)
    assert not Q.requires_grad


def test_empty_class_gets_zero_mean_and_uniform_q():
    Z = torch.randn(4, 3)
    lab = torch.tensor([0, 0, 1, 1])
    F = class_means(Z, lab, 3)
    assert torch.equal(F[2], torch.zeros(3))
    torch.testing.assert_close(update_Q(Z, lab, F, 3)[2], torch.full((3,), 1 / 3))


def test_u_reduces_and_carries_no_gradient(example):
    e = example
    lab = _t(e["labels"])
    Fz = _np_means(e["Z1"], e["labels"])
    Cx = _np_means(e["X1"], e["labels"])
    phi_z_np, phi_x_np = _np_assign(e["Z1"], Fz), _np_assign(e["X1"], Cx)
    literal = _np_u_literal(phi_z_np, phi_x_np, e["p"])
    reduced = (phi_x_np * np.log(phi_x_np / e["p"])).sum(1)
    np.testing.assert_allclose(literal, reduced, rtol=1e-10)
    np.testing.assert_allclose(u_term(_t(e["X1"]), _t(Cx), _t(e["p"])).numpy(), reduced, rtol=1e-5)
    # the literal U written in torch through Z has zero gradient with respect to Z
    Z = _t(e["Z1"], grad=True)
    phi_z = assign(Z, class_means(Z.detach(), lab, C))
    phi_x = assign(_t(e["X1"]), _t(Cx))
    joint = phi_z[:, :, None] * phi_x[:, None, :]
    u_literal = (joint * torch.log(joint / (_t(e["p"])[None, None, :] * phi_z[:, :, None]))).sum((1, 2)).mean()
    (grad,) = torch.autograd.grad(u_literal, Z)
    assert float(grad.abs().max()) < 1e-6  # fp32 rounding only


def test_ibb_modality_by_hand(example):
    e = example
    lab = e["labels"]
    F1, F2 = _np_means(e["Z1"], lab), _np_means(e["Z2"], lab)
    C1 = _np_means(e["X1"], lab)
    phi_z1, phi_z2 = _np_assign(e["Z1"], F1), _np_assign(e["Z2"], F2)
    Q1 = np.stack([phi_z1[lab == y].mean(0) for y in range(C)])  # Q1[y, a] = Q(a | y)
    U = _np_u_literal(phi_z1, _np_assign(e["X1"], C1), e["p"])
    joint = phi_z1[:, :, None] * phi_z2[:, None, :]  # phi_jj'(i, a, y)
    V = (joint * np.log(Q1.T)[None, :, :]).sum((1, 2))
    expected = (U - V).mean()
    got = ibb_modality(_t(e["Z1"]), _t(e["X1"]), _t(e["Z2"]), _t(lab), _t(F1), _t(C1), _t(F2), _t(Q1), _t(e["p"]))
    assert got.ndim == 0
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_ibb_modality_with_uniform_q_is_constant_in_z(example):
    e = example
    lab = _t(e["labels"])
    Z1, Z2 = _t(e["Z1"], grad=True), _t(e["Z2"], grad=True)
    F1, F2 = class_means(Z1, lab, C), class_means(Z2, lab, C)
    X1 = _t(e["X1"])
    C1, p = class_means(X1, lab, C), _t(e["p"])
    uniform = torch.full((C, C), 1.0 / C, dtype=torch.float64)
    val = ibb_modality(Z1, X1, Z2, lab, F1, C1, F2, uniform, p)
    # V = -log C exactly, so IBB_j = mean U + log C
    assert float(val.detach()) == pytest.approx(float(u_term(X1, C1, p).mean()) + math.log(C), rel=1e-6)
    g1, g2 = torch.autograd.grad(val, (Z1, Z2))
    assert float(g1.abs().max()) < 1e-6 and float(g2.abs().max()) < 1e-6  # fp32 rounding only
    # a learned Q gives a gradient to both representations
    Q = update_Q(Z1, lab, F1, C)
    g1, g2 = torch.autograd.grad(ibb_modality(Z1, X1, Z2, lab, F1, C1, F2, Q, p), (Z1, Z2))
    assert float(g1.abs().max()) > 1e-3 and float(g2.abs().max()) > 1e-3


def test_ibb_fuse_by_hand(example):
    e = example
    lab = e["labels"]
    X2 = e["X2"].reshape(len(lab), -1)
    F = _np_means(e["Z"], lab)
    C1, C2 = _np_means(e["X1"], lab), _np_means(X2, lab)
    phi_z = _np_assign(e["Z"], F)
    Q = np.stack([phi_z[lab == y].mean(0) for y in range(C)])
    U1 = _np_u_literal(phi_z, _np_assign(e["X1"], C1), e["p"])
    U2 = _np_u_literal(phi_z, _np_assign(X2, C2), e["p"])
    hard = (phi_z * np.log(Q[lab])).sum(1)  # sum_a phi(Z_i, a) log Q(a | Y_i)
    expected = (U1 + U2 - hard).mean()
    Z = _t(e["Z"], grad=True)
    got = ibb_fuse(Z, _t(e["X1"]), _t(e["X2"]), _t(lab), _t(F), _t(C1), _t(C2), _t(Q), _t(e["p"]))
    assert float(got.detach()) == pytest.approx(expected, rel=1e-6)
    (g,) = torch.autograd.grad(got, Z)
    assert float(g.abs().max()) > 1e-3  # the Q term trains the fused representation


def test_bounds_accept_float32_and_return_fp32():
    torch.manual_seed(0)
    lab = torch.tensor([0, 1, 2, 0, 1, 2])
    Z1, Z2, X1 = torch.randn(6, 4).bfloat16(), torch.randn(6, 4), torch.randn(6, 5)
    F1, F2, C1 = class_means(Z1, lab, C), class_means(Z2, lab, C), class_means(X1, lab, C)
    p = class_frequencies(lab, C)
    val = ibb_modality(Z1, X1, Z2, lab, F1, C1, F2, update_Q(Z1, lab, F1, C), p)
    assert val.dtype == torch.float32 and torch.isfinite(val)
