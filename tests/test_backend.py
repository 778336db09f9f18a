"""Arrays on two backends: device names, moving arrays between NumPy and torch, dtypes, and the
one array namespace the layers are written against."""

import numpy as np
import pytest
import torch

import nnlib
from nnlib import backend
from nnlib.errors import DeviceError, DTypeError


def test_available_devices_lists_numpy_and_torch_cpu_first():
    devices = nnlib.available_devices()
    assert devices[:2] == ["numpy", "cpu"]
    assert ("cuda:0" in devices) == torch.cuda.is_available()


def test_best_device_prefers_a_gpu_then_torch_cpu():
    devices = nnlib.available_devices()
    gpus = [d for d in devices if d.startswith(("cuda", "mps"))]
    assert nnlib.best_device() == (gpus[0] if gpus else "cpu")


@pytest.mark.parametrize("spec, expected", [
    ("numpy", "numpy"), (None, "numpy"), ("cpu", "cpu"), (torch.device("cpu"), "cpu"), ("cpu:0", "cpu"),
])
def test_normalize_device(spec, expected):
    assert backend.normalize_device(spec) == expected


def test_cuda_without_index_means_the_current_device():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    assert backend.normalize_device("cuda") == f"cuda:{torch.cuda.current_device()}"


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_to_device_round_trip_keeps_values_dtype_and_shape(dtype, torch_device):
    x = (np.arange(-6, 6).reshape(3, 2, 2) % 5).astype(dtype)
    t = nnlib.to_device(x, torch_device)
    assert backend.is_torch_array(t) and nnlib.device_of(t) == torch_device
    assert backend.dtype_name(t) == dtype and tuple(t.shape) == x.shape
    back = nnlib.to_numpy(t)
    assert isinstance(back, np.ndarray) and back.dtype == x.dtype
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("x", [np.array(2.5), np.float64(2.5), np.arange(6.0)[::-2],
                               np.asfortranarray(np.ones((2, 3)))],
                         ids=["0-d", "numpy scalar", "negative stride", "fortran order"])
def test_to_device_handles_odd_numpy_layouts(x, torch_device):
    t = nnlib.to_device(x, torch_device)
    assert tuple(t.shape) == np.shape(x)
    np.testing.assert_array_equal(nnlib.to_numpy(t), x)


@pytest.mark.parametrize("dtype", ["float32", np.float32, torch.float32])
def test_to_device_converts_float_dtype(dtype, device):
    x = nnlib.to_device(np.linspace(0, 1, 5), device, dtype=dtype)
    assert backend.dtype_name(x) == "float32" and nnlib.device_of(x) == device


def test_to_device_returns_the_same_array_when_nothing_changes(device):
    x = nnlib.to_device(np.ones(3), device)
    assert nnlib.to_device(x, device) is x


def test_device_of_and_dtype_name(device):
    x = nnlib.to_device(np.zeros(2, dtype=np.float32), device)
    assert nnlib.device_of(x) == device
    assert backend.dtype_name(x) == "float32"
    assert backend.is_array(x) and not backend.is_array([0.0, 0.0])


def test_device_dtype_and_namespace_answers_stay_right_when_asked_again():
    # The answers are looked up by torch.device, dtype object and array type after the first
    # call: every kind must keep its own answer, in any order.
    arrays = [np.zeros(2, np.float32), np.zeros(2, ">f8"), np.int64(3), torch.zeros(2, dtype=torch.float64),
              torch.zeros(2, dtype=torch.int64), np.zeros(2), torch.zeros(2)]
    expected = ["float32", "float64", "int64", "float64", "int64", "float64", "float32"]
    for _ in range(2):
        assert [backend.dtype_name(a) for a in arrays] == expected
        assert [nnlib.device_of(a) for a in arrays] == ["numpy"] * 3 + ["cpu"] * 2 + ["numpy", "cpu"]
        assert backend.namespace(arrays[0]) is not backend.namespace(arrays[3])
        assert backend.namespace(arrays[0]) is backend.namespace(arrays[5])
        assert backend.namespace(arrays[3]) is backend.namespace(arrays[6])
    with pytest.raises(DeviceError, match="different devices"):  # after single-array calls, too
        backend.namespace(np.ones(2), torch.ones(2))
    for _ in range(2):  # a non-array is refused on every call, not remembered
        with pytest.raises(DTypeError, match="got list"):
            backend.namespace([1.0])


@pytest.mark.parametrize("spec, expected", [
    (None, "float32"), ("float64", "float64"), ("double", "float64"), (np.float64, "float64"),
    (np.dtype("float32"), "float32"), (torch.float64, "float64"), (torch.float32, "float32"),
])
def test_resolve_dtype(spec, expected):
    assert backend.resolve_dtype(spec) == expected


def test_namespace_is_numpy_like_for_both_backends(device):
    x = nnlib.to_device(np.array([[1.0, -2.0], [3.0, 4.0]]), device)
    xp = backend.namespace(x)
    y = xp.where(x > 0, xp.exp(x), 0.0)
    assert nnlib.device_of(y) == device
    x_np = nnlib.to_numpy(x)
    np.testing.assert_allclose(nnlib.to_numpy(y), np.where(x_np > 0, np.exp(x_np), 0.0))
    assert backend.namespace(x, None) is xp  # None entries (e.g. an absent bias) are ignored


def test_namespace_refuses_arrays_on_different_devices():
    with pytest.raises(DeviceError, match=r"different devices: \['cpu', 'numpy'\]"):
        backend.namespace(np.ones(2), torch.ones(2))


def test_zeros(device):
    z = backend.zeros((2, 3), "float64", device)
    assert nnlib.device_of(z) == device and backend.dtype_name(z) == "float64"
    assert tuple(z.shape) == (2, 3) and not nnlib.to_numpy(z).any()
