import pytest
import torch
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.nn.fusion import FUSIONS


def _xs(dims, n=4):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(n, d, generator=g) for d in dims]


@pytest.mark.parametrize("dims", [[16, 16], [16, 8], [16, 8, 24]])
@pytest.mark.parametrize("name", ["cross_attention", "transformer"])
def test_attention_fusions_shape(name, dims):
    fusion = FUSIONS.build(name, in_dims=dims, out_dim=16, n_heads=4)
    out = fusion(_xs(dims))
    assert fusion.out_dim == 16
    assert out.shape == (4, 16) and torch.isfinite(out).all()


def test_concat_shape_and_values():
    xs = _xs([3, 5])
    plain = FUSIONS.build("concat", in_dims=[3, 5])
    assert plain.out_dim == 8
    torch.testing.assert_close(plain(xs), torch.cat(xs, dim=1))
    projected = FUSIONS.build("concat", in_dims=[3, 5], out_dim=6)
    assert projected.out_dim == 6 and projected(xs).shape == (4, 6)
    assert projected.proj.bias is None


@pytest.mark.parametrize("name", ["cross_attention", "transformer", "concat"])
def test_svdd_fusions_have_no_bias_or_affine(name):
    kw = {"out_dim": 16} if name == "concat" else {"out_dim": 16, "n_heads": 4}
    fusion = FUSIONS.build(name, in_dims=[16, 8], **kw)
    assert [n for n, _ in fusion.named_parameters() if "bias" in n] == []
    for m in fusion.modules():
        if isinstance(m, nn.LayerNorm):
            assert m.weight is None and m.bias is None
    with_bias = FUSIONS.build(name, in_dims=[16, 8], svdd=False, **kw)
    assert any("bias" in n for n, _ in with_bias.named_parameters())


def test_cross_attention_mixes_modalities():
    torch.manual_seed(0)
    fusion = FUSIONS.build("cross_attention", in_dims=[8, 8], out_dim=8, n_heads=2)
    a, b = _xs([8, 8])
    base = fusion([a, b])
    assert not torch.allclose(fusion([a, b + 1.0]), base)
    # a changed sample leaves the other samples alone (attention is over tokens, not over the batch)
    b2 = b.clone()
    b2[0] += 1.0
    out = fusion([a, b2])
    torch.testing.assert_close(out[1:], base[1:])
    assert not torch.allclose(out[0], base[0])


@pytest.mark.parametrize("name", ["cross_attention", "transformer", "concat"])
def test_wrong_inputs_are_input_errors(name):
    fusion = FUSIONS.build(name, in_dims=[8, 4])
    with pytest.raises(InputError, match="expected 2 modalities"):
        fusion(_xs([8]))
    with pytest.raises(InputError, match=r"modality 1 must be \(4, 4\)"):
        fusion(_xs([8, 5]))


@pytest.mark.parametrize("norm", ["post", "pre", "none"])
def test_transformer_norm_placement(norm):
    """Post-norm outputs forget the input scale (every token leaves on the LayerNorm sphere);
    pre-norm and no-norm blocks keep it on the residual stream."""
    torch.manual_seed(0)
    fusion = FUSIONS.build("transformer", in_dims=[8, 8], out_dim=8, n_heads=2, norm=norm)
    xs = _xs([8, 8])
    small, large = fusion(xs), fusion([10.0 * x for x in xs])
    ratio = float(large.norm() / small.norm())
    if norm == "post":  # only the attention temperature changes
        assert ratio < 1.5
    else:
        assert ratio > 5.0


def test_transformer_norm_must_be_known():
    with pytest.raises(InputError, match="'norm'"):
        FUSIONS.build("transformer", in_dims=[8, 8], out_dim=8, n_heads=2, norm="rms")
