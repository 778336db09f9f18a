"""Every layer: gradcheck in float64 over generated shapes, parity with torch.autograd on the
same weights and inputs (float64 and float32, every backend), and the behaviour each layer
promises beyond its formula (Dropout's mask, shapes, numerical stability)."""

import inspect
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import nnlib
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import UnsupportedError
from nnlib_cases import LAYER_CASES, NO_TORCH_TWIN, SETTINGS, check_gradcheck, check_parity, seeds


@pytest.mark.parametrize("kind", list(LAYER_CASES))
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(LAYER_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", [k for k in LAYER_CASES if k not in NO_TORCH_TWIN])
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    check_parity(data.draw(LAYER_CASES[kind], label="case"), float_dtype, device,
                 data.draw(seeds, label="seed"))


@pytest.mark.parametrize("make, make_torch", [
    (nn.ReLU, torch.nn.ReLU),
    (lambda: nn.LeakyReLU(0.3), lambda: torch.nn.LeakyReLU(0.3)),
], ids=["ReLU", "LeakyReLU"])
def test_derivative_at_the_kink_follows_pytorch(make, make_torch, device):
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    layer, t = make(), torch.tensor(x, requires_grad=True)
    out = layer(to_device(x, device))
    make_torch()(t).backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_array_equal(to_numpy(out), make_torch()(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(to_numpy(layer.backward(to_device(np.ones(4), device))), t.grad.numpy())


# --- Linear ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (2, 3), (4, 2, 3), (1, 2, 1, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_maps_the_last_dimension_and_keeps_the_others(shape, bias, device):
    layer = nn.Linear(3, 5, bias=bias, dtype="float64").to(device)
    x = np.random.default_rng(0).standard_normal(shape)
    y = layer(to_device(x, device))
    assert tuple(y.shape) == shape[:-1] + (5,)
    expected = x @ to_numpy(layer.weight.data).T + (to_numpy(layer.bias.data) if bias else 0)
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-12)
    grad_x = layer.backward(to_device(np.ones(shape[:-1] + (5,)), device))
    assert tuple(grad_x.shape) == shape
    assert layer.weight.grad.shape == (5, 3)
    assert (layer.bias is None) == (not bias)
    assert [name for name, _ in layer.named_parameters()] == (["weight", "bias"] if bias else ["weight"])


def test_linear_accepts_dtype_objects_and_defaults_to_float32():
    assert nn.Linear(2, 3).weight.dtype == "float32"
    assert nn.Linear(2, 3, dtype=np.float64).weight.dtype == "float64"
    assert nn.Linear(2, 3, dtype=torch.float64).weight.dtype == "float64"


# --- Flatten / Softmax -------------------------------------------------------------------------------
@pytest.mark.parametrize("start, end, expected", [
    (1, -1, (2, 60)), (0, -1, (120,)), (0, 1, (6, 4, 5)), (1, 2, (2, 12, 5)),
    (-2, -1, (2, 3, 20)), (2, 2, (2, 3, 4, 5)), (-4, 0, (2, 3, 4, 5)),
])
def test_flatten_shapes_match_pytorch(start, end, expected, device):
    x = np.arange(120.0).reshape(2, 3, 4, 5)
    layer = nn.Flatten(start, end)
    y = layer(to_device(x, device))
    assert tuple(y.shape) == expected == tuple(torch.nn.Flatten(start, end)(torch.tensor(x)).shape)
    np.testing.assert_array_equal(to_numpy(y).ravel(), x.ravel())
    assert tuple(layer.backward(y).shape) == x.shape


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_softmax_sums_to_one_along_its_dim_only(dim, device):
    x = np.random.default_rng(1).standard_normal((2, 3, 4)) * 10
    y = to_numpy(nn.Softmax(dim)(to_device(x, device)))
    np.testing.assert_allclose(y.sum(axis=dim), 1.0, rtol=1e-12)
    np.testing.assert_allclose(y, torch.softmax(torch.tensor(x), dim).numpy(), rtol=1e-12)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_log_softmax_exponentiates_to_the_softmax_and_its_gradient_sums_to_zero(dim, device):
    """e^y is Softmax's output; Σ_i ∂J/∂x_i = 0 along dim, as adding a constant to x changes nothing."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4)) * 10
    layer = nn.LogSoftmax(dim)
    y = layer(to_device(x, device))
    softmax = to_numpy(nn.Softmax(dim)(to_device(x, device)))
    np.testing.assert_allclose(np.exp(to_numpy(y)), softmax, rtol=1e-12)
    grad = to_numpy(layer.backward(to_device(np.random.default_rng(3).standard_normal(x.shape), device)))
    np.testing.assert_allclose(grad.sum(axis=dim), 0.0, atol=1e-12)


# --- numerical stability ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [nn.Sigmoid, nn.Tanh, lambda: nn.Softmax(-1), lambda: nn.LogSoftmax(-1),
                                  nn.GELU, lambda: nn.GELU("tanh")],
                         ids=["Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU(none)", "GELU(tanh)"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_stay_finite_and_warning_free_for_extreme_inputs(make, dtype):
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=dtype)
    layer = make()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # would raise FloatingPointError
        y = layer(x)
        g = layer.backward(np.ones_like(y))
    assert np.isfinite(y).all() and np.isfinite(g).all()
    ref = {nn.Sigmoid: torch.sigmoid, nn.Tanh: torch.tanh,
           nn.LogSoftmax: lambda t: torch.log_softmax(t, -1)}.get(type(layer))
    if ref is not None:
        np.testing.assert_allclose(y, ref(torch.tensor(x)).numpy(), rtol=1e-6)


# --- Dropout ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_drops_a_fraction_p_and_scales_the_rest_by_1_over_1_minus_p(p, device, float_dtype):
    nnlib.manual_seed(0)
    x = np.full((200, 500), 2.0, dtype=float_dtype)
    layer = nn.Dropout(p)
    y = to_numpy(layer(to_device(x, device)))
    assert y.dtype == np.dtype(float_dtype)
    kept = y != 0
    # 10⁵ Bernoulli(1 − p) draws: the kept fraction's standard deviation is below 0.0016.
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(y[kept], 2.0 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 2.0) < 0.05  # the expected output equals the input
    grad = np.random.default_rng(1).standard_normal(x.shape).astype(float_dtype)
    g = to_numpy(layer.backward(to_device(grad, device)))
    np.testing.assert_allclose(g, np.where(kept, grad / (1 - p), 0.0), rtol=1e-6)


def test_dropout_mask_is_the_same_for_a_seed_on_every_backend(torch_device):
    x = np.ones((8, 16))
    masks = []
    for device in ("numpy", torch_device):
        nnlib.manual_seed(7)
        masks.append(to_numpy(nn.Dropout(0.5)(to_device(x, device))))
    np.testing.assert_array_equal(*masks)
    nnlib.manual_seed(8)
    assert not np.array_equal(masks[0], to_numpy(nn.Dropout(0.5)(x)))


@pytest.mark.parametrize("setup", [lambda: nn.Dropout(0.5).eval(), lambda: nn.Dropout(0.0)],
                         ids=["eval", "p=0"])
def test_dropout_is_the_identity_in_eval_mode_or_with_p_0(setup, device):
    x = to_device(np.random.default_rng(0).standard_normal((4, 5)), device)
    layer = setup()
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(x))
    np.testing.assert_array_equal(to_numpy(layer.backward(x)), to_numpy(x))


def test_dropout_follows_train_and_eval_of_its_container():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = np.ones((16, 4), dtype=np.float32)
    model.eval()
    assert not model[1].training
    np.testing.assert_array_equal(model(x), model[0](x))
    model.train()
    assert model[1].training and (model(x) == 0).any()


# --- Sequential --------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_append_and_iteration():
    a, b, c = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)
    model = nn.Sequential(a, b)
    assert model.append(c) is model
    assert len(model) == 3 and list(model) == [a, b, c]
    assert model[0] is a and model[-1] is c
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_backward_is_the_chain_of_its_layers_backwards(device):
    nnlib.manual_seed(0)
    layers = [nn.Linear(3, 4, dtype="float64"), nn.Tanh(), nn.Linear(4, 2, dtype="float64")]
    model = nn.Sequential(*layers).to(device)
    x = to_device(np.random.default_rng(0).standard_normal((5, 3)), device)
    y = model(x)
    delta = to_device(np.ones((5, 2)), device)
    by_hand = layers[0].backward(layers[1].backward(layers[2].backward(delta)))
    model(x)
    model.zero_grad()
    np.testing.assert_array_equal(to_numpy(model.backward(delta)), to_numpy(by_hand))
    assert device_of(y) == device and dtype_name(y) == "float64"


def test_sequential_takes_an_ordered_dict_of_named_layers_and_slices_keep_the_names():
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.Tanh()),
                                       ("out", nn.Linear(3, 1))]))
    reference = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)), ("act", torch.nn.Tanh()),
                                                 ("out", torch.nn.Linear(3, 1))]))
    names = ["fc.weight", "fc.bias", "out.weight", "out.bias"]
    assert list(model.state_dict()) == list(reference.state_dict()) == names
    assert list(model[1:].state_dict()) == list(reference[1:].state_dict()) == ["out.weight", "out.bias"]
    assert model.fc is model[0]
    with pytest.raises(ValueError, match="'a.b'"):
        nn.Sequential(OrderedDict([("a.b", nn.Tanh())]))
    with pytest.raises(TypeError, match="entry 'act'.*int"):
        nn.Sequential(OrderedDict([("act", 3)]))


# --- PyTorch's signatures ------------------------------------------------------------------------------
def _parameters(fn):
    """(name, kind, default) of every parameter: what a call by position or keyword depends on."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", ["Linear", "Identity", "Flatten", "ReLU", "LeakyReLU", "GELU", "Sigmoid",
                                  "Tanh", "Softmax", "LogSoftmax", "Embedding", "Sequential"])
def test_constructor_and_forward_signatures_are_pytorchs(name):
    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    # A torch class without an __init__ of its own shows Module's (*args, **kwargs), which takes
    # no argument at all (Module.__init__ raises a TypeError for any).
    expected = [] if theirs.__init__ is torch.nn.Module.__init__ else _parameters(theirs)
    assert _parameters(ours) == expected
    assert [p[0] for p in _parameters(ours.forward)] == [p[0] for p in _parameters(theirs.forward)]


def test_linear_takes_device_and_dtype_by_position_too():
    layer = nn.Linear(2, 3, False, "numpy", "float64")
    assert layer.weight.dtype == "float64" and layer.bias is None


@pytest.mark.parametrize("make", [
    lambda v: nn.Linear(2, 3, bias=v), lambda v: nn.ReLU(inplace=v), lambda v: nn.LeakyReLU(inplace=v),
], ids=["Linear-bias", "ReLU-inplace", "LeakyReLU-inplace"])
@pytest.mark.parametrize("value", ["False", 0, None])
def test_flags_must_be_bools(make, value):
    with pytest.raises(TypeError, match=f"must be True or False, got {re.escape(repr(value))}"):
        make(value)


def test_identity_takes_and_ignores_any_arguments_as_pytorch():
    x = np.arange(3.0)
    assert nn.Identity(54, unused_argument=0.1)(x) is x


# --- 0-d inputs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, make_torch", [
    (nn.ReLU, torch.nn.ReLU), (nn.Tanh, torch.nn.Tanh), (nn.Sigmoid, torch.nn.Sigmoid),
    (nn.GELU, torch.nn.GELU), (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    (lambda: nn.LeakyReLU(0.5), lambda: torch.nn.LeakyReLU(0.5)),
    (lambda: nn.Softmax(0), lambda: torch.nn.Softmax(0)),
    (lambda: nn.Softmax(-1), lambda: torch.nn.Softmax(-1)),
    (lambda: nn.LogSoftmax(0), lambda: torch.nn.LogSoftmax(0)),
    (lambda: nn.Flatten(0), lambda: torch.nn.Flatten(0)), (nn.Identity, torch.nn.Identity),
], ids=["ReLU", "Tanh", "Sigmoid", "GELU(none)", "GELU(tanh)", "LeakyReLU", "Softmax(0)", "Softmax(-1)",
        "LogSoftmax(0)", "Flatten(0)", "Identity"])
@pytest.mark.parametrize("value", [-1.5, 0.7])
def test_a_0d_input_gives_0d_arrays_forward_and_backward(make, make_torch, value, device):
    layer, array_type = make(), np.ndarray if device == "numpy" else torch.Tensor
    y = layer(to_device(np.array(value), device))
    grad = layer.backward(to_device(np.ones(tuple(y.shape)) * 2.0, device))
    assert isinstance(y, array_type) and isinstance(grad, array_type)  # not a NumPy scalar
    assert tuple(grad.shape) == ()
    t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    ty = make_torch()(t)
    ty.backward(torch.full(ty.shape, 2.0, dtype=torch.float64))
    assert tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(grad), t.grad.numpy(), rtol=1e-12)


# --- inplace=True -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: nn.ReLU(inplace=True), lambda: nn.LeakyReLU(0.2, True)],
                         ids=["ReLU", "LeakyReLU"])
def test_inplace_is_refused_by_name(make):
    with pytest.raises(UnsupportedError, match=r"inplace=True is not implemented in nnlib"):
        make()


def test_why_inplace_is_refused_the_previous_layer_saved_its_output():
    """Tanh keeps y = tanh(x) for backward; a ReLU overwriting y in place would corrupt it
    (PyTorch notices through its version counters and raises; nnlib could not notice)."""
    tanh = nn.Tanh()
    x = np.array([-1.0, 0.5])
    y = tanh(x)
    saved = y.copy()
    nn.ReLU()(y)  # the supported, out-of-place ReLU leaves the saved output alone
    np.testing.assert_array_equal(y, saved)
    np.testing.assert_allclose(tanh.backward(np.ones(2)), 1 - np.tanh(x) ** 2)


def test_without_inplace_the_input_is_left_alone(device):
    x = np.array([-1.0, 2.0])
    x_dev = to_device(x.copy(), device)
    for layer in (nn.ReLU(), nn.LeakyReLU()):
        layer(x_dev)
        np.testing.assert_array_equal(to_numpy(x_dev), x)


def test_leaky_relu_takes_any_slope_as_pytorch(device):
    x = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    for slope in (-0.5, 0.0, 1.5):
        layer, t = nn.LeakyReLU(slope), torch.tensor(x, requires_grad=True)
        y = layer(to_device(x, device))
        torch.nn.LeakyReLU(slope)(t).backward(torch.ones(5, dtype=torch.float64))
        np.testing.assert_array_equal(to_numpy(y), torch.nn.LeakyReLU(slope)(torch.tensor(x)).numpy())
        np.testing.assert_array_equal(to_numpy(layer.backward(to_device(np.ones(5), device))), t.grad.numpy())
