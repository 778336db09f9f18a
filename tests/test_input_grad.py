"""backward(input_grad=False): the first layer's ∂J/∂x is skipped, parameter gradients unchanged."""

import numpy as np
import pytest

import nnlib
from nnlib import nn


def grads(model):
    return {name: p.grad.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)),
    lambda: nn.Sequential(nn.Flatten(), nn.Linear(10, 4), nn.Tanh(), nn.Linear(4, 3)),
    lambda: nn.Sequential(nn.Sequential(nn.Linear(5, 4), nn.Sigmoid()), nn.Linear(4, 3)),
    lambda: nn.Sequential(nn.Linear(5, 3)),
], ids=["mlp", "flatten-first", "nested", "single"])
def test_parameter_gradients_are_the_same_without_the_input_gradient(make):
    nnlib.manual_seed(0)
    model = make().double()
    shape = (6, 5) if not isinstance(model[0], nn.Flatten) else (6, 2, 5)
    x = np.random.default_rng(0).standard_normal(shape)
    g = np.random.default_rng(1).standard_normal((6, 3))
    model(x)
    full = model.backward(g)
    expected = grads(model)
    model.zero_grad()
    model(x)
    assert model.backward(g, input_grad=False) is None
    assert full.shape == x.shape
    for name, value in grads(model).items():
        np.testing.assert_array_equal(value, expected[name])


def test_linear_skips_its_input_gradient():
    layer = nn.Linear(3, 2, dtype="float64")
    layer(np.ones((4, 3)))
    assert layer.backward(np.ones((4, 2)), input_grad=False) is None
    np.testing.assert_array_equal(layer.bias.grad, [4.0, 4.0])


def test_parameter_free_sequential_returns_none_without_input_gradient():
    model = nn.Sequential(nn.ReLU(), nn.Tanh())
    model(np.ones((2, 2)))
    assert model.backward(np.ones((2, 2)), input_grad=False) is None

