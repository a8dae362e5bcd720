import numpy as np
import pytest
import torch

from tissue_mib.errors import InputError
from tissue_mib.nn.heads import HEADS
from tissue_mib.nn.objectives.svdd import init_center


def test_svdd_head_is_bias_free_and_scores_distance():
    head = HEADS.build("svdd", in_dim=6, out_dim=4, hidden_dim=5)
    assert [n for n, _ in head.named_parameters()] == ["net.0.weight", "net.2.weight"]
    x = torch.randn(7, 6)
    pred = head(x)
    assert pred.shape == (7, 4)
    with pytest.raises(RuntimeError, match="centre is not set"):
        head.score(pred)
    c = init_center(pred)
    head.set_center(c)
    assert "center" in head.state_dict()
    expected = ((pred.detach().numpy() - c.numpy()) ** 2).sum(axis=1)
    np.testing.assert_allclose(head.score(pred).detach().numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(head.loss(pred).detach().numpy(), expected, rtol=1e-5)
    with pytest.raises(InputError, match=r"shape \(4,\)"):
        head.set_center(torch.zeros(3))


def test_svdd_head_keeps_its_centre_through_state_dict():
    head = HEADS.build("svdd", in_dim=3, out_dim=4)
    head.set_center(torch.tensor([0.1, -0.2, 0.3, 0.5]))
    other = HEADS.build("svdd", in_dim=3, out_dim=4)
    other.load_state_dict(head.state_dict())
    assert other.has_center
    torch.testing.assert_close(other.center, head.center)


def test_multiclass_head():
    head = HEADS.build("multiclass", in_dim=4, n_classes=3)
    pred = head(torch.randn(5, 4))
    y = torch.tensor([0, 2, 1, 1, 0])
    logp = torch.log_softmax(pred, dim=1)
    torch.testing.assert_close(head.loss(pred, y), -logp[torch.arange(5), y])
    torch.testing.assert_close(head.score(pred).sum(dim=1), torch.ones(5))
    with pytest.raises(InputError, match="n_classes"):
        HEADS.build("multiclass", in_dim=4, n_classes=1)


def test_multilabel_head():
    head = HEADS.build("multilabel", in_dim=4, n_labels=3)
    pred = head(torch.randn(5, 4))
    y = torch.randint(0, 2, (5, 3)).float()
    p = torch.sigmoid(pred)
    manual = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(dim=1)
    torch.testing.assert_close(head.loss(pred, y), manual)


@pytest.mark.parametrize("kind", ["l1", "mse"])
def test_regression_head(kind):
    head = HEADS.build("regression", in_dim=4, loss=kind)
    pred = head(torch.randn(5, 4))
    y = torch.randn(5)
    diff = pred[:, 0] - y
    torch.testing.assert_close(head.loss(pred, y), diff.abs() if kind == "l1" else diff**2)
    two = HEADS.build("regression", in_dim=4, n_outputs=2, loss=kind)
    assert two.loss(two(torch.randn(5, 4)), torch.randn(5, 2)).shape == (5,)
    with pytest.raises(InputError, match="loss 'huber'"):
        HEADS.build("regression", in_dim=4, loss="huber")


def test_head_kinds():
    assert {n: HEADS.get(n).kind for n in HEADS.names()} == {n: n for n in HEADS.names()}
