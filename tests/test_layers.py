"""Every layer: gradcheck in float64 over generated shapes, parity with torch.autograd on the
same weights and inputs (float64 and float32, every backend), and the behaviour each layer
promises beyond its formula (Dropout's mask, shapes, numerical stability)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import nnlib
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
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
    check_parity(data.draw(LAYER_CASES[kind], label="case"), float_dtype, device, data.draw(seeds, label="seed"))


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


# --- numerical stability ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [nn.Sigmoid, nn.Tanh, lambda: nn.Softmax(-1), nn.GELU, lambda: nn.GELU("tanh")],
                         ids=["Sigmoid", "Tanh", "Softmax", "GELU(none)", "GELU(tanh)"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_stay_finite_and_warning_free_for_extreme_inputs(make, dtype):
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=dtype)
    layer = make()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # would raise FloatingPointError
        y = layer(x)
        g = layer.backward(np.ones_like(y))
    assert np.isfinite(y).all() and np.isfinite(g).all()
    ref = {nn.Sigmoid: torch.sigmoid, nn.Tanh: torch.tanh}.get(type(layer))
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


@pytest.mark.parametrize("setup", [lambda: nn.Dropout(0.5).eval(), lambda: nn.Dropout(0.0)], ids=["eval", "p=0"])
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
