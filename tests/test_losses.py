"""MSELoss and CrossEntropyLoss: gradcheck and torch parity over generated shapes, both
reductions, the log-sum-exp's stability, and what ``criterion.backward()`` returns."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib_cases import LOSS_CASES, SETTINGS, assert_close, check_gradcheck, check_parity, seeds


@pytest.mark.parametrize("kind", list(LOSS_CASES))
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(LOSS_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", list(LOSS_CASES))
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    check_parity(data.draw(LOSS_CASES[kind], label="case"), float_dtype, device, data.draw(seeds, label="seed"))


def _loss_and_grad(criterion, pred, target, device):
    loss = criterion(to_device(pred, device), to_device(target, device))
    grad = criterion.backward()
    assert tuple(loss.shape) == () and device_of(loss) == device == device_of(grad)
    assert dtype_name(loss) == dtype_name(grad) == pred.dtype.name
    return to_numpy(loss), to_numpy(grad)


def _torch_loss_and_grad(criterion, pred, target):
    t = torch.tensor(pred, requires_grad=True)
    loss = criterion(t, torch.as_tensor(target))
    loss.backward()
    return loss.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_stays_finite_for_huge_logits(reduction, device, float_dtype):
    logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0], [5e4, 5e4, 5e4]], dtype=float_dtype)
    target = np.array([2, 1, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = _loss_and_grad(nn.CrossEntropyLoss(reduction=reduction), logits, target, device)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    ref_loss, ref_grad = _torch_loss_and_grad(torch.nn.CrossEntropyLoss(reduction=reduction), logits, target)
    assert_close({"loss": loss, "grad": grad}, {"loss": ref_loss, "grad": ref_grad}, float_dtype, "huge logits")
    assert loss >= 2000 / (3 if reduction == "mean" else 1)  # the first row alone costs 2000


def test_cross_entropy_is_minus_log_softmax_of_the_target_and_its_gradient_softmax_minus_onehot(device):
    z = np.random.default_rng(0).standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    loss, grad = _loss_and_grad(nn.CrossEntropyLoss(), z, t, device)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(5), t]).mean(), rtol=1e-12)
    np.testing.assert_allclose(grad, (p - np.eye(4)[t]) / 5, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize("make, target", [
    (nn.MSELoss, np.random.default_rng(2).standard_normal((3, 4))),
    (nn.CrossEntropyLoss, np.array([0, 1, 3])),
], ids=["MSELoss", "CrossEntropyLoss"])
def test_sum_reduction_is_mean_times_the_count(make, target, device):
    pred = np.random.default_rng(1).standard_normal((3, 4))
    count = pred.size if make is nn.MSELoss else pred.shape[0]
    mean_loss, mean_grad = _loss_and_grad(make(), pred, target, device)
    sum_loss, sum_grad = _loss_and_grad(make(reduction="sum"), pred, target, device)
    np.testing.assert_allclose(sum_loss, mean_loss * count, rtol=1e-12)
    np.testing.assert_allclose(sum_grad, mean_grad * count, rtol=1e-12)


def test_mse_gradient_is_2_over_n_times_the_difference(device):
    pred, target = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    loss, grad = _loss_and_grad(nn.MSELoss(), pred, target, device)
    np.testing.assert_allclose(loss, ((pred - 1) ** 2).mean())
    np.testing.assert_allclose(grad, 2 * (pred - 1) / 6)


@pytest.mark.parametrize("upstream", [3.0, 3, np.array(3.0)], ids=["float", "int", "0-d array"])
@pytest.mark.parametrize("make, target", [
    (nn.MSELoss, np.zeros((2, 3))), (nn.CrossEntropyLoss, np.array([2, 0])),
], ids=["MSELoss", "CrossEntropyLoss"])
def test_backward_multiplies_by_the_upstream_gradient(make, target, upstream):
    pred = np.random.default_rng(3).standard_normal((2, 3))
    criterion = make()
    criterion(pred, target)
    unit = criterion.backward()
    criterion(pred, target)
    np.testing.assert_allclose(criterion.backward(upstream), 3 * unit, rtol=1e-15)


@pytest.mark.parametrize("label_dtype", ["int64", "int32", "int16", "uint8"])
def test_cross_entropy_accepts_any_integer_label_dtype(label_dtype):
    z = np.random.default_rng(4).standard_normal((3, 5))
    reference = nn.CrossEntropyLoss()(z, np.array([4, 0, 2]))
    assert nn.CrossEntropyLoss()(z, np.array([4, 0, 2], dtype=label_dtype)) == reference


def test_loss_value_converts_to_a_python_float(device):
    loss = nn.MSELoss()(to_device(np.ones((2, 2)), device), to_device(np.zeros((2, 2)), device))
    assert loss.item() == 1.0 and float(loss) == 1.0
