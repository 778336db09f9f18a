"""Embedding: lookup forward, scatter-add backward (repeated ids accumulate), errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.errors import DeviceError, DTypeError, ShapeError, UnsupportedError
from nnlib.nn.sparse import MAX_PASSES, index_add_rows

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
TOL = {"float64": 1e-12, "float32": 1e-6}


def pair(num, dim, device, dtype):
    ours = nn.Embedding(num, dim, dtype=dtype).to(device)
    theirs = torch.nn.Embedding(num, dim).to(device="cpu" if device == "numpy" else device,
                                             dtype=getattr(torch, dtype))
    theirs.load_state_dict({"weight": torch.as_tensor(nnlib.to_numpy(ours.weight.data))})
    return ours, theirs


@SETTINGS
@given(num=st.integers(1, 6), dim=st.integers(1, 4),
       id_shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_parity_with_torch(device, float_dtype, num, dim, id_shape, seed):
    ours, theirs = pair(num, dim, device, float_dtype)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, num, size=id_shape)  # few rows, many positions: ids repeat
    if id_shape == ():
        ids = np.asarray(ids)
    tdev = "cpu" if device == "numpy" else device
    y = ours(nnlib.to_device(ids, device))
    ty = theirs(torch.as_tensor(ids, device=tdev))
    assert tuple(y.shape) == tuple(ty.shape) == id_shape + (dim,)
    np.testing.assert_array_equal(nnlib.to_numpy(y), ty.detach().cpu().numpy())  # a lookup is exact
    g = rng.standard_normal(id_shape + (dim,)).astype(float_dtype)
    (ty * torch.as_tensor(g, device=tdev)).sum().backward()
    assert ours.backward(nnlib.to_device(g, device)) is None  # ids get no gradient
    np.testing.assert_allclose(nnlib.to_numpy(ours.weight.grad), theirs.weight.grad.cpu().numpy(),
                               rtol=TOL[float_dtype], atol=TOL[float_dtype])


def test_repeated_ids_accumulate_and_unused_rows_stay_zero():
    emb = nn.Embedding(5, 2, dtype="float64")
    emb(np.array([[3, 3], [3, 1]]))
    emb.backward(np.ones((2, 2, 2)))
    np.testing.assert_array_equal(emb.weight.grad, [[0, 0], [1, 1], [0, 0], [3, 3], [0, 0]])
    emb(np.array([1]))
    emb.backward(np.full((1, 2), 0.5))  # .grad accumulates across backward passes, as in PyTorch
    np.testing.assert_array_equal(emb.weight.grad[1], [1.5, 1.5])


def test_index_add_rows_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, 2000)
    values = rng.standard_normal((2000, 3))
    expected = np.zeros((60, 3))
    np.add.at(expected, ids, values)
    got_np = index_add_rows(np, (60, 3), ids, values)
    import array_api_compat.torch as xpt
    got_t = index_add_rows(xpt, (60, 3), torch.as_tensor(ids), torch.as_tensor(values))
    np.testing.assert_allclose(got_np, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_t.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_index_add_rows_rare_repeats_sum_in_input_order_as_index_add():
    # Ids repeating at most MAX_PASSES times take the pass-per-occurrence way: its float32 sums
    # run in input order, so they equal torch's index_add_ (and np.add.at) bit for bit.
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 400, 300)
    assert 1 < np.bincount(ids).max() <= MAX_PASSES
    values = rng.standard_normal((300, 5), dtype=np.float32)
    expected = torch.zeros(400, 5).index_add_(0, torch.as_tensor(ids), torch.as_tensor(values)).numpy()
    np.testing.assert_array_equal(index_add_rows(np, (400, 5), ids, values), expected)
    sequential = np.zeros((400, 5), dtype=np.float32)
    np.add.at(sequential, ids, values)
    np.testing.assert_array_equal(index_add_rows(np, (400, 5), ids, values), sequential)


def test_index_add_rows_frequent_repeats():
    # An id occurring more than MAX_PASSES times: the sort-and-reduce way, the same sums.
    ids = np.array([3, 1, 3, 3, 0, 3, 3, 3, 3, 3, 3, 3, 1])
    assert np.bincount(ids).max() > MAX_PASSES
    values = np.arange(26, dtype=np.float64).reshape(13, 2)
    expected = np.zeros((5, 2))
    np.add.at(expected, ids, values)
    np.testing.assert_array_equal(index_add_rows(np, (5, 2), ids, values), expected)


def test_gradcheck_with_central_differences():
    emb = nn.Embedding(4, 3, dtype="float64")
    table = gc.gradcheck(emb, (np.array([[0, 2, 2], [3, 0, 2]]),))
    assert [row[0] for row in table.rows] == ["weight"]


def test_state_dict_both_ways():
    theirs = torch.nn.Embedding(7, 3)
    ours = nn.Embedding(7, 3)
    ours.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())
    back = torch.nn.Embedding(7, 3)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    assert torch.equal(back.weight, theirs.weight)


def test_init_is_standard_normal():
    nnlib.manual_seed(0)
    w = nn.Embedding(400, 50).weight.data
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


@pytest.mark.parametrize("bad,match", [(np.array([0, 5]), r"\[0, 4\].*got values in \[0, 5\]"),
                                       (np.array([[-1, 2]]), r"got values in \[-1, 2\]")])
def test_ids_out_of_range(bad, match):
    with pytest.raises(ValueError, match=match):
        nn.Embedding(5, 2)(bad)


def test_non_integer_ids():
    emb = nn.Embedding(5, 2)
    with pytest.raises(DTypeError, match="integer token ids, got dtype float32"):
        emb(np.array([1.0, 2.0], np.float32))
    with pytest.raises(DTypeError, match="got list"):
        emb([1, 2])
    with pytest.raises(ShapeError, match="empty"):
        emb(np.zeros((0,), np.int64))


def test_ids_on_another_device():
    with pytest.raises(DeviceError, match="nnlib.to_device"):
        nn.Embedding(5, 2)(torch.tensor([1, 2]))


def test_grad_output_shape_is_checked():
    emb = nn.Embedding(5, 2)
    emb(np.array([1, 2, 3]))
    with pytest.raises(ShapeError, match=r"\(3, 2\)"):
        emb.backward(np.ones((3, 3), np.float32))


# --- options: padding_idx, max_norm, scale_grad_by_freq, _weight ----------------------------------------
options = st.fixed_dictionaries({}, optional={
    "padding_idx": st.integers(-5, 4), "max_norm": st.sampled_from([0.5, 1.0, 2.0]),
    "norm_type": st.sampled_from([1.0, 2.0, 3.0, float("inf")]), "scale_grad_by_freq": st.booleans()})


@SETTINGS
@given(kwargs=options, id_shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       seed=st.integers(0, 2**16))
def test_options_match_torch(device, kwargs, id_shape, seed):
    """Output, ∂J/∂W and — with max_norm, which rescales rows in place — the weight after forward."""
    torch.manual_seed(seed)
    theirs = torch.nn.Embedding(5, 3, dtype=torch.float64, **kwargs)
    ours = nn.Embedding(5, 3, dtype="float64", **kwargs).to(device)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(seed)
    ids, g = np.asarray(rng.integers(0, 5, size=id_shape)), rng.standard_normal(id_shape + (3,))
    y = ours(nnlib.to_device(ids, device))
    ty = theirs(torch.as_tensor(ids))
    (ty * torch.as_tensor(g)).sum().backward()
    ours.backward(nnlib.to_device(g, device))
    for got, expected in [(y, ty), (ours.weight.grad, theirs.weight.grad), (ours.weight.data, theirs.weight)]:
        np.testing.assert_allclose(nnlib.to_numpy(got), expected.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding_idx", [0, 2, -1])
def test_padding_row_starts_at_zero_and_gets_no_gradient(padding_idx, device):
    emb = nn.Embedding(4, 3, padding_idx=padding_idx, dtype="float64").to(device)
    row = padding_idx % 4
    assert emb.padding_idx == row == torch.nn.Embedding(4, 3, padding_idx=padding_idx).padding_idx
    np.testing.assert_array_equal(nnlib.to_numpy(emb.weight.data)[row], 0.0)
    emb(nnlib.to_device(np.array([[row, 1], [row, 3]]), device))
    emb.backward(nnlib.to_device(np.ones((2, 2, 3)), device))
    grad = nnlib.to_numpy(emb.weight.grad)
    np.testing.assert_array_equal(grad[row], 0.0)
    assert grad[1].sum() == 3.0
    # The padding row's gradient is set to zero on purpose; every other row's is the derivative
    # of the lookup, as central differences find.
    emb, ids = nn.Embedding(4, 3, padding_idx=padding_idx, dtype="float64"), (np.array([[row, 1], [row, 3]]),)
    exact, numerical = gc.analytic_gradients(emb, ids)["weight"], gc.numerical_gradients(emb, ids)["weight"]
    others = [k for k in range(4) if k != row]
    np.testing.assert_allclose(exact[others], numerical[others], rtol=1e-6, atol=1e-8)
    assert np.abs(numerical[row]).max() > 0.1 and not exact[row].any()


def test_scale_grad_by_freq_divides_each_row_by_its_count():
    emb = nn.Embedding(4, 2, scale_grad_by_freq=True, dtype="float64")
    emb(np.array([3, 3, 3, 1]))
    emb.backward(np.array([[1.0, 2.0], [1.0, 2.0], [4.0, 2.0], [5.0, 5.0]]))
    np.testing.assert_allclose(emb.weight.grad, [[0, 0], [5, 5], [0, 0], [2, 2]])


def test_max_norm_rescales_the_used_rows_in_place():
    weight = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    emb = nn.Embedding(3, 2, max_norm=1.0, _weight=weight.copy())
    out = emb(np.array([0, 1, 0]))
    # Row 0 (norm 5) is scaled to norm 1, row 1 (norm 0.5) is short enough, row 2 is not used.
    np.testing.assert_allclose(emb.weight.data, [[0.6, 0.8], [0.3, 0.4], [6.0, 8.0]], rtol=1e-6)
    np.testing.assert_allclose(out, emb.weight.data[[0, 1, 0]])


def test_weight_argument_is_used_as_given():
    weight = np.arange(6.0).reshape(3, 2)
    emb = nn.Embedding(3, 2, padding_idx=0, _weight=weight)
    assert emb.weight.data is weight and emb.weight.dtype == "float64"  # not zeroed, as in PyTorch
    with pytest.raises(ShapeError, match=r"\(3, 2\).*got \(2, 3\)"):
        nn.Embedding(3, 2, _weight=np.zeros((2, 3)))
    with pytest.raises(DTypeError, match="int64"):
        nn.Embedding(3, 2, _weight=np.zeros((3, 2), np.int64))


@pytest.mark.parametrize("kwargs, match", [
    ({"sparse": True}, "sparse=True"), ({"_freeze": True}, "_freeze=True"),
])
def test_sparse_gradients_and_freezing_are_refused_by_name(kwargs, match):
    with pytest.raises(UnsupportedError, match=match):
        nn.Embedding(3, 2, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"padding_idx": 3}, ValueError, r"padding_idx must be an integer in \[-3, 2\].*got 3"),
    ({"padding_idx": -4}, ValueError, "got -4"),
    ({"padding_idx": 1.0}, ValueError, "got 1.0"),
    ({"max_norm": 0}, ValueError, "max_norm must be a positive number"),
    ({"norm_type": -1.0}, ValueError, "norm_type must be a positive number"),
    ({"scale_grad_by_freq": "True"}, TypeError, "scale_grad_by_freq must be True or False"),
    ({"sparse": 0}, TypeError, "sparse must be True or False"),
])
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.Embedding(3, 2, **kwargs)
