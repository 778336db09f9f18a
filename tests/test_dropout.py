"""Dropout beside PyTorch's: signature and repr, p = 1, the refused ``inplace=True``, 0-d inputs,
and agreement with torch's dropout wherever both keep an element. (Mask statistics, seeding and
eval mode: tests/test_layers.py.)"""

import inspect

import numpy as np
import pytest
import torch

import nnlib
from nnlib import nn
from nnlib.backend import to_device, to_numpy
from nnlib.errors import UnsupportedError
from nnlib_cases import TOLERANCE


def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_signatures_and_repr_are_pytorchs():
    assert _parameters(nn.Dropout) == _parameters(torch.nn.Dropout)
    ours, theirs = _parameters(nn.Dropout.forward), _parameters(torch.nn.Dropout.forward)
    assert [p[0] for p in ours] == [p[0] for p in theirs]
    for p in (0.5, 0.0, 1.0, 0.25):
        assert repr(nn.Dropout(p)) == repr(torch.nn.Dropout(p))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_kept_elements_and_gradients_agree_with_torch(p, device, float_dtype):
    """Masks come from different generators; where both keep an element, output and gradient
    are the same, x/(1 − p) and δ/(1 − p), and dropped elements are 0 in both."""
    nnlib.manual_seed(0)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 50)).astype(float_dtype)
    grad = rng.standard_normal(x.shape).astype(float_dtype)
    layer = nn.Dropout(p)
    y = to_numpy(layer(to_device(x, device)))
    g = to_numpy(layer.backward(to_device(grad, device)))
    x_t = torch.tensor(x, requires_grad=True)
    y_t = torch.nn.Dropout(p)(x_t)
    y_t.backward(torch.tensor(grad))
    y_t, g_t = y_t.detach().numpy(), x_t.grad.numpy()
    both = (y != 0) & (y_t != 0)
    assert both.mean() > 0.2
    np.testing.assert_allclose(y[both], y_t[both], rtol=TOLERANCE[float_dtype])
    np.testing.assert_allclose(g[both], g_t[both], rtol=TOLERANCE[float_dtype])
    np.testing.assert_array_equal(g[y == 0], 0)


def test_p_1_zeros_everything_as_in_pytorch(device):
    x = to_device(np.random.default_rng(0).standard_normal((3, 4)), device)
    layer = nn.Dropout(1.0)
    y = layer(x)
    np.testing.assert_array_equal(to_numpy(y), torch.nn.Dropout(1.0)(torch.as_tensor(to_numpy(x))).numpy())
    np.testing.assert_array_equal(to_numpy(y), 0)
    np.testing.assert_array_equal(to_numpy(layer.backward(x)), 0)
    assert nn.Dropout(1).p == 1.0  # an int, as PyTorch accepts


def test_eval_mode_returns_the_input_itself_as_pytorch():
    x = np.ones((2, 3), dtype=np.float32)
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x


def test_inplace_true_is_refused_by_name_and_flags_must_be_bools():
    with pytest.raises(UnsupportedError, match="Dropout: inplace=True is not implemented in nnlib; "
                                               "it supports inplace=False"):
        nn.Dropout(0.5, inplace=True)
    with pytest.raises(TypeError, match="Dropout: inplace must be True or False, got 'False'"):
        nn.Dropout(0.5, inplace="False")
    assert nn.Dropout(0.5, False).inplace is False


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_a_0d_input_gives_0d_arrays_forward_and_backward(train, device):
    nnlib.manual_seed(1)
    x = to_device(np.array(2.0), device)
    layer = nn.Dropout(0.5).train(train)
    y = layer(x)
    g = layer.backward(to_device(np.array(1.0), device))
    for a in (y, g):
        assert nnlib.backend.is_array(a) and tuple(a.shape) == ()
    assert float(to_numpy(y)) in ({0.0, 4.0} if train else {2.0})
    assert float(to_numpy(g)) == float(to_numpy(y)) / 2.0
