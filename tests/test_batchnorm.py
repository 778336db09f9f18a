"""BatchNorm1d and BatchNorm2d: gradcheck (float64) and torch parity in train and eval mode over
generated shapes and options on every backend; running statistics, state_dict, signature and
repr exactly as PyTorch's; input and argument errors."""

import inspect
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import DeviceError, DTypeError, ShapeError
from nnlib_cases import SETTINGS, assert_close, check_gradcheck, check_parity, seeds
from norm_cases import NORM_CASES

MODES = ["BatchNorm1d(train)", "BatchNorm1d(eval)", "BatchNorm2d(train)", "BatchNorm2d(eval)"]
KINDS = ["BatchNorm1d", "BatchNorm2d"]
# A batch of each input form: BatchNorm1d takes (N, C) and (N, C, L), BatchNorm2d (N, C, H, W).
BATCHES = {"BatchNorm1d": [(4, 3), (4, 3, 5)], "BatchNorm2d": [(4, 3, 2, 5)]}
FORMS = [(kind, shape) for kind in KINDS for shape in BATCHES[kind]]


@pytest.mark.parametrize("kind", MODES)
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(NORM_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", MODES)
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    case = data.draw(NORM_CASES[kind], label="case")
    check_parity(case, float_dtype, device, data.draw(seeds, label="seed"))


def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("kind", KINDS)
def test_constructor_and_forward_signatures_are_pytorchs(kind):
    ours, theirs = getattr(nn, kind), getattr(torch.nn, kind)
    assert _parameters(ours) == _parameters(theirs)
    assert [p[0] for p in _parameters(ours.forward)] == [p[0] for p in _parameters(theirs.forward)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", [dict(), dict(eps=1e-3, momentum=None), dict(affine=False),
                                     dict(bias=False), dict(track_running_stats=False)], ids=str)
def test_repr_is_pytorchs(kind, options):
    assert repr(getattr(nn, kind)(3, **options)) == repr(getattr(torch.nn, kind)(3, **options))


def test_factory_arguments_are_positional_as_in_pytorch(torch_device):
    layer = nn.BatchNorm1d(3, 1e-5, 0.1, True, True, torch_device, "float64")
    for array in [layer.weight.data, layer.bias.data, layer.running_mean, layer.running_var]:
        assert device_of(array) == torch_device and dtype_name(array) == "float64"
    counter = layer.num_batches_tracked
    assert device_of(counter) == torch_device and dtype_name(counter) == "int64"


@pytest.mark.parametrize("kind, shape", FORMS)
@pytest.mark.parametrize("options", [dict(), dict(momentum=None), dict(momentum=0.5, affine=False),
                                     dict(bias=False), dict(track_running_stats=False)], ids=str)
def test_running_statistics_follow_pytorch_over_training_steps(kind, shape, options, device, float_dtype):
    """Unbiased variance in running_var, the momentum (or cumulative) average, the int64 counter;
    then eval mode uses them (or, without tracking, the batch statistics again)."""
    ours = getattr(nn, kind)(3, dtype=float_dtype, **options).to(device)
    theirs = getattr(torch.nn, kind)(3, dtype=getattr(torch, float_dtype), **options)
    rng = np.random.default_rng(1)
    for step in range(4):
        x = rng.normal(2.0, 3.0, size=shape).astype(float_dtype)
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
    x = rng.normal(size=(2, *shape[1:])).astype(float_dtype)
    assert_close({"eval": to_numpy(ours(to_device(x, device)))},
                 {"eval": theirs(torch.tensor(x)).detach().numpy()}, float_dtype, "eval")


@pytest.mark.parametrize("kind, shape", FORMS)
def test_tracking_switched_off_after_construction_behaves_as_in_pytorch(kind, shape):
    """PyTorch decides by the buffers, not the flag alone: with buffers but
    ``track_running_stats=False``, training leaves them alone and eval mode still uses them."""
    ours, theirs = getattr(nn, kind)(3, dtype="float64"), getattr(torch.nn, kind)(3, dtype=torch.float64)
    rng = np.random.default_rng(2)
    first = rng.normal(1.0, 2.0, size=shape)
    for layer, wrap in ((ours, np.asarray), (theirs, torch.tensor)):
        layer(wrap(first))
        layer.track_running_stats = False
    x = rng.normal(size=shape)
    assert_close({"train": ours(x)}, {"train": theirs(torch.tensor(x)).detach().numpy()}, "float64", "train")
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 1
    assert_close({"mean": ours.running_mean}, {"mean": theirs.running_mean.numpy()}, "float64", "buffers")
    ours.eval()
    theirs.eval()
    assert_close({"eval": ours(x)}, {"eval": theirs(torch.tensor(x)).detach().numpy()}, "float64", "eval")


@pytest.mark.parametrize("kind, shape", FORMS)
def test_state_dict_keys_and_round_trip_with_pytorch(kind, shape):
    theirs = getattr(torch.nn, kind)(3)
    theirs(torch.randn(*shape))  # non-trivial running statistics and counter
    ours = getattr(nn, kind)(3)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    ours.load_state_dict(theirs.state_dict())
    assert to_numpy(ours.num_batches_tracked).dtype == np.int64 and int(ours.num_batches_tracked) == 1
    back = getattr(torch.nn, kind)(3)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    for key, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    for options in [dict(affine=False), dict(bias=False), dict(track_running_stats=False),
                    dict(affine=False, track_running_stats=False)]:
        layer = getattr(nn, kind)(2, **options)
        assert list(layer.state_dict()) == list(getattr(torch.nn, kind)(2, **options).state_dict()), options
    layer = getattr(nn, kind)(2, track_running_stats=False)
    assert layer.running_mean is None and layer.running_var is None and layer.num_batches_tracked is None
    layer = getattr(nn, kind)(2, bias=False)
    assert layer.bias is None and layer.weight is not None


def test_model_to_keeps_the_counter_int64(torch_device):
    layer = nn.BatchNorm2d(2).to(torch_device, dtype="float64")
    assert dtype_name(layer.num_batches_tracked) == "int64" and dtype_name(layer.running_mean) == "float64"
    layer(to_device(np.ones((2, 2, 2, 2)), torch_device))
    assert int(layer.num_batches_tracked) == 1 and device_of(layer.num_batches_tracked) == torch_device


@pytest.mark.parametrize("kind, shape", FORMS)
def test_reset_running_stats_and_reset_parameters(kind, shape):
    layer = getattr(nn, kind)(3)
    layer.weight.data[...] = 2
    layer.bias.data[...] = 5
    layer(np.random.default_rng(0).normal(3, 1, size=shape).astype(np.float32))
    layer.reset_running_stats()
    np.testing.assert_array_equal(layer.running_mean, 0)
    np.testing.assert_array_equal(layer.running_var, 1)
    assert int(layer.num_batches_tracked) == 0
    np.testing.assert_array_equal(layer.weight.data, 2)  # the parameters are not running statistics
    layer(np.ones(shape, dtype=np.float32))
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.weight.data, 1)
    np.testing.assert_array_equal(layer.bias.data, 0)
    np.testing.assert_array_equal(layer.running_mean, 0)
    assert int(layer.num_batches_tracked) == 0


def test_errors_name_expected_and_got():
    layer = nn.BatchNorm2d(3)
    with pytest.raises(ShapeError, match=r"must have shape \(N, 3, H, W\), got \(2, 3\)"):
        layer(np.zeros((2, 3), dtype=np.float32))
    # An unbatched (C, H, W) image is refused, as by PyTorch (ShapeError is a ValueError, its type).
    with pytest.raises(ValueError, match=r"must have shape \(N, 3, H, W\), got \(3, 4, 4\)"):
        layer(np.zeros((3, 4, 4), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"\(3 channels\), got \(2, 4, 1, 1\) with 4 channel"):
        layer(np.zeros((2, 4, 1, 1), dtype=np.float32))
    with pytest.raises(ShapeError, match="more than 1 value per channel when training"):
        layer(np.zeros((1, 3, 1, 1), dtype=np.float32))
    layer.eval()(np.zeros((1, 3, 1, 1), dtype=np.float32))  # fine in eval mode, as in PyTorch
    with pytest.raises(ShapeError, match="more than 1 value per channel"):  # no running statistics to use
        nn.BatchNorm2d(3, track_running_stats=False).eval()(np.zeros((1, 3, 1, 1), dtype=np.float32))


@pytest.mark.parametrize("shape, message", [
    ((3,), r"must have shape \(N, 3\) or \(N, 3, L\), got \(3,\)"),
    ((2, 3, 4, 5), r"must have shape \(N, 3\) or \(N, 3, L\), got \(2, 3, 4, 5\)"),
    ((2, 4), r"\(3 features\), got \(2, 4\) with 4 feature"),
    ((2, 4, 6), r"\(3 features\), got \(2, 4, 6\) with 4 feature"),
    ((1, 3), "more than 1 value per channel when training"),
    ((1, 3, 1), "more than 1 value per channel when training"),
])
def test_batchnorm1d_input_errors(shape, message):
    with pytest.raises(ShapeError, match=message):
        nn.BatchNorm1d(3)(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_features=0), ValueError, "num_features"),
    (dict(num_features=2, eps=0), ValueError, "eps must be positive, got 0"),    # PyTorch's words
    (dict(num_features=2, eps=-1.0), ValueError, "eps must be positive, got -1.0"),
    (dict(num_features=2, momentum=1.5), ValueError, "momentum"),
    (dict(num_features=2, momentum="0.1"), ValueError, "momentum"),
    (dict(num_features=2, affine="False"), TypeError, "affine must be True or False, got 'False'"),
    (dict(num_features=2, track_running_stats=0), TypeError, "track_running_stats must be True or False"),
    (dict(num_features=2, bias=None), TypeError, "bias must be True or False, got None"),
], ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_argument_errors(kind, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        getattr(nn, kind)(**kwargs)


def test_device_and_dtype_checks_without_affine_parameters(torch_device):
    """Without γ and β the running statistics, buffers, are what the input must agree with."""
    layer = nn.BatchNorm2d(2, affine=False).to(torch_device)
    with pytest.raises(DeviceError, match=re.escape(
            f"BatchNorm2d: input has device 'numpy', expected '{torch_device}' (the device of the module's "
            f"buffer 'running_mean'); move one of them: nnlib.to_device(input, '{torch_device}') "
            f"or model.to('numpy')")):
        layer(np.zeros((2, 2, 2, 2), dtype=np.float32))
    with pytest.raises(DTypeError, match=re.escape(
            "BatchNorm2d: input has dtype float64, expected float32 (the dtype of the module's buffer "
            "'running_mean'); convert the input, or the model with model.to(dtype='float64')")):
        layer(to_device(np.zeros((2, 2, 2, 2)), torch_device))
    with pytest.raises(DTypeError, match="BatchNorm1d: input has dtype float64, expected float32"):
        nn.BatchNorm1d(2, affine=False)(np.zeros((4, 2)))


def test_a_running_statistic_of_another_dtype_than_the_parameters_is_caught():
    """γ and β agree with the input; the running mean does not: every buffer is checked, not just
    the first parameter."""
    layer = nn.BatchNorm2d(2)
    layer.running_mean = layer.running_mean.astype(np.float64)
    with pytest.raises(DTypeError, match=r"input has dtype float32, expected float64 \(the dtype of the "
                                         r"module's buffer 'running_mean'\)"):
        layer(np.zeros((2, 2, 2, 2), dtype=np.float32))
