import pytest

from tissue_mib.errors import InputError
from tissue_mib.nn.encoders import ENCODERS
from tissue_mib.nn.fusion import FUSIONS
from tissue_mib.nn.heads import HEADS
from tissue_mib.nn.registry import Registry


def test_register_build_get_names():
    reg = Registry("widget")

    @reg.register("b")
    class B:
        def __init__(self, *, size: int = 1):
            self.size = size

    @reg.register("a")
    def make_a():
        return "a"

    assert reg.names() == ["a", "b"]
    assert reg.get("b") is B
    assert reg.build("b", size=3).size == 3
    assert reg.build("a") == "a"
    assert "b" in reg and "c" not in reg


def test_unknown_name_lists_registered():
    reg = Registry("widget")
    reg.register("one")(object)
    with pytest.raises(InputError, match="unknown widget 'two'; registered: one"):
        reg.get("two")


def test_unknown_option_is_input_error():
    with pytest.raises(InputError, match="encoder 'mlp'.*colour"):
        ENCODERS.build("mlp", in_dim=3, colour="red")


def test_duplicate_name_rejected():
    reg = Registry("widget")
    reg.register("x")(int)
    with pytest.raises(InputError, match="already registered"):
        reg.register("x")(float)


def test_packages_register_their_modules():
    assert {"gcn", "resnet18", "small-cnn", "mlp"} <= set(ENCODERS.names())
    assert FUSIONS.names() == ["concat", "cross_attention", "transformer"]
    assert HEADS.names() == ["multiclass", "multilabel", "regression", "svdd"]
