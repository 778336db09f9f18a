"""Conv2d: gradcheck (float64) and torch parity over generated shapes, strides, paddings and
non-square kernels on every backend; PyTorch's initialisation and state_dict; clear errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import nn
from nnlib.backend import to_device, to_numpy
from nnlib.errors import BackwardError, DeviceError, DTypeError, ShapeError
from nnlib.nn.functional import col2im, im2col
from cnn_cases import CNN_CASES, conv2d
from nnlib_cases import SETTINGS, check_gradcheck, check_parity, seeds


@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(device, data):
    check_gradcheck(data.draw(conv2d(), label="case"), device, data.draw(seeds, label="seed"))


@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(device, float_dtype, data):
    check_parity(data.draw(conv2d(), label="case"), float_dtype, device, data.draw(seeds, label="seed"))


@given(data=st.data())
@settings(SETTINGS, max_examples=4)
def test_a_small_cnn_chains_the_image_layers(device, data):
    case = data.draw(CNN_CASES["Conv-BN-ReLU-Pool-Linear"], label="case")
    seed = data.draw(seeds, label="seed")
    check_gradcheck(case, device, seed)
    check_parity(case, "float64", device, seed)


@given(data=st.data())
@SETTINGS
def test_fold_is_the_adjoint_of_unfold(data):
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for all x, c: col2im is exactly the transpose of im2col."""
    case = data.draw(conv2d(), label="case")
    layer = case.make("float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.shape)
    n, o, oh, ow = layer.output_shape(case.shape)
    cols = im2col(x, layer.kernel_size, layer.stride, layer.padding, (oh, ow))
    c = rng.standard_normal(cols.shape)
    back = col2im(c, case.shape, layer.kernel_size, layer.stride, layer.padding, (oh, ow))
    assert math.isclose(float(np.sum(cols * c)), float(np.sum(x * back)), rel_tol=1e-12, abs_tol=1e-12)


def test_backward_skips_the_input_gradient_on_request(device):
    layer = nn.Conv2d(2, 3, 3, dtype="float64").to(device)
    x = to_device(np.random.default_rng(0).standard_normal((2, 2, 5, 5)), device)
    grad = to_device(np.ones((2, 3, 3, 3)), device)
    layer(x)
    full = layer.backward(grad)
    weight_grad = to_numpy(layer.weight.grad)
    layer.zero_grad()
    layer(x)
    assert layer.backward(grad, input_grad=False) is None
    np.testing.assert_array_equal(to_numpy(layer.weight.grad), weight_grad)
    assert tuple(full.shape) == (2, 2, 5, 5)


def test_output_shapes_follow_the_formula(device):
    x = to_device(np.zeros((4, 3, 32, 32), dtype=np.float32), device)
    for layer, expected in [(nn.Conv2d(3, 6, 5), (4, 6, 28, 28)),
                            (nn.Conv2d(3, 8, 3, stride=1, padding=1), (4, 8, 32, 32)),
                            (nn.Conv2d(3, 2, (5, 3), stride=(3, 1), padding=(0, 1)), (4, 2, 10, 32)),
                            (nn.Conv2d(3, 2, 4, stride=2, padding=1), (4, 2, 16, 16))]:
        y = layer.to(device)(x)
        assert tuple(y.shape) == expected == tuple(torch.nn.Conv2d(3, *expected[1:2], layer.kernel_size, layer.stride,
                                                                   layer.padding)(torch.zeros(4, 3, 32, 32)).shape)


def test_default_initialisation_and_state_dict_match_pytorch():
    nnlib.manual_seed(0)
    layer = nn.Conv2d(6, 16, 5)
    reference = torch.nn.Conv2d(6, 16, 5)
    assert list(layer.state_dict()) == list(reference.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == tuple(reference.weight.shape) == (16, 6, 5, 5)
    bound = 1 / math.sqrt(6 * 5 * 5)  # kaiming_uniform_(a=√5) and the bias both give U(±1/√fan_in)
    for p in (layer.weight, layer.bias):
        values = to_numpy(p.data)
        assert values.dtype == np.float32 and np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.9 * bound  # really spread over the interval
    # Round trip: nnlib → torch → nnlib keeps every value.
    reference.load_state_dict({k: torch.as_tensor(v) for k, v in layer.state_dict().items()})
    again = nn.Conv2d(6, 16, 5)
    again.load_state_dict(reference.state_dict())
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(to_numpy(again.state_dict()[key]), value)
    assert nn.Conv2d(1, 1, 3, bias=False).bias is None
    assert list(nn.Conv2d(1, 1, 3, bias=False).state_dict()) == ["weight"]


def test_repr_names_the_configuration():
    assert repr(nn.Conv2d(3, 6, 5)) == "Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1))"
    assert "padding=(1, 2)" in repr(nn.Conv2d(3, 6, 3, padding=(1, 2), bias=False))


# --- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, message", [
    ((3, 32, 32), r"must have shape \(N, 3, H, W\), got \(3, 32, 32\)"),
    ((1, 1, 3, 32, 32), r"must have shape \(N, 3, H, W\), got \(1, 1, 3, 32, 32\)"),
    ((2, 1, 32, 32), r"\(N, 3, H, W\) \(3 channels\), got \(2, 1, 32, 32\) with 1 channel"),
])
def test_wrong_rank_or_channels_name_expected_and_got(shape, message, device):
    layer = nn.Conv2d(3, 6, 5).to(device)
    with pytest.raises(ShapeError, match=message):
        layer(to_device(np.zeros(shape, dtype=np.float32), device))


def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ShapeError, match=r"kernel height 5 is larger than the padded input height 3 \+ 2·0 = 3"):
        nn.Conv2d(1, 1, 5)(np.zeros((1, 1, 3, 9), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"kernel width 5 is larger than the padded input width 2 \+ 2·1 = 4"):
        nn.Conv2d(1, 1, (1, 5), padding=1)(np.zeros((1, 1, 9, 2), dtype=np.float32))
    nn.Conv2d(1, 1, 5, padding=1)(np.zeros((1, 1, 3, 3), dtype=np.float32))  # 3 + 2 = 5 fits exactly


def test_a_non_integer_output_size_is_an_error_that_explains_the_floor():
    layer = nn.Conv2d(1, 1, 3, stride=2)
    with pytest.raises(ShapeError) as info:
        layer(np.zeros((1, 1, 8, 9), dtype=np.float32))  # (8 − 3)/2 + 1 = 3.5
    message = str(info.value)
    assert "output height (H + 2p − k)/s + 1 = (8 + 2·0 − 3)/2 + 1 = 3.5 is not an integer" in message
    assert "⌊(8 + 2·0 − 3)/2⌋ + 1 = 3" in message and "last 1 row(s)" in message and "padded rows 7..7" in message
    assert tuple(torch.nn.Conv2d(1, 1, 3, stride=2)(torch.zeros(1, 1, 8, 9)).shape) == (1, 1, 3, 4)  # what torch does
    with pytest.raises(ShapeError, match=r"output width .* column\(s\)"):
        nn.Conv2d(1, 1, 2, stride=(1, 3))(np.zeros((1, 1, 4, 6), dtype=np.float32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=0, out_channels=1, kernel_size=3), "in_channels must be a positive integer"),
    (dict(in_channels=1, out_channels=2.5, kernel_size=3), "out_channels must be a positive integer"),
    (dict(in_channels=1, out_channels=1, kernel_size=0), "kernel_size must be a positive integer or a pair"),
    (dict(in_channels=1, out_channels=1, kernel_size=(3, 3, 3)), "kernel_size must be"),
    (dict(in_channels=1, out_channels=1, kernel_size="3"), "kernel_size must be"),
    (dict(in_channels=1, out_channels=1, kernel_size=True), "kernel_size must be"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, stride=0), "stride must be a positive integer"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, padding=-1), "padding must be a non-negative integer"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, dtype="int32"), "unsupported dtype"),
])
def test_invalid_constructor_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        nn.Conv2d(**kwargs)


def test_backward_errors():
    layer = nn.Conv2d(1, 2, 3)
    with pytest.raises(BackwardError):
        layer.backward(np.zeros((1, 2, 2, 2), dtype=np.float32))
    layer(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"shaped like the forward output \(1, 2, 2, 2\), got \(1, 2, 2\)"):
        layer.backward(np.zeros((1, 2, 2), dtype=np.float32))


def test_device_and_dtype_mismatch(torch_device):
    layer = nn.Conv2d(1, 1, 3).to(torch_device)
    with pytest.raises(DeviceError, match=f"input has device 'numpy', expected '{torch_device}'.*move one of them"):
        layer(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(DTypeError, match=r"input has dtype float64, expected float32 \(the dtype of the module's "
                                         r"parameter 'weight'\)"):
        layer(to_device(np.zeros((1, 1, 4, 4)), torch_device))


def test_sequential_skips_the_fold_of_a_first_conv():
    nnlib.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype="float64"), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2, dtype="float64"))
    x, g = np.random.default_rng(0).standard_normal((3, 1, 4, 6)), np.ones((3, 2))
    model(x)
    model.backward(g)
    expected = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    model(x)
    assert nn.Conv2d.can_skip_input_grad and model.backward(g, input_grad=False) is None
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, expected[name])
