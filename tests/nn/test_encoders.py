import pytest
import torch
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS

# the encoders of this package (sequence encoders are tested with the workflows)
OWN = {
    "gcn": {"in_dim": 12},
    "mlp": {"in_dim": 12},
    "resnet18": {},
    "small-cnn": {},
}


def _input(name: str, n: int = 5):
    g = torch.Generator().manual_seed(0)
    if name in ("gcn", "mlp"):
        return torch.randn(n, 12, generator=g)
    return torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)


def _ring(n: int) -> torch.Tensor:
    src = torch.arange(n)
    dst = (src + 1) % n
    return torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])


@pytest.mark.parametrize("name", sorted(OWN))
def test_output_shape(name):
    enc = ENCODERS.build(name, out_dim=16, **OWN[name])
    out = enc(_input(name), edge_index=_ring(5))
    assert enc.out_dim == 16
    assert out.shape == (5, 16)
    assert torch.isfinite(out).all()


def _affine_or_bias(module: nn.Module) -> list[str]:
    found = [n for n, _ in module.named_parameters() if n.endswith("bias")]
    for name, m in module.named_modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and (m.weight is not None or m.bias is not None):
            found.append(name)
    return found


@pytest.mark.parametrize("name", sorted(OWN))
def test_svdd_has_no_bias_or_affine(name):
    assert _affine_or_bias(ENCODERS.build(name, **OWN[name])) == []
    assert _affine_or_bias(ENCODERS.build(name, svdd=False, **OWN[name])) != []


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_registered_encoder_is_svdd_safe(name):
    import inspect

    params = inspect.signature(ENCODERS.get(name)).parameters
    assert "svdd" in params and "out_dim" in params
    kw = {"in_dim": 12} if "in_dim" in params else {}
    enc = ENCODERS.build(name, svdd=True, out_dim=8, **kw)
    assert enc.out_dim == 8
    assert _affine_or_bias(enc) == []


@pytest.mark.parametrize("name", ["resnet18", "small-cnn"])
def test_group_norm_variant_is_affine_free(name):
    enc = ENCODERS.build(name, norm="group", out_dim=8)
    assert any(isinstance(m, nn.GroupNorm) for m in enc.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in enc.modules())
    assert _affine_or_bias(enc) == []
    assert enc(_input(name, 2)).shape == (2, 8)


def test_resnet18_stems():
    cifar = ENCODERS.build("resnet18")
    assert cifar.backbone.conv1.kernel_size == (3, 3) and cifar.backbone.conv1.stride == (1, 1)
    assert isinstance(cifar.backbone.maxpool, nn.Identity)
    stock = ENCODERS.build("resnet18", stem="imagenet")
    assert stock.backbone.conv1.kernel_size == (7, 7) and stock.backbone.conv1.stride == (2, 2)
    assert isinstance(stock.backbone.maxpool, nn.MaxPool2d)
    # the cifar stem keeps a 32x32 patch at 32x32 through layer1, the stock stem quarters it
    x = cifar.input(_input("resnet18", 2))
    b = cifar.backbone
    assert b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(x))))).shape == (2, 64, 32, 32)
    s = stock.backbone
    assert s.layer1(s.maxpool(s.relu(s.bn1(s.conv1(x))))).shape == (2, 64, 8, 8)
    with pytest.raises(InputError, match="stem 'vit'"):
        ENCODERS.build("resnet18", stem="vit")


@pytest.mark.parametrize("name", ["resnet18", "small-cnn"])
def test_uint8_and_float_inputs_agree(name):
    enc = ENCODERS.build(name, out_dim=8).eval()
    u8 = _input(name, 3)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    as_float = (u8.permute(0, 3, 1, 2).float() / 255 - mean) / std
    torch.testing.assert_close(enc(u8), enc(as_float))
    with pytest.raises(InputError, match=r"\(N, 3, P, P\)"):
        enc(as_float.permute(0, 2, 3, 1))
    with pytest.raises(InputError, match="4 dims"):
        enc(u8[0])


@pytest.mark.parametrize("name", ["resnet18", "small-cnn", "mlp"])
def test_uint8_input_follows_the_module_dtype(name):
    kw = {"in_dim": 12} if name == "mlp" else {}
    enc = ENCODERS.build(name, out_dim=8, **kw).to(torch.bfloat16).eval()
    x = torch.randint(0, 256, (2, 12), dtype=torch.uint8) if name == "mlp" else _input(name, 2)
    assert enc(x).dtype == torch.bfloat16


def test_gcn_uses_the_graph():
    torch.manual_seed(0)
    enc = ENCODERS.build("gcn", in_dim=12, out_dim=8)
    x = _input("gcn", 6)
    ring = _ring(6)
    out = enc(x, edge_index=ring)
    # changing spot 3 changes its 1- and 2-hop neighbours (2..5 on the ring) but not spot 0
    x2 = x.clone()
    x2[3] += 1.0
    out2 = enc(x2, edge_index=ring)
    changed = (out2 - out).abs().sum(dim=1) > 1e-6
    assert changed.tolist() == [False, True, True, True, True, True]
    # without edges each spot only sees itself
    lonely = enc(x, edge_index=torch.empty(2, 0, dtype=torch.long))
    assert not torch.allclose(lonely, out)
    with pytest.raises(InputError, match="edge_index"):
        enc(x)


def test_gcn_runs_under_bf16_autocast():
    enc = ENCODERS.build("gcn", in_dim=12, out_dim=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(_input("gcn", 6), edge_index=_ring(6))
    assert out.shape == (6, 8) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name", ["resnet18", "small-cnn"])
def test_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(1)
    src = ENCODERS.build(name, out_dim=8)
    src.train()
    src(_input(name, 4))  # move the BatchNorm running statistics away from their init
    src.eval()
    path = tmp_path / "enc.pt"
    torch.save(src.state_dict(), path)
    torch.manual_seed(2)
    dst = ENCODERS.build(name, out_dim=8, checkpoint=path).eval()
    x = _input(name, 3)
    torch.testing.assert_close(dst(x), src(x))


def test_checkpoint_from_plain_torchvision_resnet(tmp_path):
    import torchvision

    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(tv.state_dict(), path)
    enc = ENCODERS.build("resnet18", stem="imagenet", checkpoint=path)
    torch.testing.assert_close(enc.backbone.layer2[0].conv1.weight, tv.layer2[0].conv1.weight)
    torch.testing.assert_close(enc.backbone.bn1.running_mean, tv.bn1.running_mean)
    assert enc.backbone.bn1.weight is None  # affine weights dropped under svdd
    with_affine = ENCODERS.build("resnet18", stem="imagenet", svdd=False, checkpoint=path)
    torch.testing.assert_close(with_affine.backbone.bn1.weight, tv.bn1.weight)
    # with the cifar stem the 7x7 conv1 does not fit
    with pytest.raises(InputError, match=r"shape mismatch.*conv1.weight"):
        ENCODERS.build("resnet18", checkpoint=path)


def test_bad_checkpoints_are_input_errors(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(InputError, match="does not exist"):
        ENCODERS.build("resnet18", checkpoint=missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match=f"{garbage.name} cannot be read"):
        ENCODERS.build("small-cnn", checkpoint=garbage)
    good = tmp_path / "good.pt"
    torch.save(ENCODERS.build("small-cnn").state_dict(), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(InputError, match="cannot be read"):
        ENCODERS.build("small-cnn", checkpoint=truncated)
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], not_a_dict)
    with pytest.raises(InputError, match="not a state dict"):
        ENCODERS.build("small-cnn", checkpoint=not_a_dict)
    # another encoder's weights: keys do not match
    with pytest.raises(InputError, match="does not fit ResNet18Encoder.*unexpected"):
        ENCODERS.build("resnet18", checkpoint=good)
    # same encoder, other output size
    with pytest.raises(InputError, match=r"shape mismatch.*proj.weight"):
        ENCODERS.build("small-cnn", out_dim=32, checkpoint=good)


def _grid(rows: int, cols: int) -> torch.Tensor:
    pairs = [
        (r * cols + c, (r + dr) * cols + c + dc)
        for r in range(rows)
        for c in range(cols)
        for dr, dc in [(0, 1), (1, 0), (1, 1)]
        if r + dr < rows and c + dc < cols
    ]
    e = torch.tensor(pairs).T
    return torch.cat([e, e.flip(0)], dim=1)


def test_gcn_on_three_hop_subgraph_equals_whole_graph():
    from torch_geometric.utils import k_hop_subgraph

    torch.manual_seed(0)
    edges, n = _grid(8, 12), 96
    x = torch.randn(n, 12)
    enc = ENCODERS.build("gcn", in_dim=12, out_dim=8)
    whole = enc(x, edge_index=edges)
    targets = torch.tensor([30, 65])

    def on_subgraph(hops):
        subset, sub_edges, where, _ = k_hop_subgraph(targets, hops, edges, relabel_nodes=True, num_nodes=n)
        return enc(x[subset], edge_index=sub_edges)[where]

    torch.testing.assert_close(on_subgraph(enc.n_layers + 1), whole[targets])
    # 2 hops miss the full degree of the 2-hop nodes, so the normalisation differs
    assert not torch.allclose(on_subgraph(enc.n_layers), whole[targets], atol=1e-4)
