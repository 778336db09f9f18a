"""Conv2d and Conv1d: gradcheck (float64) and torch parity over generated shapes, strides,
dilations, groups, paddings ("same", "valid", every padding_mode) and unbatched inputs on every
backend; PyTorch's signatures, initialisation, state_dict and repr; clear errors."""

import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import nn
from nnlib.backend import to_device, to_numpy
from nnlib.errors import BackwardError, DeviceError, DTypeError, ShapeError
from nnlib.nn.functional import col2im, edge_source, im2col, output_size, pad_edges, pad_edges_adjoint
from cnn_cases import CNN_CASES
from nnlib_cases import SETTINGS, check_gradcheck, check_parity, seeds

KINDS = ["Conv2d", "Conv1d"]


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


@given(data=st.data())
@settings(SETTINGS, max_examples=4)
def test_a_small_cnn_chains_the_image_layers(device, data):
    case = data.draw(CNN_CASES["Conv-BN-ReLU-Pool-Linear"], label="case")
    seed = data.draw(seeds, label="seed")
    check_gradcheck(case, device, seed)
    check_parity(case, "float64", device, seed)


@st.composite
def window_geometry(draw):
    """kernel, stride, dilation, uneven padding ((top, bottom), (left, right)) and an input shape."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    sizes = tuple(max(draw(st.integers(1, 7)), d * (k - 1) + 1 - sum(p))
                  for k, d, p in zip(kernel, dilation, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *sizes)
    return kernel, stride, dilation, padding, shape


@given(geometry=window_geometry())
@SETTINGS
def test_fold_is_the_adjoint_of_unfold(geometry):
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for all x, c: col2im is exactly the transpose of im2col."""
    kernel, stride, dilation, padding, shape = geometry
    out_hw = tuple(output_size(size, k, s, p, d, who="test", axis="axis")
                   for size, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    cols = im2col(x, kernel, stride, padding, out_hw, dilation)
    assert cols.shape == (shape[1] * kernel[0] * kernel[1], shape[0] * out_hw[0] * out_hw[1])
    c = rng.standard_normal(cols.shape)
    back = col2im(c, shape, kernel, stride, padding, out_hw, dilation)
    assert math.isclose(float(np.sum(cols * c)), float(np.sum(x * back)), rel_tol=1e-12, abs_tol=1e-12)
    # The same columns with the batch axis last give the same sums, added in the same order.
    c_last = c.reshape(c.shape[0], shape[0], -1).transpose(0, 2, 1).reshape(c.shape[0], -1)
    np.testing.assert_array_equal(col2im(c_last, shape, kernel, stride, padding, out_hw, dilation,
                                         batch_last=True), back)


NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", list(NUMPY_PAD_MODE))
@pytest.mark.parametrize("padding", [((1, 2), (3, 0)), ((0, 0), (2, 2)), ((3, 1), (0, 0))], ids=str)
def test_edge_padding_is_numpys_pad_and_its_adjoint_adds_the_copies_back(mode, padding, device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    padded = to_numpy(pad_edges(to_device(x, device), padding, mode, who="test"))
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (0, 0), *padding), mode=NUMPY_PAD_MODE[mode]))
    g = rng.standard_normal(padded.shape)
    back = to_numpy(pad_edges_adjoint(to_device(g.copy(), device), x.shape, padding, mode))
    assert back.shape == x.shape
    assert math.isclose(float(np.sum(padded * g)), float(np.sum(x * back)), rel_tol=1e-12)


def test_edge_source_lists_the_positions_each_mode_copies():
    assert list(edge_source(4, 2, 2, "reflect")) == [2, 1, 0, 1, 2, 3, 2, 1]
    assert list(edge_source(4, 2, 2, "replicate")) == [0, 0, 0, 1, 2, 3, 3, 3]
    assert list(edge_source(4, 2, 2, "circular")) == [2, 3, 0, 1, 2, 3, 0, 1]


@pytest.mark.parametrize("mode, padding, size, message", [
    ("reflect", 2, 2, r"padding_mode='reflect' needs padding smaller than the input size, got "
                      r"padding \(2, 2\) on an axis of size 2"),
    ("circular", 3, 2, r"padding_mode='circular' needs padding at most the input size, got "
                       r"padding \(3, 3\)"),
])
def test_edge_padding_wider_than_the_input_is_refused_as_in_pytorch(mode, padding, size, message):
    x = np.zeros((1, 1, size, 5))
    with pytest.raises(ShapeError, match=message):
        nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode, dtype="float64")(x)
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode, dtype=torch.float64)(torch.tensor(x))


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


@pytest.mark.parametrize("kind, args, kwargs, shape", [
    ("Conv2d", (3, 6, 5), {}, (4, 3, 32, 32)),
    ("Conv2d", (3, 8, 3, 1, 1), {}, (4, 3, 32, 32)),
    ("Conv2d", (3, 2, (5, 3), (3, 1), (0, 1)), {}, (4, 3, 32, 32)),
    ("Conv2d", (3, 2, 4, 2, 1), {}, (4, 3, 32, 32)),
    ("Conv2d", (3, 4, 3, 2), {}, (2, 3, 6, 6)),              # (6 − 3)/2 + 1 = 2.5: floored to 2
    ("Conv2d", (3, 64, 7, 2, 3), {}, (1, 3, 224, 224)),      # ResNet's first layer: 111.5 → 112
    ("Conv2d", (3, 2, 3, 1, 0, 2), {}, (2, 3, 7, 7)),        # dilation 2: a 5×5 reach
    ("Conv2d", (2, 4, (3, 4)), dict(padding="same"), (2, 2, 6, 5)),
    ("Conv2d", (2, 4, (3, 4)), dict(padding="same", dilation=2), (2, 2, 6, 5)),
    ("Conv2d", (2, 4, (3, 4)), dict(padding="valid"), (2, 2, 6, 5)),
    ("Conv2d", (4, 8, 3), dict(groups=4, stride=2), (2, 4, 6, 6)),
    ("Conv2d", (3, 6, 5), {}, (3, 12, 10)),                   # unbatched
    ("Conv1d", (4, 5, 3), dict(stride=2), (2, 4, 10)),
    ("Conv1d", (4, 5, 4), dict(padding="same"), (2, 4, 10)),
    ("Conv1d", (4, 5, 3), dict(dilation=2, padding=1), (4, 10)),  # unbatched
])
def test_output_shapes_are_pytorchs(kind, args, kwargs, shape, device):
    layer = getattr(nn, kind)(*args, **kwargs).to(device)
    expected = tuple(getattr(torch.nn, kind)(*args, **kwargs)(torch.zeros(shape)).shape)
    assert tuple(layer(to_device(np.zeros(shape, dtype=np.float32), device)).shape) == expected
    assert layer.output_shape(shape) == expected


def test_the_sixth_argument_is_dilation_as_in_pytorch():
    """Positional arguments mean what they mean in PyTorch: (in, out, k, stride, padding, dilation,
    groups, bias, padding_mode)."""
    layer = nn.Conv2d(4, 2, 3, 1, 0, 2, 2, False, "circular")
    assert (layer.dilation, layer.groups, layer.bias, layer.padding_mode) == ((2, 2), 2, None, "circular")
    assert tuple(layer(np.zeros((1, 4, 7, 7), dtype=np.float32)).shape) == (1, 2, 3, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_signature_is_pytorchs(kind):
    ours, theirs = inspect.signature(getattr(nn, kind)), inspect.signature(getattr(torch.nn, kind))
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == \
           [(p.name, p.default, p.kind) for p in theirs.parameters.values()]


def test_a_remainder_is_floored_as_in_pytorch_and_the_rows_left_out_get_no_gradient(device):
    """(8 − 3)/2 + 1 = 3.5: the windows start at rows 0, 2, 4 and cover rows 0–6; row 7 is in
    none of them, so it changes nothing and its gradient is exactly 0 — the same as PyTorch."""
    nnlib.manual_seed(0)
    layer = nn.Conv2d(1, 2, 3, stride=2, dtype="float64")
    reference = torch.nn.Conv2d(1, 2, 3, stride=2, dtype=torch.float64)
    reference.load_state_dict({k: torch.as_tensor(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 9))
    y = layer.to(device)(to_device(x, device))
    assert tuple(y.shape) == (1, 2, 3, 4)
    g = np.random.default_rng(1).standard_normal((1, 2, 3, 4))
    dx = to_numpy(layer.backward(to_device(g, device)))
    assert np.all(dx[0, 0, 7] == 0) and np.all(dx[0, 0, :7] != 0)
    t = torch.tensor(x, requires_grad=True)
    reference(t).backward(torch.tensor(g))
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_same_padding_puts_the_odd_position_after_as_in_pytorch():
    """A kernel of 2 needs one padded position: PyTorch puts it after the signal, so with the
    kernel [0, 1] the output is the signal shifted left by one, a zero at the end."""
    layer = nn.Conv1d(1, 1, 2, padding="same", bias=False, dtype="float64")
    layer.weight.data = np.array([[[0.0, 1.0]]])
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(layer(x), [[2.0, 3.0, 4.0, 0.0]])
    reference = torch.nn.Conv1d(1, 1, 2, padding="same", bias=False, dtype=torch.float64)
    reference.weight.data = torch.tensor(layer.weight.data)
    with warnings.catch_warnings():  # PyTorch warns that it copies the input for the uneven padding
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_array_equal(reference(torch.tensor(x)).detach().numpy(), [[2.0, 3.0, 4.0, 0.0]])


def test_groups_keep_their_channels_apart(device):
    """Depthwise (groups = in_channels): output channels 2c, 2c + 1 see input channel c only."""
    nnlib.manual_seed(0)
    layer = nn.Conv2d(3, 6, 3, groups=3, dtype="float64").to(device)
    assert layer.weight.shape == (6, 1, 3, 3)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    y = to_numpy(layer(to_device(x, device)))
    changed = x.copy()
    changed[:, 1] += 1.0
    y_changed = to_numpy(layer(to_device(changed, device)))
    np.testing.assert_array_equal(y_changed[:, [0, 1, 4, 5]], y[:, [0, 1, 4, 5]])
    assert np.all(y_changed[:, 2:4] != y[:, 2:4])


@pytest.mark.parametrize("kind, args, kwargs", [
    ("Conv2d", (6, 16, 5), {}),
    ("Conv2d", (4, 8, 3), dict(groups=4)),
    ("Conv2d", (2, 3, (1, 4)), dict(bias=False)),
    ("Conv1d", (4, 6, 3), dict(groups=2)),
    ("Conv1d", (2, 3, 5), dict(bias=False)),
])
def test_default_initialisation_and_state_dict_match_pytorch(kind, args, kwargs):
    nnlib.manual_seed(0)
    layer = getattr(nn, kind)(*args, **kwargs)
    reference = getattr(torch.nn, kind)(*args, **kwargs)
    assert list(layer.state_dict()) == list(reference.state_dict())
    for key, value in reference.state_dict().items():
        assert tuple(layer.state_dict()[key].shape) == tuple(value.shape)
    weight = reference.weight
    bound = 1 / math.sqrt(weight.shape[1] * math.prod(weight.shape[2:]))  # U(±1/√fan_in), both
    for p in (layer.weight, layer.bias) if layer.bias is not None else (layer.weight,):
        values = to_numpy(p.data)
        assert values.dtype == np.float32 and np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.5 * bound  # really spread over the interval
    # Round trip: nnlib → torch → nnlib keeps every value.
    reference.load_state_dict({k: torch.as_tensor(v) for k, v in layer.state_dict().items()})
    again = getattr(nn, kind)(*args, **kwargs)
    again.load_state_dict(reference.state_dict())
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(to_numpy(again.state_dict()[key]), value)


def test_parameters_are_created_on_the_requested_device_and_dtype(device):
    layer = nn.Conv1d(2, 4, 3, groups=2, device=device, dtype="float64")
    assert layer.weight.device == layer.bias.device == device
    assert layer.weight.dtype == "float64"


@pytest.mark.parametrize("kind, args, kwargs", [
    ("Conv2d", (3, 6, 5), {}),
    ("Conv2d", (3, 6, 3), dict(padding=(1, 2), bias=False)),
    ("Conv2d", (4, 8, (3, 2), 2, "valid"), dict(groups=2, bias=False, padding_mode="reflect")),
    ("Conv2d", (4, 8, 3), dict(padding="same", dilation=2)),
    ("Conv1d", (4, 8, 3, 2, 1, 2, 4), dict(padding_mode="circular")),
    ("Conv1d", (4, 8, (3,)), dict(padding="same")),
])
def test_repr_is_pytorchs(kind, args, kwargs):
    assert repr(getattr(nn, kind)(*args, **kwargs)) == repr(getattr(torch.nn, kind)(*args, **kwargs))


# --- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, shape, message", [
    ("Conv2d", (32, 32), r"must have shape \(N, 3, H, W\) or \(3, H, W\), got \(32, 32\)"),
    ("Conv2d", (1, 1, 3, 32, 32), r"must have shape \(N, 3, H, W\) or \(3, H, W\), got \(1, 1, 3, 32, 32\)"),
    ("Conv2d", (2, 1, 32, 32), r"\(N, 3, H, W\) or \(3, H, W\) \(3 channels\), got \(2, 1, 32, 32\) with 1 "),
    ("Conv2d", (1, 32, 32), r"\(3 channels\), got \(1, 32, 32\) with 1 channel"),
    ("Conv1d", (32,), r"must have shape \(N, 3, L\) or \(3, L\), got \(32,\)"),
    ("Conv1d", (1, 3, 1, 32), r"must have shape \(N, 3, L\) or \(3, L\), got \(1, 3, 1, 32\)"),
    ("Conv1d", (4, 32), r"\(N, 3, L\) or \(3, L\) \(3 channels\), got \(4, 32\) with 4 channel"),
])
def test_wrong_rank_or_channels_name_expected_and_got(kind, shape, message, device):
    layer = getattr(nn, kind)(3, 6, 5).to(device)
    with pytest.raises(ShapeError, match=message):
        layer(to_device(np.zeros(shape, dtype=np.float32), device))


def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ShapeError, match=r"kernel height 5 is larger than the padded input height "
                                         r"3 \+ 2·0 = 3"
                                         r"; use a smaller kernel, more padding or a larger input"):
        nn.Conv2d(1, 1, 5)(np.zeros((1, 1, 3, 9), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"kernel width 5 is larger than the padded input width "
                                         r"2 \+ 2·1 = 4"):
        nn.Conv2d(1, 1, (1, 5), padding=1)(np.zeros((1, 1, 9, 2), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"kernel width 3 with dilation 3 spans 7, which is larger than the "
                                         r"padded input width 6 \+ 2·0 = 6"):
        nn.Conv1d(1, 1, 3, dilation=3)(np.zeros((1, 6), dtype=np.float32))
    nn.Conv2d(1, 1, 5, padding=1)(np.zeros((1, 1, 3, 3), dtype=np.float32))  # 3 + 2 = 5 fits exactly
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        torch.nn.Conv2d(1, 1, 5)(torch.zeros(1, 1, 3, 9))  # PyTorch refuses it too


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(in_channels=0), ValueError, "in_channels must be a positive integer"),
    (dict(out_channels=2.5), ValueError, "out_channels must be a positive integer"),
    (dict(kernel_size=0), ValueError, "kernel_size must be a positive integer or a pair"),
    (dict(kernel_size=(3, 3, 3)), ValueError, "kernel_size must be"),
    (dict(kernel_size="3"), ValueError, "kernel_size must be"),
    (dict(kernel_size=True), ValueError, "kernel_size must be"),
    (dict(stride=0), ValueError, "stride must be a positive integer"),
    (dict(padding=-1), ValueError, "padding must be a non-negative integer"),
    (dict(padding="full"), ValueError, "padding must be an integer, a tuple of them, 'same' or 'valid', got"),
    (dict(stride=2, padding="same"), ValueError, "padding='same' needs stride 1"),
    (dict(dilation=0), ValueError, "dilation must be a positive"),
    (dict(in_channels=3, out_channels=2, groups=2), ValueError,
     "in_channels must be divisible by groups, got in_channels=3 and groups=2"),
    (dict(in_channels=4, out_channels=3, groups=2), ValueError, "out_channels must be divisible by groups"),
    (dict(groups=0), ValueError, "groups must be a positive integer"),
    (dict(padding_mode="mirror"), ValueError, "padding_mode must be one of .*got 'mirror'"),
    (dict(bias="False"), TypeError, "bias must be True or False"),
    (dict(dtype="int32"), TypeError, "unsupported dtype"),
])
def test_invalid_constructor_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.Conv2d(**{"in_channels": 1, "out_channels": 1, "kernel_size": 3, **kwargs})


def test_conv1d_takes_ints_or_one_tuples():
    assert nn.Conv1d(2, 3, (4,), (2,), (1,), (1,)).kernel_size == (4,)
    with pytest.raises(ValueError, match=r"kernel_size must be a positive integer or a tuple of 1, "
                                         r"got \(3, 3\)"):
        nn.Conv1d(2, 3, (3, 3))


def test_backward_errors():
    layer = nn.Conv2d(1, 2, 3)
    with pytest.raises(BackwardError):
        layer.backward(np.zeros((1, 2, 2, 2), dtype=np.float32))
    layer(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"shaped like the forward output \(1, 2, 2, 2\), got \(1, 2, 2\)"):
        layer.backward(np.zeros((1, 2, 2), dtype=np.float32))


def test_device_and_dtype_mismatch(torch_device):
    layer = nn.Conv2d(1, 1, 3).to(torch_device)
    with pytest.raises(DeviceError, match=f"input has device 'numpy', expected '{torch_device}'.*move one"):
        layer(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(DTypeError, match=r"input has dtype float64, expected float32 \(the dtype of the "
                                         r"module's parameter 'weight'\)"):
        layer(to_device(np.zeros((1, 1, 4, 4)), torch_device))


def test_sequential_skips_the_fold_of_a_first_conv():
    nnlib.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype="float64"), nn.ReLU(), nn.Flatten(),
                          nn.Linear(16, 2, dtype="float64"))
    x, g = np.random.default_rng(0).standard_normal((3, 1, 4, 6)), np.ones((3, 2))
    model(x)
    model.backward(g)
    expected = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    model(x)
    assert nn.Conv2d.can_skip_input_grad and model.backward(g, input_grad=False) is None
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, expected[name])
