"""LayerNorm: gradcheck (float64) and torch parity over generated shapes and options on every
backend; signature, repr and state_dict as PyTorch's; input and argument errors."""

import inspect
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import DeviceError, DTypeError, ShapeError
from nnlib_cases import SETTINGS, assert_close, check_gradcheck, check_parity, seeds
from norm_cases import NORM_CASES


@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(device, data):
    check_gradcheck(data.draw(NORM_CASES["LayerNorm"], label="case"), device, data.draw(seeds, label="seed"))


@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(device, float_dtype, data):
    case = data.draw(NORM_CASES["LayerNorm"], label="case")
    check_parity(case, float_dtype, device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("shape", [(5,), (2, 3)], ids=str)
def test_an_unbatched_input_matches_torch_including_gamma_and_beta(shape, device):
    """An input of exactly ``normalized_shape``: γ's and β's gradients have no leading
    dimensions to sum over (and must not be summed over the features instead)."""
    rng = np.random.default_rng(0)
    ours = nn.LayerNorm(shape, dtype="float64")
    ours.weight.data, ours.bias.data = rng.normal(size=shape), rng.normal(size=shape)
    theirs = torch.nn.LayerNorm(shape, dtype=torch.float64)
    theirs.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    x = rng.normal(size=shape)
    mine = gc.analytic_gradients(ours.to(device), to_device(x, device))
    assert mine["weight"].shape == shape
    assert_close(mine, gc.autograd_gradients(theirs, x), "float64", f"LayerNorm{shape}")


def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_constructor_and_forward_signatures_are_pytorchs():
    assert _parameters(nn.LayerNorm) == _parameters(torch.nn.LayerNorm)
    ours, theirs = _parameters(nn.LayerNorm.forward), _parameters(torch.nn.LayerNorm.forward)
    assert [p[0] for p in ours] == [p[0] for p in theirs]


@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), (([2, 3], 1e-3), {}), (((4,),), dict(elementwise_affine=False)), ((4,), dict(bias=False))],
    ids=str)
def test_repr_and_state_dict_are_pytorchs(args, kwargs):
    ours, theirs = nn.LayerNorm(*args, **kwargs), torch.nn.LayerNorm(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.normalized_shape == theirs.normalized_shape
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.detach().numpy())
    theirs.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})


def test_factory_arguments_are_positional_as_in_pytorch(torch_device):
    layer = nn.LayerNorm(3, 1e-5, True, True, torch_device, "float64")
    for p in layer.parameters():
        assert p.device == torch_device and p.dtype == "float64"


def test_train_and_eval_mode_compute_the_same():
    layer = nn.LayerNorm(4)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), layer.eval()(x))


def test_each_example_is_standardised_on_its_own():
    """Mean 0 and (biased) variance 1 per example over the normalised dimensions, whatever the
    other examples hold."""
    x = np.random.default_rng(0).normal(size=(3, 2, 4)) * np.array([1.0, 10.0, 1000.0])[:, None, None]
    y = nn.LayerNorm((2, 4), eps=0.0, dtype="float64")(x)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-12)


def test_reset_parameters():
    layer = nn.LayerNorm(3)
    layer.weight.data[...], layer.bias.data[...] = 2, 5
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.weight.data, 1)
    np.testing.assert_array_equal(layer.bias.data, 0)


@pytest.mark.parametrize("normalized_shape, shape, message", [
    (5, (2, 4), r"input must have shape \(\*, 5\) \(normalized_shape=\(5,\)\), got \(2, 4\)"),
    ((2, 3), (3, 2), r"input must have shape \(\*, 2, 3\) \(normalized_shape=\(2, 3\)\), got \(3, 2\)"),
    ((2, 3), (3,), r"input must have shape \(\*, 2, 3\), got \(3,\)"),
])
def test_input_errors_name_expected_and_got(normalized_shape, shape, message):
    with pytest.raises(ShapeError, match=message):
        nn.LayerNorm(normalized_shape)(np.zeros(shape, dtype=np.float32))


def test_device_and_dtype_errors(torch_device):
    layer = nn.LayerNorm(3).to(torch_device)
    with pytest.raises(DeviceError, match=f"LayerNorm: input has device 'numpy', expected '{torch_device}'"):
        layer(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(DTypeError, match="LayerNorm: input has dtype float64, expected float32"):
        layer(to_device(np.zeros((2, 3)), torch_device))
    out = nn.LayerNorm(3, elementwise_affine=False)(to_device(np.ones((2, 3)), torch_device))
    assert device_of(out) == torch_device and dtype_name(out) == "float64"  # nothing to agree with
    np.testing.assert_array_equal(to_numpy(out), 0)


@pytest.mark.parametrize("kwargs, error, message", [
    *[(dict(normalized_shape=v), ValueError, f"normalized_shape must be a positive integer or a non-empty "
                                             f"sequence of them, got {v!r}")
      for v in (0, -2, (), [], (2, 0), 2.5, True, "5", (2, 1.5), None)],
    (dict(normalized_shape=3, eps=-1e-5), ValueError, "eps must be non-negative, got -1e-05"),
    (dict(normalized_shape=3, eps="1e-5"), ValueError, "eps must be non-negative, got '1e-5'"),
    (dict(normalized_shape=3, elementwise_affine="True"), TypeError,
     "elementwise_affine must be True or False, got 'True'"),
    (dict(normalized_shape=3, bias=1), TypeError, "bias must be True or False, got 1"),
], ids=str)
def test_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.LayerNorm(**kwargs)


def test_eps_zero_is_accepted_as_in_pytorch():
    x = np.random.default_rng(1).normal(size=(2, 3))
    theirs = torch.nn.LayerNorm(3, eps=0.0, dtype=torch.float64)(torch.tensor(x)).detach().numpy()
    assert_close({"y": nn.LayerNorm(3, eps=0.0, dtype="float64")(x)}, {"y": theirs}, "float64", "eps=0")
