"""nnlib.autograd on every backend: each operation's gradient against central differences
(float64) and torch.autograd, broadcasting, accumulation, retain_graph, no_grad, detach, grad();
an MLP and a Conv2d layer against nnlib's hand-written backward and PyTorch; a chain deeper than
Python's recursion limit; a new operation added through the registration point; clear errors."""

import doctest
import sys
import threading
import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnlib
from nnlib import autograd as A
from nnlib import nn
from nnlib.autograd import Tensor
from nnlib.backend import to_device, to_numpy
from nnlib.errors import BackwardError, DeviceError, DTypeError, ShapeError, UnsupportedError
from nnlib_cases import SETTINGS, assert_close


def leaf(values, device, dtype="float64"):
    return Tensor(to_device(np.asarray(values, dtype=dtype), device), requires_grad=True)


class Engine:
    """nnlib.autograd's functions, with constant arrays on ``device``."""

    def __init__(self, device):
        self.device = device

    def const(self, values):
        return to_device(np.asarray(values), self.device)

    def __getattr__(self, name):
        return getattr(A, name)


class Torch:
    """The same functions in PyTorch (the reference, float64 on the CPU)."""

    const = staticmethod(lambda values: torch.as_tensor(np.asarray(values)))
    log_softmax = staticmethod(torch.log_softmax)
    cross_entropy = staticmethod(TF.cross_entropy)
    conv2d = staticmethod(TF.conv2d)

    @staticmethod
    def im2col(x, kernel, stride, padding, out_hw, dilation):  # unfold's (N, C·kh·kw, L) as (C·kh·kw, N·L)
        pad = tuple(p for p, _ in padding)
        cols = TF.unfold(x, kernel, dilation=dilation, padding=pad, stride=stride)
        return cols.permute(1, 0, 2).reshape(cols.shape[1], -1)


# name (the registered operation it checks first), function of (library, *inputs), input shapes, domain
CASES = [
    ("add", lambda L, x, y: x + y, [(2, 3), (2, 3)], "any"),
    ("add-broadcast", lambda L, x, y: x + y, [(4, 1, 3), (2, 1)], "any"),
    ("add-reflected-number", lambda L, x: 2.5 + x, [(3,)], "any"),
    ("sub-broadcast", lambda L, x, y: x - y, [(2, 3), (3,)], "any"),
    ("sub-reflected-number", lambda L, x: 1.0 - x, [(2, 2)], "any"),
    ("mul-broadcast", lambda L, x, y: x * y, [(3, 1), (1, 4)], "any"),
    ("mul-same-tensor-twice", lambda L, x: x * x, [(3,)], "any"),
    ("mul-constant-array", lambda L, x: x * L.const(np.arange(3.0)), [(2, 3)], "any"),
    ("mul-0d", lambda L, x, y: x * y, [(), (2,)], "any"),
    ("div-broadcast", lambda L, x, y: x / y, [(2, 3), (2, 1)], "nonzero"),
    ("div-reflected-number", lambda L, x: 2.0 / x, [(3,)], "nonzero"),
    ("neg", lambda L, x: -x, [(2, 3)], "any"),
    ("pow-2", lambda L, x: x ** 2, [(2, 3)], "any"),
    ("pow-3-method", lambda L, x: x.pow(3), [(4,)], "any"),
    ("pow-half", lambda L, x: x ** 0.5, [(3,)], "positive"),
    ("pow-negative", lambda L, x: x ** -1.5, [(3,)], "positive"),
    ("pow-0", lambda L, x: x ** 0, [(3,)], "any"),
    ("exp", lambda L, x: x.exp(), [(2, 3)], "any"),
    ("log", lambda L, x: x.log(), [(2, 3)], "positive"),
    ("tanh", lambda L, x: x.tanh(), [(2, 3)], "any"),
    ("sigmoid", lambda L, x: x.sigmoid(), [(2, 3)], "any"),
    ("relu", lambda L, x: x.relu(), [(3, 4)], "nonzero"),
    ("sum-all", lambda L, x: x.sum(), [(2, 3)], "any"),
    ("sum-dim", lambda L, x: x.sum(1), [(2, 3, 2)], "any"),
    ("sum-dims-keepdim", lambda L, x: x.sum((0, 2), keepdim=True), [(2, 3, 2)], "any"),
    ("sum-negative-dim", lambda L, x: x.sum(-1), [(2, 3)], "any"),
    ("sum-of-0d", lambda L, x: x.sum(), [()], "any"),
    ("mean-all", lambda L, x: x.mean(), [(2, 3)], "any"),
    ("mean-dim-keepdim", lambda L, x: x.mean(1, keepdim=True), [(2, 3, 2)], "any"),
    ("reshape", lambda L, x: x.reshape(3, 2, 2), [(2, 6)], "any"),
    ("reshape-tuple-inferred", lambda L, x: x.reshape((-1, 4)), [(2, 3, 2)], "any"),
    ("permute", lambda L, x: x.permute(2, 0, 1), [(2, 3, 4)], "any"),
    ("permute-tuple", lambda L, x: x.permute((1, 0, 2)), [(2, 3, 4)], "any"),
    ("transpose", lambda L, x: x.transpose(0, 2), [(2, 3, 4)], "any"),
    ("transpose-T", lambda L, x: x.T * L.const(np.arange(6.0).reshape(3, 2)), [(2, 3)], "any"),
    ("getitem-slices", lambda L, x: x[1:, ::2], [(3, 5)], "any"),
    ("getitem-int-none-ellipsis", lambda L, x: x[0, None, ..., 1], [(2, 3, 4)], "any"),
    ("getitem-overlapping-uses", lambda L, x: x[:2] * x[1:], [(3, 2)], "any"),
    ("matmul", lambda L, x, y: x @ y, [(2, 3), (3, 4)], "any"),
    ("matmul-vector-vector", lambda L, x, y: x @ y, [(3,), (3,)], "any"),
    ("matmul-vector-matrix", lambda L, x, y: x @ y, [(3,), (3, 4)], "any"),
    ("matmul-matrix-vector", lambda L, x, y: x.matmul(y), [(2, 3), (3,)], "any"),
    ("matmul-batch-broadcast", lambda L, x, y: x @ y, [(2, 1, 2, 3), (4, 3, 5)], "any"),
    ("matmul-vector-batch", lambda L, x, y: x @ y, [(3,), (2, 3, 4)], "any"),
    ("matmul-batch-vector", lambda L, x, y: x @ y, [(2, 4, 3), (3,)], "any"),
    ("matmul-reflected-array", lambda L, x: L.const(np.ones((2, 3))) @ x, [(3, 2)], "any"),
    ("log_softmax", lambda L, x: L.log_softmax(x, 1), [(4, 5)], "any"),
    ("log_softmax-dim0-method", lambda L, x: x.log_softmax(0), [(4, 5)], "any"),
    ("cross_entropy", lambda L, z: L.cross_entropy(z, L.const([2, 0, 4, 1])), [(4, 5)], "any"),
    ("cross_entropy-sum", lambda L, z: L.cross_entropy(z, L.const([1, 1, 0]), reduction="sum"), [(3, 2)],
     "any"),
    ("cross_entropy-none", lambda L, z: L.cross_entropy(z, L.const([2, 0]), reduction="none"), [(2, 3)],
     "any"),
    ("im2col", lambda L, x: L.im2col(x, (2, 3), (1, 2), ((1, 1), (0, 0)), (5, 2), (2, 1)), [(2, 2, 5, 6)],
     "any"),
    ("conv2d", lambda L, x, w, b: L.conv2d(x, w, b), [(2, 3, 5, 5), (4, 3, 3, 3), (4,)], "any"),
    ("conv2d-stride-padding-dilation", lambda L, x, w: L.conv2d(x, w, None, (2, 1), (1, 0), (1, 2)),
     [(1, 2, 6, 7), (3, 2, 3, 2)], "any"),
    ("conv2d-groups", lambda L, x, w, b: L.conv2d(x, w, b, padding=1, groups=2),
     [(2, 4, 4, 4), (6, 2, 3, 3), (6,)], "any"),
    ("conv2d-unbatched", lambda L, x, w: L.conv2d(x, w, stride=2), [(2, 5, 5), (3, 2, 2, 2)], "any"),
]


def draw(rng, shape, domain):
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    x = rng.standard_normal(shape)
    return x + 0.3 * np.sign(x) if domain == "nonzero" else x  # no kink of relu, no 0 of 1/y within ±ε


def central_differences(objective, arrays, eps=1e-6):
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            saved = a[i]
            a[i] = saved + eps
            plus = objective()
            a[i] = saved - eps
            minus = objective()
            a[i] = saved
            g[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_central_differences_and_torch_autograd(case, device):
    name, f, shapes, domain = case
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [draw(rng, s, domain) for s in shapes]
    engine = Engine(device)
    xs = [leaf(a, device) for a in arrays]
    out = f(engine, *xs)
    weights = rng.standard_normal(out.shape)  # J = Σ weights ⊙ out, so ∂J/∂out = weights
    out.backward(to_device(weights, device))
    ours = {f"input {i}": to_numpy(x.grad) for i, x in enumerate(xs)}

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_out = f(Torch, *ts)
    assert_close({"output": to_numpy(out.data)}, {"output": t_out.detach().numpy()}, "float64", name)
    (t_out * torch.as_tensor(weights)).sum().backward()
    assert_close(ours, {f"input {i}": t.grad.numpy() for i, t in enumerate(ts)}, "float64", name)

    def objective():
        with A.no_grad():
            value = f(engine, *(Tensor(to_device(a, device)) for a in arrays))
        return float(np.sum(to_numpy(value.data) * weights))
    numeric = central_differences(objective, arrays)
    for i, g in enumerate(numeric):
        np.testing.assert_allclose(ours[f"input {i}"], g, rtol=1e-6, atol=1e-7, err_msg=f"{name}, input {i}")


def test_pow_0_has_gradient_0_also_at_0_as_in_pytorch(device):
    x = leaf([0.0, 2.0], device)
    (x ** 0).sum().backward()
    tx = torch.tensor([0.0, 2.0], requires_grad=True)
    (tx ** 0).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 0.0])


def test_sigmoid_log_softmax_and_cross_entropy_stay_finite_far_out(device):
    logits = np.array([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 5e4]])
    z = leaf(logits, device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in exp
        (z.sigmoid().sum() + A.cross_entropy(z, to_device(np.array([2, 0]), device))).backward()
    tz = torch.tensor(logits, requires_grad=True)
    (tz.sigmoid().sum() + TF.cross_entropy(tz, torch.tensor([2, 0]))).backward()
    assert np.isfinite(to_numpy(z.grad)).all()
    assert_close({"z": to_numpy(z.grad)}, {"z": tz.grad.numpy()}, "float64", "far-out logits")


def test_every_registered_operation_has_a_gradient_case():
    built_in = {name for name, op in A.OPERATIONS.items() if getattr(A, name, None) is op}
    assert {"add", "mul", "matmul", "sum", "im2col"} <= built_in
    checked = {c[0].split("-")[0] for c in CASES}
    assert built_in <= checked, f"operations without a gradient case: {sorted(built_in - checked)}"


# --- broadcasting -------------------------------------------------------------------------------------
@given(data=st.data())
@SETTINGS
def test_elementwise_gradients_keep_their_inputs_shapes_under_any_broadcast(device, data):
    (shape_x, shape_y), _ = data.draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                                    max_side=3), label="shapes")
    op = data.draw(st.sampled_from(["add", "sub", "mul", "div"]), label="op")
    rng = np.random.default_rng(0)
    a, b = draw(rng, shape_x, "any"), draw(rng, shape_y, "nonzero")
    x, y = leaf(a, device), leaf(b, device)
    getattr(A, op)(x, y).sum().backward()
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    getattr(torch, op)(tx, ty).sum().backward()
    assert x.grad.shape == shape_x and y.grad.shape == shape_y
    assert_close({"x": to_numpy(x.grad), "y": to_numpy(y.grad)}, {"x": tx.grad.numpy(), "y": ty.grad.numpy()},
                 "float64", op)


@given(shapes=mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=3,
                                            base_shape=(2, 1, 3)))
@SETTINGS
def test_unbroadcast_sums_over_exactly_the_broadcast_axes(device, shapes):
    ((small,), big) = shapes
    grad = to_device(np.ones(big), device)
    summed = to_numpy(A.unbroadcast(grad, small))
    assert summed.shape == small
    np.testing.assert_array_equal(summed, np.full(small, np.prod(big) / np.prod(small)))


def test_unbroadcast_refuses_a_shape_the_gradient_did_not_come_from():
    with pytest.raises(ShapeError, match=r"shape \(2, 3\) cannot be summed back to shape \(4,\)"):
        A.unbroadcast(np.ones((2, 3)), (4,))
    with pytest.raises(ShapeError, match=r"shape \(3,\) cannot be summed back to shape \(2, 3\)"):
        A.unbroadcast(np.ones(3), (2, 3))


# --- accumulation, the graph, retain_graph --------------------------------------------------------------
def test_a_tensor_used_several_times_gets_the_sum_of_its_gradients(device):
    values = np.array([0.5, -1.0, 2.0])
    x = leaf(values, device)
    a = x * 2.0
    y = (a * x + a.exp() + x).sum()  # x reaches y along four paths
    y.backward()
    tx = torch.tensor(values, requires_grad=True)
    ta = tx * 2.0
    (ta * tx + ta.exp() + tx).sum().backward()
    assert_close({"x": to_numpy(x.grad)}, {"x": tx.grad.numpy()}, "float64", "four paths")


def test_grad_accumulates_across_backward_calls_until_reset(device):
    x = leaf([1.0, 2.0], device)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [2.0 + 3.0, 4.0 + 3.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [3.0, 3.0])


def test_each_leaf_gets_its_own_grad_array(device):
    x, y = leaf([1.0, 2.0], device), leaf([3.0, 4.0], device)
    gradient = to_device(np.array([1.0, 1.0]), device)
    (x + y).backward(gradient)  # add hands the same g to both inputs
    x.grad *= 10  # in place: neither y.grad nor the caller's gradient may change
    np.testing.assert_array_equal(to_numpy(y.grad), [1.0, 1.0])
    np.testing.assert_array_equal(to_numpy(gradient), [1.0, 1.0])


def test_a_second_backward_needs_retain_graph_on_the_first(device):
    x = leaf([1.0, 2.0], device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), [4.0, 8.0])  # accumulated twice
    with pytest.raises(BackwardError, match=r"backward through <sum> a second time.*retain_graph=True"):
        y.backward()


def test_a_subgraph_freed_by_one_output_is_refused_to_another_as_in_pytorch(device):
    x = leaf([1.0, 2.0], device)
    z = x * x
    z.exp().sum().backward()
    with pytest.raises(BackwardError, match=r"<mul> a second time"):
        z.sum().backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    tz = tx * tx
    tz.exp().sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        tz.sum().backward()


def test_a_freed_node_that_saved_nothing_is_refused_where_pytorch_allows_it(device):
    x = leaf([1.0, 2.0], device)
    y = x + 1.0
    y.sum().backward()
    with pytest.raises(BackwardError, match=r"<add> a second time"):
        y.sum().backward()
    ty = torch.tensor([1.0, 2.0], requires_grad=True) + 1.0
    ty.sum().backward()
    ty.sum().backward()  # the documented difference: AddBackward saved no tensor


def test_a_chain_deeper_than_the_recursion_limit_backpropagates(device):
    x = leaf([0.5, -0.3], device)
    tx = torch.tensor([0.5, -0.3], requires_grad=True)
    y, ty = x, tx
    for _ in range(1000):  # 2000 operations, each node one frame deeper than the last
        y, ty = (y * 0.99).tanh(), (ty * 0.99).tanh()
    assert 2000 > sys.getrecursionlimit()
    y.sum().backward()
    ty.sum().backward()
    assert_close({"x": to_numpy(x.grad)}, {"x": tx.grad.numpy()}, "float64", "deep chain")


def test_results_record_their_node_and_leaves_do_not(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2.0
    assert x.is_leaf and x.grad_fn is None and not y.is_leaf and y.requires_grad
    assert y.grad_fn.name == "mul" and y.grad_fn.inputs == (x, None)
    assert repr(y.grad_fn) == "<mul>" and "grad_fn=<mul>" in repr(y) and "requires_grad=True" in repr(x)
    y.sum().backward()
    assert y.grad is None  # only leaves get .grad


def test_operations_on_tensors_without_requires_grad_record_nothing(device):
    c = Tensor(to_device(np.array([1.0, 2.0]), device))
    y = (c * 2.0).exp()
    assert not y.requires_grad and y.grad_fn is None


# --- no_grad, detach, grad() ----------------------------------------------------------------------------
def test_no_grad_records_nothing_and_restores_the_mode(device):
    x = leaf([1.0, 2.0], device)
    with A.no_grad():
        y = x * 2.0
        with A.no_grad():
            pass
        assert not A.is_grad_enabled()
        assert not y.requires_grad and y.grad_fn is None
    assert A.is_grad_enabled() and (x * 2.0).requires_grad
    with pytest.raises(ZeroDivisionError), A.no_grad():
        1 / 0
    assert A.is_grad_enabled()


def test_no_grad_works_as_a_decorator():
    @A.no_grad()
    def double(t):
        return t * 2.0

    x = leaf([1.0], "numpy")
    assert double(x).grad_fn is None and double(x).grad_fn is None  # reusable
    assert (x * 2.0).grad_fn is not None


def test_no_grad_holds_for_its_own_thread_only():
    seen = []
    with A.no_grad():
        worker = threading.Thread(target=lambda: seen.append(A.is_grad_enabled()))
        worker.start()
        worker.join()
        assert not A.is_grad_enabled()
    assert seen == [True]


def test_detach_shares_the_array_and_stops_the_gradient(device):
    x = leaf([1.0, 2.0, 3.0], device)
    d = x.detach()
    assert d.data is x.data and not d.requires_grad and d.grad_fn is None
    (x * d).sum().backward()  # d is a constant: ∂/∂x (x · c) = c, not 2x
    np.testing.assert_allclose(to_numpy(x.grad), [1.0, 2.0, 3.0])


def test_grad_matches_torch_autograd_grad_and_leaves_grad_alone(device):
    a, b = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([0.3, -0.7])
    x, w = leaf(a, device), leaf(b, device)
    h = (x @ w).tanh()                       # an intermediate input
    y = (h * h).sum() + (x * x).mean()
    gx, gw, gh = A.grad(y, [x, w, h])
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    th = (tx @ tw).tanh()
    ty = (th * th).sum() + (tx * tx).mean()
    rx, rw, rh = torch.autograd.grad(ty, [tx, tw, th])
    assert_close({"x": to_numpy(gx), "w": to_numpy(gw), "h": to_numpy(gh)},
                 {"x": rx.numpy(), "w": rw.numpy(), "h": rh.numpy()}, "float64", "grad()")
    assert x.grad is None and w.grad is None


def test_grad_takes_grad_outputs_sums_several_outputs_and_frees_the_graph(device):
    x = leaf([1.0, 2.0], device)
    y, z = x * x, x.exp()
    weights = to_device(np.array([1.0, -1.0]), device)
    (g,) = A.grad([y, z], x, [weights, weights], retain_graph=True)  # J = Σ w ⊙ (x² + eˣ)
    np.testing.assert_allclose(to_numpy(g), (2 * np.array([1.0, 2.0]) + np.exp([1.0, 2.0])) * [1.0, -1.0])
    (g,) = A.grad(y.sum(), x)
    np.testing.assert_allclose(to_numpy(g), [2.0, 4.0])
    with pytest.raises(BackwardError, match="second time"):
        A.grad(y, x, weights)


def test_grad_refuses_unused_inputs_unless_allowed(device):
    x, unused = leaf([1.0], device), leaf([2.0], device)
    y = (x * 3.0).sum()
    with pytest.raises(BackwardError, match=r"do not depend on inputs\[1\]; pass allow_unused=True"):
        A.grad(y, [x, unused], retain_graph=True)
    gx, gu = A.grad(y, [x, unused], allow_unused=True)
    np.testing.assert_allclose(to_numpy(gx), [3.0])
    assert gu is None


def test_grad_refuses_inputs_that_cannot_have_a_gradient():
    x = leaf([1.0], "numpy")
    y = (x * 3.0).sum()
    with pytest.raises(BackwardError, match=r"inputs\[0\] does not require grad"):
        A.grad(y, Tensor(np.ones(1)))
    with pytest.raises(DTypeError, match=r"inputs\[0\] must be a Tensor, got ndarray"):
        A.grad(y, np.ones(1))
    with pytest.raises(ValueError, match=r"one grad_output per output \(1\), got 2"):
        A.grad(y, x, [None, None])


# --- against nnlib's hand-written backward and PyTorch -------------------------------------------------
def test_an_mlp_with_cross_entropy_matches_nnlibs_backward_and_torch(device):
    nnlib.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8, dtype="float64"), nn.ReLU(), nn.Linear(8, 3, dtype="float64"))
    model.to(device)
    rng = np.random.default_rng(1)
    x_np, t_np = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    x, t = to_device(x_np, device), to_device(t_np, device)
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), t)
    hand = {"input": to_numpy(model.backward(criterion.backward()))}
    hand |= {name: to_numpy(p.grad) for name, p in model.named_parameters()}

    w = {name: Tensor(p.data, requires_grad=True) for name, p in model.named_parameters()}
    xt = Tensor(x, requires_grad=True)
    h = (xt @ w["0.weight"].T + w["0.bias"]).relu()
    J = A.cross_entropy(h @ w["2.weight"].T + w["2.bias"], t)
    J.backward()
    engine = {"input": to_numpy(xt.grad)} | {name: to_numpy(p.grad) for name, p in w.items()}

    reference = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    reference.load_state_dict({k: torch.as_tensor(to_numpy(v)) for k, v in model.state_dict().items()})
    tx = torch.tensor(x_np, requires_grad=True)
    t_loss = TF.cross_entropy(reference(tx), torch.as_tensor(t_np))
    t_loss.backward()
    theirs = {"input": tx.grad.numpy()} | {k: p.grad.numpy() for k, p in reference.named_parameters()}

    assert J.item() == pytest.approx(float(to_numpy(loss)), rel=1e-12) == t_loss.item()
    assert_close(engine, hand, "float64", "engine vs nnlib's backward")
    assert_close(engine, theirs, "float64", "engine vs torch.autograd")


CONV_OPTIONS = {"stride-padding": dict(stride=2, padding=1),
                "dilation": dict(stride=(1, 2), padding=(0, 1), dilation=2),
                "groups-no-bias": dict(padding=1, groups=2, bias=False)}


@pytest.mark.parametrize("options", CONV_OPTIONS.values(), ids=CONV_OPTIONS.keys())
def test_a_conv2d_layer_matches_nnlibs_backward_and_torch(device, options):
    nnlib.manual_seed(0)
    layer = nn.Conv2d(4, 6, 3, dtype="float64", **options).to(device)
    rng = np.random.default_rng(2)
    x_np = rng.standard_normal((2, 4, 7, 6))
    x = to_device(x_np, device)
    out = layer(x)
    delta = rng.standard_normal(out.shape)  # ∂J/∂out
    hand = {"input": to_numpy(layer.backward(to_device(delta, device)))}
    hand |= {name: to_numpy(p.grad) for name, p in layer.named_parameters()}

    functional = {k: v for k, v in options.items() if k != "bias"}
    w = {name: Tensor(p.data, requires_grad=True) for name, p in layer.named_parameters()}
    xt = Tensor(x, requires_grad=True)
    y = A.conv2d(xt, w["weight"], w.get("bias"), **functional)
    y.backward(to_device(delta, device))
    engine = {"input": to_numpy(xt.grad)} | {name: to_numpy(p.grad) for name, p in w.items()}

    tp = {name: torch.tensor(to_numpy(p.data), requires_grad=True) for name, p in layer.named_parameters()}
    tx = torch.tensor(x_np, requires_grad=True)
    t_out = TF.conv2d(tx, tp["weight"], tp.get("bias"), **functional)
    t_out.backward(torch.as_tensor(delta))
    theirs = {"input": tx.grad.numpy()} | {k: p.grad.numpy() for k, p in tp.items()}

    assert_close({"out": to_numpy(y.data)}, {"out": to_numpy(out)}, "float64", "conv2d forward")
    assert_close(engine, hand, "float64", "engine vs nnlib's backward")
    assert_close(engine, theirs, "float64", "engine vs torch.autograd")


# --- adding an operation ------------------------------------------------------------------------------
@pytest.fixture
def registry():
    """A test that registers operations leaves ``OPERATIONS`` as it found it."""
    before = dict(A.OPERATIONS)
    yield A.OPERATIONS
    A.OPERATIONS.clear()
    A.OPERATIONS.update(before)


def test_a_new_operation_gets_a_node_broadcasting_and_no_grad_from_the_engine(device, registry):
    @A.operation
    def scaled_add(x, y, scale=2.0):
        return x + scale * y, lambda g: (g, scale * g)

    assert registry["scaled_add"] is scaled_add
    x, y = leaf(np.ones((3, 2)), device), leaf([1.0, 2.0], device)
    out = scaled_add(x, y, 3.0)
    assert out.grad_fn.name == "scaled_add"
    out.sum().backward()
    np.testing.assert_allclose(to_numpy(y.grad), [9.0, 9.0])  # summed over the broadcast axis
    assert x.grad.shape == (3, 2)
    with A.no_grad():
        assert scaled_add(x, y).grad_fn is None


def test_a_gradient_is_kept_in_its_inputs_dtype(device):
    x32, y64 = leaf([1.0, 2.0], device, "float32"), leaf([3.0, 4.0], device)
    (x32 * y64).sum().backward()
    assert x32.grad.dtype == x32.data.dtype and y64.grad.dtype == y64.data.dtype


def test_a_vjp_that_breaks_the_pattern_is_named_in_the_error(registry):
    @A.operation
    def wrong_shape(x):
        return x * 2, lambda g: g[..., :1] * 2

    @A.operation
    def too_few(x, y):
        return x + y, lambda g: g

    @A.operation
    def not_an_array(x):
        return x * 2, lambda g: "two"

    x, y = leaf(np.ones((2, 3)), "numpy"), leaf(np.ones(3), "numpy")
    with pytest.raises(ShapeError, match=r"wrong_shape, argument 0: a gradient of shape \(2, 1\) cannot be "
                                         r"summed back to shape \(2, 3\)"):
        wrong_shape(x).backward(np.ones((2, 3)))
    with pytest.raises(BackwardError, match=r"too_few: its vjp returned 1 gradient\(s\), but positional "
                                            r"argument 1 is a tensor that requires grad"):
        too_few(x, y).sum().backward()
    with pytest.raises(DTypeError, match="not_an_array, argument 0: the vjp must return arrays, got str"):
        not_an_array(x).sum().backward()


def test_the_module_docstring_examples_run(registry):  # the example registers "cube"
    result = doctest.testmod(A)
    assert result.attempted > 0 and result.failed == 0
    assert "cube" in registry


# --- the Tensor itself -----------------------------------------------------------------------------------
def test_tensor_properties_and_constructors(device):
    x = Tensor(to_device(np.zeros((2, 3)), device))
    assert (x.shape, x.ndim, x.dtype, x.device, x.requires_grad, x.grad) == ((2, 3), 2, "float64", device,
                                                                            False, None)
    assert Tensor(2.5).item() == 2.5 and Tensor([[1, 2]]).shape == (1, 2)
    assert Tensor(np.ones((2, 3))).T.shape == (3, 2)
    with A.no_grad():
        assert Tensor(np.ones(2), requires_grad=True).requires_grad  # a leaf made there still requires grad


def test_bad_tensors_are_refused():
    with pytest.raises(DTypeError, match="only float32 and float64 tensors can require grad, got int64"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(DTypeError, match="data must be a NumPy array or torch tensor, got str"):
        Tensor("1.0")
    with pytest.raises(DTypeError, match=r"requires grad .* pass data.detach\(\)"):
        Tensor(torch.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="requires_grad must be True or False, got 1"):
        Tensor(np.ones(2), requires_grad=1)


# --- bad input: clear errors ------------------------------------------------------------------------------
def test_backward_of_a_non_scalar_needs_a_gradient_as_in_pytorch(device):
    x = leaf(np.ones((2, 3)), device)
    with pytest.raises(ShapeError, match=r"only for a scalar output, got an output of shape \(2, 3\); pass "
                                         r"gradient"):
        (x * 2.0).backward()
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (torch.ones((2, 3), requires_grad=True) * 2.0).backward()
    with pytest.raises(ShapeError, match=r"gradient must have the output's shape \(2, 3\), got \(3,\)"):
        (x * 2.0).backward(to_device(np.ones(3), device))
    with pytest.raises(DTypeError, match="gradient must be an array, got list"):
        (x * 2.0).backward([1.0])
    (x * 2.0)[:1, :1].backward()  # one element, shape (1, 1): a scalar J, as in PyTorch
    np.testing.assert_array_equal(to_numpy(x.grad), [[2.0, 0, 0], [0, 0, 0]])


def test_backward_of_a_tensor_that_recorded_nothing_says_why():
    with pytest.raises(BackwardError, match="does not require grad and has no grad_fn"):
        (Tensor(np.ones(1)) * 2.0).backward()


def test_matmul_names_expected_and_got_shapes():
    x = leaf(np.ones((2, 3)), "numpy")
    with pytest.raises(ShapeError, match=r"matmul: x of shape \(2, 3\) needs y.shape\[-2\] = 3, got y of "
                                         r"shape \(4, 5\) \(y.shape\[-2\] = 4\)"):
        x @ leaf(np.ones((4, 5)), "numpy")
    with pytest.raises(ShapeError, match=r"needs y.shape\[0\] = 3, got y of shape \(2,\)"):
        x @ np.ones(2)
    with pytest.raises(ShapeError, match=r"at least one axis, got shapes \(2, 3\) and \(\)"):
        x @ np.ones(())
    with pytest.raises(ShapeError, match=r"batch axes of shapes \(2, 2, 3\) and \(3, 3, 1\) do not"):
        leaf(np.ones((2, 2, 3)), "numpy") @ np.ones((3, 3, 1))


def test_shape_errors_of_the_other_operations():
    x = leaf(np.ones((2, 3)), "numpy")
    with pytest.raises(ShapeError, match=r"mul: shapes \(2, 3\) and \(2,\) do not broadcast"):
        x * np.ones(2)
    with pytest.raises(ShapeError, match=r"sum: dim must be an int in \[-2, 1\].*got 2"):
        x.sum(2)
    with pytest.raises(ShapeError, match=r"sum: dim \(1, -1\) names an axis twice"):
        x.sum((1, -1))
    with pytest.raises(ShapeError, match=r"permute: dims must name each of the 2 axes once, got \(0,\)"):
        x.permute(0)
    with pytest.raises(ShapeError, match="transpose: dim must be an int"):
        x.transpose(0, 5)
    with pytest.raises(ShapeError, match="log_softmax: dim must be an int, got None"):
        A.log_softmax(x, None)


def test_unimplemented_arguments_are_refused_by_name():
    x = leaf(np.ones(3), "numpy")
    with pytest.raises(UnsupportedError, match="pow: exponent must be a number, got ndarray"):
        x ** leaf(np.ones(3), "numpy")
    with pytest.raises(UnsupportedError, match="getitem: only ints, slices, None and ... .* got ndarray"):
        x[np.array([0, 0])]
    with pytest.raises(UnsupportedError, match="got bool"):
        x[True]
    with pytest.raises(UnsupportedError, match="conv2d: padding='same' is not implemented"):
        A.conv2d(leaf(np.ones((1, 1, 3, 3)), "numpy"), np.ones((1, 1, 2, 2)), padding="same")


def test_cross_entropy_checks_its_input_and_target():
    z = leaf(np.zeros((3, 4)), "numpy")
    with pytest.raises(ShapeError, match=r"input must have shape \(N, C\), got \(4,\)"):
        A.cross_entropy(leaf(np.zeros(4), "numpy"), np.array([1]))
    with pytest.raises(DTypeError, match="integer array of class indices, got float64"):
        A.cross_entropy(z, np.zeros(3))
    with pytest.raises(ShapeError, match=r"target must have shape \(3,\).*got \(2,\)"):
        A.cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\] for 4 classes, got values in \[0, 4\]"):
        A.cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'max'"):
        A.cross_entropy(z, np.array([0, 1, 2]), reduction="max")
    with pytest.raises(DTypeError, match="input must be a Tensor, got ndarray"):
        A.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]))


def test_conv2d_checks_its_shapes():
    x = leaf(np.ones((1, 3, 5, 5)), "numpy")
    with pytest.raises(ShapeError, match=r"weight of shape \(2, 2, 3, 3\) with groups=1 expects 2 input "
                                         r"channels.*got an input of shape \(1, 3, 5, 5\)"):
        A.conv2d(x, np.ones((2, 2, 3, 3)))
    with pytest.raises(ShapeError, match=r"bias must have shape \(2,\).*got \(3,\)"):
        A.conv2d(x, np.ones((2, 3, 3, 3)), np.ones(3))
    with pytest.raises(ShapeError, match=r"input must have shape \(N, C, H, W\) or \(C, H, W\)"):
        A.conv2d(leaf(np.ones((3, 5)), "numpy"), np.ones((2, 3, 3, 3)))
    with pytest.raises(ShapeError, match="kernel height 7 is larger than the padded input height 5"):
        A.conv2d(x, np.ones((2, 3, 7, 1)))


def test_tensors_on_different_devices_are_refused():
    pytest.importorskip("torch")
    with pytest.raises(DeviceError, match="different devices"):
        leaf([1.0], "numpy") + leaf([1.0], "cpu")
    with pytest.raises(DeviceError, match="different devices"):
        (leaf([1.0], "cpu") * 2.0).backward(np.ones(1))
