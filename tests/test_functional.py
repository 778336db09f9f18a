"""The shared stateless pieces: log_softmax on logits far beyond exp's range, and its checks."""

import numpy as np
import pytest
import torch

from nnlib.backend import to_device, to_numpy
from nnlib.errors import DTypeError, ShapeError, UnsupportedError
from nnlib.nn import functional as F
from nnlib.nn.functional import log_softmax


def _extreme_logits(dtype, offset):
    """Rows spread over 1e4 around ``offset``, the largest entry of each row tied 2 or 3 times.

    e^(−1e4) underflows to 0 in every float format, and the ties make log Σ e^(z − max) = log 2
    or log 3: large enough to be rounded away if added to a large max before subtracting.
    """
    rng = np.random.default_rng(0)
    z = offset + rng.uniform(-1e4, 0, (6, 5))
    z[:, 0] = offset
    z[::2, 3] = offset
    z[1::3, 4] = offset
    return z.astype(dtype)


@pytest.mark.parametrize("dtype,offset,tol", [("float64", 1e6, 1e-13), ("float32", 5e4, 1e-6)])
def test_log_softmax_of_extreme_logits_is_finite_and_matches_torch_in_float64(device, dtype, offset, tol):
    z = _extreme_logits(dtype, offset)
    got = to_numpy(log_softmax(to_device(z, device), dim=1))
    want = torch.log_softmax(torch.tensor(z, dtype=torch.float64), dim=1).numpy()
    assert got.dtype == z.dtype and np.isfinite(got).all()
    assert got.min() < -9000  # entries whose softmax underflows to 0 keep their logarithm
    # The tied maxima, ≈ −log 2 or −log 3, would be off by ~1e-11 (float64) or ~2e-3 (float32)
    # if log Σ were added to the max before subtracting.
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_log_softmax_along_another_dim_is_the_transpose(device):
    z = _extreme_logits("float64", 0.0)
    by_rows = to_numpy(log_softmax(to_device(z, device), dim=1))
    by_columns = to_numpy(log_softmax(to_device(np.ascontiguousarray(z.T), device), dim=0))
    np.testing.assert_array_equal(by_columns, by_rows.T)
    np.testing.assert_array_equal(to_numpy(log_softmax(to_device(z, device), dim=-1)), by_rows)


def test_log_softmax_rejects_a_dim_outside_the_input_and_non_arrays():
    message = r"dim must be an integer in \[-2, 1\] for an input of shape \(6, 5\), got 2"
    with pytest.raises(ShapeError, match=message):
        log_softmax(np.zeros((6, 5)), dim=2)
    with pytest.raises(ShapeError, match="got None"):
        log_softmax(np.zeros((6, 5)), dim=None)
    with pytest.raises(DTypeError, match="NumPy array or torch tensor, got list"):
        log_softmax([1.0, 2.0], dim=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_positive_part_and_step_of_are_relu_and_its_derivative_keeping_nan(device, dtype):
    x = np.array([-2.0, -0.0, 0.0, 0.25, 3.0, np.nan], dtype=dtype)
    x_dev = to_device(x, device)
    y = F.positive_part(x_dev)
    assert y.dtype == x_dev.dtype
    np.testing.assert_array_equal(to_numpy(y), torch.relu(torch.as_tensor(x)).numpy())
    np.testing.assert_array_equal(to_numpy(F.step_of(y)), [0.0, 0.0, 0.0, 1.0, 1.0, np.nan])


def test_flags_must_be_bools():
    assert F.check_bool(np.bool_(True), "batch_first", "LSTM") is True
    for bad in ("False", 0, 1, None):
        with pytest.raises(TypeError, match=r"LSTM: batch_first must be True or False, got"):
            F.check_bool(bad, "batch_first", "LSTM")


def test_unimplemented_values_are_refused_by_name():
    assert F.check_supported("zeros", ("zeros",), "padding_mode", "Conv2d") == "zeros"
    assert F.check_supported(None, (None,), "max_norm", "Embedding") is None
    refused = (r"Conv2d: padding_mode='circular' is not implemented in nnlib; "
               r"it supports padding_mode='zeros' or 'reflect'")
    with pytest.raises(UnsupportedError, match=refused):
        F.check_supported("circular", ("zeros", "reflect"), "padding_mode", "Conv2d")
    with pytest.raises(UnsupportedError, match="groups=True"):
        F.check_supported(True, (1,), "groups", "Conv2d")  # True == 1, but it is not the int 1
