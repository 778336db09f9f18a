"""MaxPool2d and AvgPool2d: gradcheck (float64) and torch parity over generated kernels, strides
and paddings on every backend; PyTorch's tie rule; −∞ padding; clear errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import nn
from nnlib.backend import device_of, to_device, to_numpy
from nnlib.errors import ShapeError
from cnn_cases import CNN_CASES
from nnlib_cases import SETTINGS, check_gradcheck, check_parity, seeds

KINDS = ["MaxPool2d", "AvgPool2d"]


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(CNN_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    check_parity(data.draw(CNN_CASES[kind], label="case"), float_dtype, device, data.draw(seeds, label="seed"))


def _both(layer, reference, x, grad, device):
    ours = layer(to_device(x, device))
    dx = to_numpy(layer.backward(to_device(grad, device)))
    t = torch.tensor(x, requires_grad=True)
    out = reference(t)
    out.backward(torch.tensor(grad))
    return to_numpy(ours), dx, out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("args", [(2,), (2, 1), (3, 2, 1), ((2, 3), (1, 2), (1, 0))], ids=str)
def test_ties_send_the_gradient_to_the_first_maximum_like_pytorch(args, device):
    """Windows full of equal values (e.g. zeros after a ReLU): PyTorch picks the first maximum in
    row-major window order; with overlapping windows an input collects several δ."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(2, 3, 6, 7)).astype(np.float64)  # lots of ties between 0s and 1s
    h, w = (6, 7)
    layer, reference = nn.MaxPool2d(*args), torch.nn.MaxPool2d(*args)
    try:
        out_shape = tuple(reference(torch.tensor(x)).shape)
        layer(to_device(x, device))
    except ShapeError:  # non-integer output size for this geometry: crop to one that is exact
        k, s = layer.kernel_size, layer.stride
        p = layer.padding
        h = (h + 2 * p[0] - k[0]) // s[0] * s[0] + k[0] - 2 * p[0]
        w = (w + 2 * p[1] - k[1]) // s[1] * s[1] + k[1] - 2 * p[1]
        x = np.ascontiguousarray(x[:, :, :h, :w])
        out_shape = tuple(reference(torch.tensor(x)).shape)
    grad = rng.standard_normal(out_shape)
    y, dx, ref_y, ref_dx = _both(layer, reference, x, grad, device)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)


def test_max_pool_pads_with_minus_infinity_and_avg_pool_counts_the_padding(device):
    x = -np.ones((1, 1, 2, 2))  # all negative: zero padding would win a max
    y = to_numpy(nn.MaxPool2d(2, 2, padding=1)(to_device(x, device)))
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))
    y = to_numpy(nn.AvgPool2d(2, 2, padding=1)(to_device(x, device)))
    np.testing.assert_array_equal(y, -np.full((1, 1, 2, 2), 0.25))  # count_include_pad=True
    np.testing.assert_array_equal(y, torch.nn.AvgPool2d(2, 2, padding=1)(torch.tensor(x)).numpy())


def test_stride_defaults_to_the_kernel_size():
    assert nn.MaxPool2d(3).stride == (3, 3) and nn.AvgPool2d((2, 3)).stride == (2, 3)
    assert nn.MaxPool2d(3, 1).stride == (1, 1)
    assert nn.MaxPool2d(2).state_dict() == {} and list(nn.MaxPool2d(2).parameters()) == []


def test_output_is_on_the_input_device_and_dtype(device, float_dtype):
    x = to_device(np.ones((2, 3, 4, 4), dtype=float_dtype), device)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2)):
        y = layer(x)
        assert tuple(y.shape) == (2, 3, 2, 2)
        assert device_of(y) == device and str(y.dtype).endswith(float_dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_errors_name_expected_and_got(kind):
    layer = getattr(nn, kind)(2)
    with pytest.raises(ShapeError, match=r"must have shape \(N, C, H, W\), got \(3, 4, 4\)"):
        layer(np.zeros((3, 4, 4)))
    with pytest.raises(ShapeError, match=r"kernel height 2 is larger than the padded input height 1"):
        layer(np.zeros((1, 1, 1, 4)))
    with pytest.raises(ShapeError, match=r"output width \(W \+ 2p − k\)/s \+ 1 = \(5 \+ 2·0 − 2\)/2 \+ 1 = 2.5"):
        layer(np.zeros((1, 1, 4, 5)))
    with pytest.raises(ValueError, match=r"padding must be at most half the kernel size"):
        getattr(nn, kind)(2, padding=2)
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        getattr(nn, kind)(0)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        getattr(nn, kind)(2, stride=(1, 0))
