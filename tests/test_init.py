"""Initialisation: PyTorch's defaults for Linear, Xavier/Kaiming with the right spread, gains
and fans as torch.nn.init computes them, and repeatability under nnlib.manual_seed."""

import math

import numpy as np
import pytest
import torch

import nnlib
from nnlib import nn
from nnlib.backend import to_numpy
from nnlib.nn import init

# Empirical std over ≥ 10⁵ samples: its relative standard error is below 0.3 %, so 2 % is a
# tolerance that a correct fill passes every time and a wrong gain or fan (≥ 10 % off) fails.
STD_RTOL = 0.02


def _param(shape, dtype="float64"):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("fan_in, fan_out", [(1, 1), (3, 700), (784, 256), (1000, 300)])
def test_linear_default_init_is_uniform_within_1_over_sqrt_fan_in(fan_in, fan_out):
    nnlib.manual_seed(0)
    layer = nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    w = layer.weight.data
    if w.size >= 10**5:  # U(−b, b): std b/√3, and the extremes come close to ±b
        assert abs(w.std() / (bound / math.sqrt(3)) - 1) < STD_RTOL
        assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
        twin = torch.nn.Linear(fan_in, fan_out).weight.detach()
        assert abs(w.std() / twin.std().item() - 1) < 2 * STD_RTOL


def _torch_filled(fill, shape, **kwargs):
    t = torch.empty(shape, dtype=torch.float64)
    getattr(torch.nn.init, fill)(t, **kwargs)
    return t.numpy()


# (function, keyword arguments, std as the papers give it for a (400, 300) weight: fan_in 300, fan_out 400)
SPREADS = [
    ("xavier_uniform_", {}, math.sqrt(2 / 700)),
    ("xavier_uniform_", {"gain": 5 / 3}, 5 / 3 * math.sqrt(2 / 700)),
    ("xavier_normal_", {}, math.sqrt(2 / 700)),
    ("xavier_normal_", {"gain": math.sqrt(2)}, math.sqrt(2) * math.sqrt(2 / 700)),
    ("kaiming_uniform_", {}, math.sqrt(2 / 300)),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2 / 300)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, math.sqrt(1 / 3) / math.sqrt(300)),
    ("kaiming_normal_", {}, math.sqrt(2 / 300)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 400)),
    ("kaiming_normal_", {"nonlinearity": "tanh"}, 5 / 3 / math.sqrt(300)),
    ("kaiming_normal_", {"a": 0.2, "nonlinearity": "leaky_relu"}, math.sqrt(2 / 1.04) / math.sqrt(300)),
]


@pytest.mark.parametrize("fill, kwargs, std", SPREADS, ids=[f"{f}{k}" for f, k, _ in SPREADS])
def test_xavier_and_kaiming_have_the_documented_spread(fill, kwargs, std):
    nnlib.manual_seed(0)
    param = _param((400, 300))
    assert getattr(init, fill)(param, **kwargs) is param
    w = param.data
    assert abs(w.mean()) < 0.01 * std and abs(w.std() / std - 1) < STD_RTOL
    # torch.nn.init draws from the same distribution (checks the expected std above, too)
    assert abs(_torch_filled(fill, (400, 300), **kwargs).std() / std - 1) < STD_RTOL
    if fill.endswith("uniform_"):  # U(−b, b) with b = √3 std
        assert np.abs(w).max() <= math.sqrt(3) * std
        assert np.abs(w).max() > 0.99 * math.sqrt(3) * std
    else:
        assert 3.5 * std < np.abs(w).max() < 6 * std  # a normal sample of 1.2·10⁵ reaches ~4.5σ


@pytest.mark.parametrize("shape", [(4, 3), (8, 3, 5), (16, 4, 3, 3), (2, 5, 1, 2, 3)])
def test_fan_in_and_fan_out_match_pytorch(shape):
    assert init.fan_in_and_fan_out(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
    ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 1),
])
def test_gains_match_pytorch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def test_identity_gain_is_one_and_unknown_nonlinearities_are_refused():
    assert init.calculate_gain("identity") == 1.0  # nnlib's alias of "linear"
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("fill, args", [
    ("uniform_", (-2.0, 3.0)), ("normal_", (1.0, 0.5)), ("constant_", (0.25,)), ("zeros_", ()), ("ones_", ()),
    ("xavier_uniform_", ()), ("xavier_normal_", ()), ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
])
def test_fills_keep_shape_dtype_and_device(fill, args, device, float_dtype):
    param = nn.Parameter(nnlib.to_device(np.zeros((6, 5), dtype=float_dtype), device))
    getattr(init, fill)(param, *args)
    assert (param.shape, param.dtype, param.device) == ((6, 5), float_dtype, device)
    values = to_numpy(param.data)
    if fill == "uniform_":
        assert values.min() >= -2.0 and values.max() <= 3.0
    if fill in ("constant_", "zeros_", "ones_"):
        assert (values == {"constant_": 0.25, "zeros_": 0.0, "ones_": 1.0}[fill]).all()


def test_manual_seed_makes_initialisation_repeatable():
    def weights(seed):
        nnlib.manual_seed(seed)
        return nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 2)).state_dict()
    first, again, other = weights(3), weights(3), weights(4)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
        assert not np.array_equal(first[key], other[key])


def test_manual_seed_gives_the_same_weights_on_every_device(device, float_dtype):
    nnlib.manual_seed(11)
    reference = nn.Linear(6, 3, dtype=float_dtype)
    nnlib.manual_seed(11)
    layer = nn.Linear(6, 3, device=device, dtype=float_dtype)
    assert layer.device == device
    for key, value in reference.state_dict().items():
        np.testing.assert_array_equal(to_numpy(layer.state_dict()[key]), value)


def test_manual_seed_also_seeds_torch_once_imported():
    nnlib.manual_seed(5)
    a = torch.rand(3)
    nnlib.manual_seed(5)
    assert torch.equal(a, torch.rand(3))
