"""DivergenceGuard stops at the first NaN/Inf — at the right step, naming the layer, the loss
or the gradient — and stays silent on healthy runs. Every case is built deterministically."""

import numpy as np
import pytest

import nnlib
from nnlib import nn
from nnlib.backend import to_device
from nnlib.diagnostics import DivergenceGuard, count_nonfinite
from nnlib.errors import DivergenceError

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")


def _mlp(device, dtype="float64"):
    nnlib.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3, dtype=dtype), nn.Tanh(), nn.Linear(3, 1, dtype=dtype)).to(device)


def _sgd_step(model, lr):
    for p in model.parameters():
        p.data = p.data - lr * p.grad
    model.zero_grad()


def _train(model, guard, x, y, steps, lr=0.1):
    """Plain full-batch SGD on MSE."""
    criterion = nn.MSELoss()
    for step in range(steps):
        loss = criterion(model(x), y)
        model.backward(criterion.backward())
        guard.check(step, loss)
        _sgd_step(model, lr)


def _data(device, dtype="float64"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 2)).astype(dtype)
    return to_device(x, device), to_device(x[:, :1] - x[:, 1:], device)


def test_healthy_training_passes_every_check(device):
    model = _mlp(device)
    x, y = _data(device)
    guard = DivergenceGuard(model)
    _train(model, guard, x, y, steps=20)
    assert guard.check(20) is None


def test_inf_in_the_input_is_caught_at_that_step_in_the_first_layer(device):
    model = _mlp(device)
    x, y = _data(device)
    x_bad = to_device(np.where(np.arange(16).reshape(8, 2) == 5, np.inf, nnlib.to_numpy(x)), device)
    inputs = {step: x for step in range(6)} | {3: x_bad}
    guard, criterion = DivergenceGuard(model), nn.MSELoss()
    with pytest.raises(DivergenceError) as info:
        for step in range(6):
            loss = criterion(model(inputs[step]), y)
            model.backward(criterion.backward())
            guard.check(step, loss)
            _sgd_step(model, 0.1)
    error = info.value
    assert (error.step, error.where, error.kind) == (3, "0", "activation")
    assert "step 3" in str(error) and "layer '0' (Linear)" in str(error)
    assert "0 NaN and 3 Inf of 24 entries" in str(error)  # one input row × 3 outputs


def test_weights_that_overflow_float32_are_caught_in_the_layer_that_overflows(device):
    """Layer 2's weights grow ×10 a step; its output 3·w overflows float32 once 3·w > 3.4e38.
    (No loss here: a squared error would overflow long before the output does.)"""
    model = _mlp(device, "float32")
    model[0].weight.data = to_device(np.full((3, 2), 100.0, np.float32), device)  # tanh saturates: h = 1
    model[2].bias.data = to_device(np.zeros(1, np.float32), device)
    start = 3e33
    expected_step = next(k for k in range(10) if 3 * start * 10.0**k > np.finfo(np.float32).max)
    guard, x = DivergenceGuard(model), to_device(np.ones((4, 2), np.float32), device)
    with pytest.raises(DivergenceError) as info:
        for step in range(10):
            model[2].weight.data = to_device(np.full((1, 3), start * 10.0**step, np.float32), device)
            model(x)
            guard.check(step)
    assert (info.value.step, info.value.where, info.value.kind) == (expected_step, "2", "activation")
    assert "layer '2' (Linear) has 0 NaN and 4 Inf of 4 entries" in str(info.value)


def test_nested_containers_name_the_innermost_layer():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Identity(), nn.Linear(2, 2), nn.Tanh()),
                          nn.ReLU())
    guard = DivergenceGuard(model)
    model[1][1].weight.data[0, 0] = np.inf
    model(np.ones((1, 2), np.float32))
    with pytest.raises(DivergenceError, match=r"layer '1\.1' \(Linear\)") as info:
        guard.check(0)
    assert info.value.where == "1.1"


def test_a_non_finite_loss_with_finite_activations_is_reported_as_the_loss(device):
    model = nn.Identity()
    guard = DivergenceGuard(model)
    pred = model(to_device(np.full((2, 2), 1e200), device))  # finite, but its square is not
    loss = nn.MSELoss()(pred, to_device(np.zeros((2, 2)), device))
    with pytest.raises(DivergenceError, match="step 7: the loss is inf") as info:
        guard.check(7, loss)
    assert (info.value.where, info.value.kind) == ("loss", "loss")


def test_a_non_finite_gradient_is_reported_with_the_parameter_name(device):
    """∂J/∂W = δᵀ h overflows for h = 1e300, δ = 1e10, while output and ∂J/∂b stay finite."""
    model = _mlp(device)
    x = to_device(np.full((4, 2), 1e300), device)
    y = model[0](x)
    model[0].backward(to_device(np.full(tuple(y.shape), 1e10), device))
    guard = DivergenceGuard(model)
    model[0](x)  # record a finite output for the check
    with pytest.raises(DivergenceError) as info:
        guard.check(2)
    assert (info.value.step, info.value.where, info.value.kind) == (2, "0.weight", "gradient")
    assert "gradient of '0.weight' has 0 NaN and 6 Inf of 6 entries" in str(info.value)


def test_a_non_finite_parameter_is_reported(device):
    model = _mlp(device)
    guard = DivergenceGuard(model)
    model(_data(device)[0])
    model[2].bias.data = to_device(np.array([np.nan]), device)
    with pytest.raises(DivergenceError, match="parameter '2.bias' has 1 NaN") as info:
        guard.check(0)
    assert info.value.kind == "parameter"


def test_every_k_checks_only_every_kth_step():
    model = nn.Sequential(nn.Identity())
    guard = DivergenceGuard(model, every=3)
    model(np.array([np.inf]))
    for step in (1, 2, 4, 5):
        guard.check(step)  # skipped: no error although the output is Inf
    with pytest.raises(DivergenceError, match="step 6"):
        guard.check(6)


def test_closing_the_guard_stops_recording_outputs_and_removes_its_hooks():
    model = nn.Sequential(nn.Identity(), nn.Identity())
    with DivergenceGuard(model) as guard:
        model(np.array([np.inf]))
        with pytest.raises(DivergenceError):
            guard.check(0)
    guard.check(0)  # the recorded Inf outputs are forgotten
    model(np.array([np.inf]))
    guard.check(0)  # and no hook records new ones


def test_two_guards_on_one_model_record_independently():
    model = nn.Sequential(nn.Identity())
    first, second = DivergenceGuard(model), DivergenceGuard(model)
    model(np.array([np.inf]))
    first.close()
    with pytest.raises(DivergenceError, match="layer '0'"):
        second.check(0)


def test_count_nonfinite(device):
    a = to_device(np.array([[0.0, np.nan], [np.inf, -np.inf]]), device)
    assert count_nonfinite(a) == 3
    assert count_nonfinite(to_device(np.zeros(3), device)) == 0
