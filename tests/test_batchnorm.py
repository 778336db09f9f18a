"""BatchNorm2d: gradcheck (float64) and torch parity in train and eval mode over generated
shapes and options on every backend; running statistics and state_dict exactly as PyTorch's."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import DeviceError, DTypeError, ShapeError
from cnn_cases import CNN_CASES
from nnlib_cases import SETTINGS, assert_close, check_gradcheck, check_parity, seeds

MODES = ["BatchNorm2d(train)", "BatchNorm2d(eval)"]


@pytest.mark.parametrize("kind", MODES)
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(CNN_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", MODES)
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    check_parity(data.draw(CNN_CASES[kind], label="case"), float_dtype, device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("options", [dict(), dict(momentum=None), dict(momentum=0.5, affine=False),
                                     dict(track_running_stats=False)], ids=str)
def test_running_statistics_follow_pytorch_over_training_steps(options, device, float_dtype):
    """Unbiased variance in running_var, the momentum (or cumulative) average, the int64 counter;
    then eval mode uses them (or, without tracking, the batch statistics again)."""
    ours = nn.BatchNorm2d(3, dtype=float_dtype, **options).to(device)
    theirs = torch.nn.BatchNorm2d(3, dtype=getattr(torch, float_dtype), **options)
    rng = np.random.default_rng(1)
    for step in range(4):
        x = rng.normal(2.0, 3.0, size=(4, 3, 2, 5)).astype(float_dtype)
        y = ours(to_device(x, device))
        ref = theirs(torch.tensor(x))
        assert_close({"y": to_numpy(y)}, {"y": ref.detach().numpy()}, float_dtype, f"step {step}")
    state, ref_state = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(ref_state)
    for key, value in ref_state.items():
        assert dtype_name(state[key]) == str(value.dtype).removeprefix("torch.")
        assert device_of(state[key]) == device
        if key == "num_batches_tracked":
            assert int(state[key]) == int(value) == 4
        else:
            assert_close({key: to_numpy(state[key])}, {key: value.numpy()}, float_dtype, key)
    ours.eval()
    theirs.eval()
    x = rng.normal(size=(2, 3, 3, 3)).astype(float_dtype)
    assert_close({"eval": to_numpy(ours(to_device(x, device)))}, {"eval": theirs(torch.tensor(x)).detach().numpy()},
                 float_dtype, "eval")


def test_state_dict_keys_and_round_trip_with_pytorch():
    theirs = torch.nn.BatchNorm2d(4)
    theirs(torch.randn(5, 4, 3, 3))  # non-trivial running statistics and counter
    ours = nn.BatchNorm2d(4)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    ours.load_state_dict(theirs.state_dict())
    assert to_numpy(ours.num_batches_tracked).dtype == np.int64 and int(ours.num_batches_tracked) == 1
    back = torch.nn.BatchNorm2d(4)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    for key, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    assert list(nn.BatchNorm2d(2, affine=False).state_dict()) == list(torch.nn.BatchNorm2d(2, affine=False).state_dict())
    assert list(nn.BatchNorm2d(2, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert nn.BatchNorm2d(2, track_running_stats=False).running_mean is None


def test_model_to_keeps_the_counter_int64(torch_device):
    layer = nn.BatchNorm2d(2).to(torch_device, dtype="float64")
    assert dtype_name(layer.num_batches_tracked) == "int64" and dtype_name(layer.running_mean) == "float64"
    layer(to_device(np.ones((2, 2, 2, 2)), torch_device))
    assert int(layer.num_batches_tracked) == 1 and device_of(layer.num_batches_tracked) == torch_device


def test_reset_running_stats():
    layer = nn.BatchNorm2d(2)
    layer(np.random.default_rng(0).normal(3, 1, size=(4, 2, 2, 2)).astype(np.float32))
    layer.reset_running_stats()
    np.testing.assert_array_equal(layer.running_mean, 0)
    np.testing.assert_array_equal(layer.running_var, 1)
    assert int(layer.num_batches_tracked) == 0


def test_errors_name_expected_and_got():
    layer = nn.BatchNorm2d(3)
    with pytest.raises(ShapeError, match=r"must have shape \(N, 3, H, W\), got \(2, 3\)"):
        layer(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"\(3 channels\), got \(2, 4, 1, 1\) with 4 channel"):
        layer(np.zeros((2, 4, 1, 1), dtype=np.float32))
    with pytest.raises(ShapeError, match="more than 1 value per channel when training"):
        layer(np.zeros((1, 3, 1, 1), dtype=np.float32))
    layer.eval()(np.zeros((1, 3, 1, 1), dtype=np.float32))  # fine in eval mode, as in PyTorch
    for kwargs, message in [(dict(num_features=0), "num_features"), (dict(num_features=2, eps=0), "eps"),
                            (dict(num_features=2, momentum=1.5), "momentum"),
                            (dict(num_features=2, momentum="0.1"), "momentum")]:
        with pytest.raises(ValueError, match=message):
            nn.BatchNorm2d(**kwargs)


def test_device_and_dtype_checks_without_affine_parameters(torch_device):
    """Without γ and β the running statistics, buffers, are what the input must agree with."""
    layer = nn.BatchNorm2d(2, affine=False).to(torch_device)
    with pytest.raises(DeviceError, match=re.escape(
            f"BatchNorm2d: input has device 'numpy', expected '{torch_device}' (the device of the module's "
            f"buffer 'running_mean'); move one of them: nnlib.to_device(input, '{torch_device}') or model.to('numpy')")):
        layer(np.zeros((2, 2, 2, 2), dtype=np.float32))
    with pytest.raises(DTypeError, match=re.escape(
            "BatchNorm2d: input has dtype float64, expected float32 (the dtype of the module's buffer "
            "'running_mean'); convert the input, or the model with model.to(dtype='float64')")):
        layer(to_device(np.zeros((2, 2, 2, 2)), torch_device))


def test_a_running_statistic_of_another_dtype_than_the_parameters_is_caught():
    """γ and β agree with the input; the running mean does not: every buffer is checked, not just
    the first parameter."""
    layer = nn.BatchNorm2d(2)
    layer.running_mean = layer.running_mean.astype(np.float64)
    with pytest.raises(DTypeError, match=r"input has dtype float32, expected float64 \(the dtype of the module's "
                                         r"buffer 'running_mean'\)"):
        layer(np.zeros((2, 2, 2, 2), dtype=np.float32))
