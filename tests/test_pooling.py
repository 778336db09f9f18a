"""MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d: gradcheck (float64) and torch parity over
generated kernels, strides, paddings, dilations, ceil_mode, count_include_pad, divisor_override
and unbatched inputs on every backend; PyTorch's tie rule and return_indices; −∞ padding;
PyTorch's signatures and repr; clear errors."""

import inspect

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import nn
from nnlib.backend import device_of, to_device, to_numpy
from nnlib.errors import ShapeError
from nnlib.nn.pooling import adaptive_windows
from cnn_cases import CNN_CASES
from nnlib_cases import SETTINGS, check_gradcheck, check_parity, seeds

KINDS = ["MaxPool2d", "MaxPool1d", "AvgPool2d", "AvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool1d"]


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(CNN_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    case, seed = data.draw(CNN_CASES[kind], label="case"), data.draw(seeds, label="seed")
    check_parity(case, float_dtype, device, seed)


def _both(layer, reference, x, grad, device):
    """Output, (indices,) and ∂J/∂x of nnlib's layer and of PyTorch's."""
    ours = layer(to_device(x, device))
    t = torch.tensor(x, requires_grad=True)
    theirs = reference(t)
    g = to_device(grad, device)
    dx = to_numpy(layer.backward((g, None) if isinstance(ours, tuple) else g))
    (theirs[0] if isinstance(theirs, tuple) else theirs).backward(torch.tensor(grad))
    return ours, dx, theirs, t.grad.numpy()


@pytest.mark.parametrize("args, kwargs", [
    ((2,), {}), ((2, 1), {}), ((3, 2, 1), {}), (((2, 3), (1, 2), (1, 0)), {}),
    ((3, 2, 1), dict(dilation=2)), ((2, 2), dict(ceil_mode=True)), ((3, 2, 1), dict(ceil_mode=True)),
], ids=str)
def test_ties_send_the_gradient_to_the_first_maximum_like_pytorch(args, kwargs, device):
    """Windows full of equal values (e.g. zeros after a ReLU): PyTorch picks the first maximum in
    row-major window order; with overlapping windows an input collects several δ."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(2, 3, 6, 7)).astype(np.float64)  # lots of ties between 0s and 1s
    layer, reference = nn.MaxPool2d(*args, **kwargs), torch.nn.MaxPool2d(*args, **kwargs)
    grad = rng.standard_normal(tuple(reference(torch.tensor(x)).shape))
    y, dx, ref_y, ref_dx = _both(layer, reference, x, grad, device)
    np.testing.assert_array_equal(to_numpy(y), ref_y.detach().numpy())
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind, args, kwargs, shape", [
    ("MaxPool2d", ((3, 3), (2, 2), (1, 1)), {}, (1, 3, 7, 7)),
    ("MaxPool2d", ((3, 3), (2, 2), (1, 1)), {}, (3, 7, 7)),               # unbatched
    ("MaxPool2d", (2,), {}, (2, 3, 6, 7)),                                # ties (0s and 1s)
    ("MaxPool2d", (3, 2, 1), dict(dilation=2, ceil_mode=True), (2, 2, 8, 9)),
    ("MaxPool2d", ((2, 3), 1, (1, 0)), {}, (1, 2, 5, 6)),
    ("MaxPool1d", (4,), {}, (2, 10, 4)),
    ("MaxPool1d", (3, 2, 1), dict(dilation=2, ceil_mode=True), (3, 9)),   # unbatched
])
def test_return_indices_are_pytorchs(kind, args, kwargs, shape, device):
    """Flat positions h·W + w (1-D: positions along L) of each window's first maximum, int64, on
    the input's device; backward takes (∂J/∂y, None) and gives PyTorch's gradient."""
    rng = np.random.default_rng(0)
    ties = shape == (2, 3, 6, 7)
    x = rng.integers(0, 2, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
    layer = getattr(nn, kind)(*args, return_indices=True, **kwargs)
    reference = getattr(torch.nn, kind)(*args, return_indices=True, **kwargs)
    grad = rng.standard_normal(tuple(reference(torch.tensor(x))[0].shape))
    (y, indices), dx, (ref_y, ref_indices), ref_dx = _both(layer, reference, x, grad, device)
    assert device_of(indices) == device and str(indices.dtype).endswith("int64")
    np.testing.assert_array_equal(to_numpy(indices), ref_indices.numpy())
    np.testing.assert_array_equal(to_numpy(y), ref_y.detach().numpy())
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)


def test_return_indices_point_at_a_nan_and_at_the_window_start_like_pytorch():
    x = np.array([[[[1.0, np.nan, 2.0, np.nan], [0.0, 5.0, 1.0, 1.0]]]])
    _, indices = nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(indices, torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))[1])
    # A window holding only −∞ has no strictly larger value: its first position inside the input.
    x = np.full((1, 1, 3, 3), -np.inf)
    _, indices = nn.MaxPool2d(2, 1, 1, return_indices=True)(x)
    _, expected = torch.nn.MaxPool2d(2, 1, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(indices, expected)


def test_a_dilated_window_wholly_in_the_padding_gives_minus_infinity_and_no_gradient_like_pytorch():
    """Rows −1 and 1 of a 1-row input: both padding. PyTorch's index then points past the input."""
    layer = nn.MaxPool2d((2, 1), padding=(1, 0), dilation=(2, 1), return_indices=True)
    reference = torch.nn.MaxPool2d((2, 1), padding=(1, 0), dilation=(2, 1), return_indices=True)
    x = np.array([[[0.5]]])
    (y, indices), dx, (ref_y, ref_indices), ref_dx = _both(layer, reference, x, np.ones((1, 1, 1)), "numpy")
    assert y[0, 0, 0] == ref_y.item() == -np.inf and indices[0, 0, 0] == ref_indices.item() == 1
    assert dx[0, 0, 0] == ref_dx[0, 0, 0] == 0


def test_max_pool_pads_with_minus_infinity_and_avg_pool_counts_the_padding(device):
    x = -np.ones((1, 1, 2, 2))  # all negative: zero padding would win a max
    y = to_numpy(nn.MaxPool2d(2, 2, padding=1)(to_device(x, device)))
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))
    y = to_numpy(nn.AvgPool2d(2, 2, padding=1)(to_device(x, device)))
    np.testing.assert_array_equal(y, -np.full((1, 1, 2, 2), 0.25))  # count_include_pad=True
    np.testing.assert_array_equal(y, torch.nn.AvgPool2d(2, 2, padding=1)(torch.tensor(x)).numpy())
    y = to_numpy(nn.AvgPool2d(2, 2, padding=1, count_include_pad=False)(to_device(x, device)))
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))        # only the one input entry counts
    y = to_numpy(nn.AvgPool2d(2, 2, padding=1, divisor_override=2)(to_device(x, device)))
    np.testing.assert_array_equal(y, -np.full((1, 1, 2, 2), 0.5))


def test_ceil_mode_adds_a_partial_window_unless_it_would_start_in_the_padding(device):
    """On [1, 2, 3] a window of 2 with stride 2: the floor gives one window, ceil_mode a second
    one holding only 3, whose mean divides by the one entry it covers; with padding 1 a third
    window would start in the right padding, so PyTorch (and nnlib) leave it out."""
    x = to_device(np.array([[1.0, 2.0, 3.0]]), device)
    np.testing.assert_array_equal(to_numpy(nn.AvgPool1d(2)(x)), [[1.5]])
    np.testing.assert_array_equal(to_numpy(nn.AvgPool1d(2, ceil_mode=True)(x)), [[1.5, 3.0]])
    np.testing.assert_array_equal(to_numpy(nn.MaxPool1d(2, ceil_mode=True)(x)), [[2.0, 3.0]])
    assert tuple(nn.MaxPool1d(2, 2, 1, ceil_mode=True)(x).shape) == (1, 2)
    for kind, args in [("AvgPool1d", (2,)), ("MaxPool1d", (2,)), ("MaxPool1d", (2, 2, 1))]:
        expected = getattr(torch.nn, kind)(*args, ceil_mode=True)(torch.tensor(to_numpy(x)))
        np.testing.assert_array_equal(to_numpy(getattr(nn, kind)(*args, ceil_mode=True)(x)), expected)


def test_adaptive_windows_follow_pytorchs_formula():
    """Output i averages ⌊i·H/OH⌋ … ⌈(i + 1)·H/OH⌉ − 1: overlapping by one where OH does not divide H."""
    assert adaptive_windows(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_windows(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert adaptive_windows(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]   # more outputs than inputs
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x)[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-13)
    signal = x[:, :, 0]
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(1)(signal)[..., 0], signal.mean(axis=-1), rtol=1e-13)


def test_stride_defaults_to_the_kernel_size_and_the_arguments_stay_as_given_like_pytorch():
    for args in [(3,), ((2, 3),), (3, 1), ((2, 3), 1, (1, 0))]:
        for kind in ("MaxPool2d", "AvgPool2d"):
            ours, theirs = getattr(nn, kind)(*args), getattr(torch.nn, kind)(*args)
            assert (ours.kernel_size, ours.stride, ours.padding) == (theirs.kernel_size, theirs.stride,
                                                                     theirs.padding)
    assert nn.MaxPool1d(3).stride == 3 and nn.AvgPool1d(3).stride == (3,)  # AvgPool1d makes 1-tuples
    assert nn.MaxPool2d(2).state_dict() == {} and list(nn.MaxPool2d(2).parameters()) == []


@pytest.mark.parametrize("kind, args", [
    ("MaxPool2d", (2,)), ("MaxPool2d", ((2, 3), 1, (1, 0), 2, False, True)), ("MaxPool1d", ((3,), (2,))),
    ("AvgPool2d", (2,)), ("AvgPool2d", (3, 2, 1, True, False, 2)), ("AvgPool1d", (3, 2, 1, True, False)),
    ("AdaptiveAvgPool2d", ((3, None),)), ("AdaptiveAvgPool2d", (1,)), ("AdaptiveAvgPool1d", (2,)),
], ids=str)
def test_repr_is_pytorchs(kind, args):
    assert repr(getattr(nn, kind)(*args)) == repr(getattr(torch.nn, kind)(*args))


@pytest.mark.parametrize("kind", KINDS)
def test_signature_is_pytorchs(kind):
    ours, theirs = inspect.signature(getattr(nn, kind)), inspect.signature(getattr(torch.nn, kind))
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == \
           [(p.name, p.default, p.kind) for p in theirs.parameters.values()]


@pytest.mark.parametrize("kind", KINDS)
def test_output_is_on_the_input_device_and_dtype(kind, device, float_dtype):
    spatial = 1 if kind.endswith("1d") else 2
    x = to_device(np.ones((2, 3, *(4,) * spatial), dtype=float_dtype), device)
    layer = getattr(nn, kind)(2)
    y = layer(x)
    assert tuple(y.shape) == (2, 3, *(2,) * spatial)
    assert device_of(y) == device and str(y.dtype).endswith(float_dtype)
    dx = layer.backward(to_device(np.ones(tuple(y.shape), dtype=float_dtype), device))
    assert device_of(dx) == device and str(dx.dtype).endswith(float_dtype)
    assert tuple(dx.shape) == tuple(x.shape)


# --- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"])
def test_wrong_rank_names_expected_and_got(kind):
    layer = getattr(nn, kind)(2)
    with pytest.raises(ShapeError, match=r"must have shape \(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"):
        layer(np.zeros((4, 4)))
    with pytest.raises(ShapeError, match=r"must have shape \(N, C, L\) or \(C, L\), got \(1, 2, 3, 4\)"):
        getattr(nn, kind.replace("2d", "1d"))(2)(np.zeros((1, 2, 3, 4)))


@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d"])
def test_errors_name_expected_and_got(kind):
    layer = getattr(nn, kind)(2)
    with pytest.raises(ShapeError, match=r"kernel height 2 is larger than the padded input height 1"):
        layer(np.zeros((1, 1, 1, 4)))
    with pytest.raises(ValueError, match=r"padding must be at most half the kernel size"):
        getattr(nn, kind)(2, padding=2)
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        getattr(nn, kind)(0)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        getattr(nn, kind)(2, stride=(1, 0))
    with pytest.raises(TypeError, match="ceil_mode must be True or False, got 'False'"):
        getattr(nn, kind)(2, ceil_mode="False")


def test_flag_and_divisor_errors():
    with pytest.raises(TypeError, match="return_indices must be True or False, got 1"):
        nn.MaxPool2d(2, return_indices=1)
    with pytest.raises(ValueError, match="dilation must be a positive integer"):
        nn.MaxPool1d(2, dilation=0)
    with pytest.raises(TypeError, match="count_include_pad must be True or False, got None"):
        nn.AvgPool1d(2, count_include_pad=None)
    with pytest.raises(ValueError, match="divisor_override must be None or a non-zero integer, got 0"):
        nn.AvgPool2d(2, divisor_override=0)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):  # PyTorch refuses it too
        torch.nn.AvgPool2d(2, divisor_override=0)(torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("output_size", [0, (2, 0), (2, 2, 2), 1.5, "2", True])
def test_adaptive_output_size_errors(output_size):
    with pytest.raises(ValueError, match=r"output_size must be a positive integer or a tuple of 2 positive"):
        nn.AdaptiveAvgPool2d(output_size)
