"""MSELoss, CrossEntropyLoss, NLLLoss and BCEWithLogitsLoss: PyTorch's signatures, gradcheck and
torch parity over generated shapes and options (every reduction, weights, ignore_index, label
smoothing, probability targets, pos_weight), stability, PyTorch's edge cases, clear errors, and
what ``criterion.backward()`` returns."""

import inspect
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import BackwardError, DeviceError, DTypeError, ShapeError, UnsupportedError
from loss_checks import LossCase, weight_maker
from loss_checks import check_gradcheck as check_loss_gradcheck
from loss_checks import check_parity as check_loss_parity
from nnlib_cases import LOSS_CASES, SETTINGS, assert_close, check_gradcheck, check_parity, seeds

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


# --- signatures -------------------------------------------------------------------------------------
def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", ["MSELoss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "CTCLoss"])
def test_constructor_and_forward_take_pytorchs_parameters(name):
    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    assert _parameters(ours) == _parameters(theirs)
    assert _parameters(ours.forward) == _parameters(theirs.forward)


def test_cross_entropy_takes_its_weight_first_as_pytorch():
    weight = np.array([1.0, 3.0])
    criterion = nn.CrossEntropyLoss(weight)
    assert criterion.weight is weight and criterion.reduction == "mean"
    reference = torch.nn.CrossEntropyLoss(torch.ones(2))
    assert list(criterion.state_dict()) == list(reference.state_dict()) == ["weight"]


@pytest.mark.parametrize("make", [nn.MSELoss, nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss])
@pytest.mark.parametrize("argument, value", [("size_average", False), ("reduce", True)])
def test_deprecated_arguments_accept_only_none(make, argument, value):
    make(**{argument: None})
    with pytest.raises(UnsupportedError, match=re.escape(f"{argument}={value!r}") + ".*reduction="):
        make(**{argument: value})


# --- generated cases --------------------------------------------------------------------------------
def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@st.composite
def classification(draw, cross_entropy):
    """CrossEntropyLoss (or NLLLoss) on (C), (N, C) or (N, C, d1[, d2]) scores with a random mix
    of options. At least one example is not ignored: a mean over none is nan."""
    rank, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dims = [draw(st.integers(1, 3)) for _ in range(max(rank - 2, 0))]
    shape = (c,) if rank == 1 else (draw(st.integers(1, 3)), c, *dims)
    reduction, weighted = draw(REDUCTIONS), draw(st.booleans())
    smoothing = draw(st.sampled_from([0.0, 0.25])) if cross_entropy else 0.0
    probabilities = cross_entropy and draw(st.booleans())
    ignore = -100 if probabilities else draw(st.sampled_from([-100, -1, 0]))
    if ignore == 0 and c == 1:
        ignore = -100
    rng = np.random.default_rng(draw(seeds))
    x = rng.standard_normal(shape)
    class_axis = 0 if rank == 1 else 1
    if probabilities:
        target = rng.random(shape)
        target /= target.sum(axis=class_axis, keepdims=True)
    else:
        target = rng.integers(0, c, () if rank == 1 else (shape[0], *dims))
        if ignore < 0:
            target = np.where(rng.random(target.shape) < 0.3, ignore, target)
        target.reshape(-1)[0] = (ignore + 1) % c if ignore >= 0 else rng.integers(0, c)
    weight = rng.random(c) + 0.5 if weighted else None
    ours_w, theirs_w = weight_maker(weight)
    options = dict(ignore_index=ignore, reduction=reduction)
    if cross_entropy:
        options["label_smoothing"] = smoothing
        make, make_torch = nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss
    else:
        make, make_torch = nn.NLLLoss, torch.nn.NLLLoss
        x = _log_softmax(x, class_axis)
    label = (f"{make.__name__}(weight={weighted}, {options}) on {shape}, "
             f"{'probability' if probabilities else 'index'} target")
    return LossCase(label, lambda dev, dt: make(weight=ours_w(dev, dt), **options),
                    lambda dt: make_torch(weight=theirs_w(dt), **options), x, (target,))


def _broadcast_shape(draw, shape):
    """A shape that broadcasts to ``shape``: some trailing dims, each kept or set to 1."""
    keep = draw(st.integers(0, len(shape)))
    return tuple(d if draw(st.booleans()) else 1 for d in shape[len(shape) - keep:])


@st.composite
def binary(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    reduction = draw(REDUCTIONS)
    weight_shape = draw(st.sampled_from([None, "broadcast", "full"]))
    pos_shape = draw(st.sampled_from([None, "classes", "full"]))
    rng = np.random.default_rng(draw(seeds))
    x = np.asarray(3 * rng.standard_normal(shape))  # asarray: NumPy's 0-d arithmetic gives scalars
    target = np.asarray((rng.random(shape) < 0.5).astype(float) if draw(st.booleans()) else rng.random(shape))
    weight = None if weight_shape is None else rng.random(
        shape if weight_shape == "full" else _broadcast_shape(draw, shape)) + 0.5
    pos_weight = None if pos_shape is None else 4 * rng.random(
        shape if pos_shape == "full" else shape[-1:]) + 0.1
    w, pw = weight_maker(weight), weight_maker(pos_weight)
    label = (f"BCEWithLogitsLoss({reduction!r}, weight {None if weight is None else weight.shape}, "
             f"pos_weight {None if pos_weight is None else pos_weight.shape}) on {shape}")
    def make(device, dtype):
        return nn.BCEWithLogitsLoss(w[0](device, dtype), reduction=reduction, pos_weight=pw[0](device, dtype))

    def make_torch(dtype):
        return torch.nn.BCEWithLogitsLoss(w[1](dtype), reduction=reduction, pos_weight=pw[1](dtype))

    return LossCase(label, make, make_torch, x, (target,))


@st.composite
def squared_error(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    reduction = draw(REDUCTIONS)
    rng = np.random.default_rng(draw(seeds))
    return LossCase(f"MSELoss({reduction!r}) on {shape}", lambda dev, dt: nn.MSELoss(reduction=reduction),
                    lambda dt: torch.nn.MSELoss(reduction=reduction), rng.standard_normal(shape),
                    (rng.standard_normal(shape),))


# More examples than the layer cases: the options combine (weights × ignore_index × smoothing × …).
OPTION_SETTINGS = settings(SETTINGS, max_examples=30)
OPTION_CASES = {
    "CrossEntropyLoss": classification(cross_entropy=True),
    "NLLLoss": classification(cross_entropy=False),
    "BCEWithLogitsLoss": binary(),
    "MSELoss": squared_error(),
}


@pytest.mark.parametrize("kind", list(OPTION_CASES))
@given(data=st.data())
@OPTION_SETTINGS
def test_every_option_matches_central_differences(kind, device, data):
    check_loss_gradcheck(data.draw(OPTION_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", list(OPTION_CASES))
@given(data=st.data())
@OPTION_SETTINGS
def test_every_option_matches_torch_autograd(kind, device, float_dtype, data):
    case, seed = data.draw(OPTION_CASES[kind], label="case"), data.draw(seeds, label="seed")
    check_loss_parity(case, device, float_dtype, seed)


def _combination(make, make_torch, weighted, ignore_index, reduction, **options):
    """(N, C, d1) = (3, 4, 2) scores whose targets hit ignore_index (1, or -100 in two places)."""
    rng = np.random.default_rng(20)
    x, target = rng.standard_normal((3, 4, 2)), np.array([[0, 1], [2, 3], [1, -100]])
    if ignore_index == 1:
        target[2, 1] = 3
    if make is nn.NLLLoss:
        x = _log_softmax(x, 1)
    ours_w, theirs_w = weight_maker(np.array([0.5, 2.0, 1.0, 3.0]) if weighted else None)
    options = dict(options, ignore_index=ignore_index, reduction=reduction)
    return LossCase(f"{make.__name__}(weight={weighted}, {options})",
                    lambda dev, dt: make(weight=ours_w(dev, dt), **options),
                    lambda dt: make_torch(weight=theirs_w(dt), **options), x, (target,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [None, 0.0, 0.2], ids=["NLLLoss", "CE", "CE-smoothed"])
def test_every_combination_of_class_options_matches_torch_and_central_differences(
        smoothing, weighted, ignore_index, reduction, device):
    if smoothing is None:
        case = _combination(nn.NLLLoss, torch.nn.NLLLoss, weighted, ignore_index, reduction)
    else:
        case = _combination(nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, weighted, ignore_index, reduction,
                            label_smoothing=smoothing)
    check_loss_parity(case, device, "float64", seed=0)
    check_loss_gradcheck(case, device, seed=0)


# The loss cases the layer tests share: a model's parameters get their gradient through the loss.
@pytest.mark.parametrize("kind", list(LOSS_CASES))
@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(kind, device, data):
    check_gradcheck(data.draw(LOSS_CASES[kind], label="case"), device, data.draw(seeds, label="seed"))


@pytest.mark.parametrize("kind", list(LOSS_CASES))
@given(data=st.data())
@SETTINGS
def test_matches_torch_autograd(kind, device, float_dtype, data):
    case, seed = data.draw(LOSS_CASES[kind], label="case"), data.draw(seeds, label="seed")
    check_parity(case, float_dtype, device, seed)


# --- what criterion(...) and criterion.backward() return -----------------------------------------------
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


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"weight": np.array([1.0, 2.0, 0.5])}],
                         ids=["plain", "smoothed", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_stays_finite_for_huge_logits(options, reduction, device, float_dtype):
    logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0], [5e4, 5e4, 5e4]], dtype=float_dtype)
    target = np.array([2, 1, 0])
    weight = options.get("weight")
    ours = dict(options, weight=None if weight is None else to_device(weight.astype(float_dtype), device))
    theirs = dict(options, weight=None if weight is None else torch.as_tensor(weight.astype(float_dtype)))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = _loss_and_grad(nn.CrossEntropyLoss(reduction=reduction, **ours), logits, target, device)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    reference = torch.nn.CrossEntropyLoss(reduction=reduction, **theirs)
    ref_loss, ref_grad = _torch_loss_and_grad(reference, logits, target)
    assert_close({"loss": loss, "grad": grad}, {"loss": ref_loss, "grad": ref_grad}, float_dtype, "logits")
    assert loss >= 250  # the first row costs about 2000: ≥ 0.5 · 2000 / 3.5 of the weighted mean


def test_cross_entropy_is_minus_log_softmax_of_the_target_and_its_gradient_softmax_minus_onehot(device):
    z = np.random.default_rng(0).standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    loss, grad = _loss_and_grad(nn.CrossEntropyLoss(), z, t, device)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(5), t]).mean(), rtol=1e-12)
    np.testing.assert_allclose(grad, (p - np.eye(4)[t]) / 5, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


def test_the_plain_path_and_the_one_with_options_agree(device):
    """The book's default call takes a short path of its own: unit weights give the same numbers."""
    rng = np.random.default_rng(5)
    z, t = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    plain = _loss_and_grad(nn.CrossEntropyLoss(), z, t, device)
    weighted = _loss_and_grad(nn.CrossEntropyLoss(to_device(np.ones(4), device)), z, t, device)
    np.testing.assert_allclose(weighted[0], plain[0], rtol=1e-14)
    np.testing.assert_allclose(weighted[1], plain[1], rtol=1e-13, atol=1e-16)


def test_weighted_mean_divides_by_the_weights_of_the_targets(device):
    """PyTorch's weighted mean: Σ_n w_{t_n} ℓ_n / Σ_n w_{t_n}, ignored examples in neither sum."""
    z = np.random.default_rng(6).standard_normal((4, 3))
    t, w = np.array([0, 2, 2, 1]), np.array([1.0, 4.0, 0.5])
    criterion = nn.CrossEntropyLoss(to_device(w, device), ignore_index=1)
    nll = -_log_softmax(z, 1)[np.arange(4), t]
    keep = t != 1
    expected = (w[t] * nll)[keep].sum() / w[t][keep].sum()
    loss = criterion(to_device(z, device), to_device(t, device))
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-14)


def test_label_smoothing_mixes_the_uniform_distribution_into_the_target(device):
    z = np.random.default_rng(7).standard_normal((3, 5))
    t, eps = np.array([4, 0, 2]), 0.3
    q = (1 - eps) * np.eye(5)[t] + eps / 5
    loss, grad = _loss_and_grad(nn.CrossEntropyLoss(label_smoothing=eps), z, t, device)
    p = np.exp(_log_softmax(z, 1))
    np.testing.assert_allclose(loss, -(q * np.log(p)).sum() / 3, rtol=1e-13)
    np.testing.assert_allclose(grad, (p - q) / 3, rtol=1e-12, atol=1e-16)


def test_probability_targets_of_one_hot_rows_equal_class_indices(device):
    z = np.random.default_rng(8).standard_normal((2, 3, 4))  # (N, C, d1)
    t = np.array([[0, 1, 2, 2], [1, 1, 0, 2]])
    onehot = np.moveaxis(np.eye(3)[t], -1, 1)
    assert onehot.shape == z.shape
    loss, grad = _loss_and_grad(nn.CrossEntropyLoss(), z, onehot, device)
    index_loss, index_grad = _loss_and_grad(nn.CrossEntropyLoss(), z, t, device)
    np.testing.assert_allclose(loss, index_loss, rtol=1e-13)
    np.testing.assert_allclose(grad, index_grad, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2},
                                     {"weight": torch.ones(3, dtype=torch.float64)}],
                         ids=["plain", "smoothed", "weighted"])
@pytest.mark.parametrize("make", [nn.CrossEntropyLoss, nn.NLLLoss], ids=["CrossEntropyLoss", "NLLLoss"])
def test_a_mean_over_only_ignored_examples_is_nan_with_zero_gradients_as_in_pytorch(make, options):
    if make is nn.NLLLoss and "label_smoothing" in options:
        pytest.skip("NLLLoss has no label smoothing")
    z = np.random.default_rng(9).standard_normal((4, 3))
    target = np.full(4, -100)
    ours = dict(options, weight=None if "weight" not in options else options["weight"].numpy())
    loss, grad = _loss_and_grad(make(**ours), z, target, "numpy")
    reference = getattr(torch.nn, make.__name__)(**options)
    ref_loss, ref_grad = _torch_loss_and_grad(reference, z, target)
    assert np.isnan(loss) and np.isnan(ref_loss)
    np.testing.assert_array_equal(grad, ref_grad)
    np.testing.assert_array_equal(grad, 0.0)


def test_a_masked_class_with_minus_infinite_logit_costs_nothing_unless_it_is_the_target():
    z = np.array([[0.5, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    loss, grad = _loss_and_grad(nn.CrossEntropyLoss(), z, np.array([0, 1]), "numpy")
    ref_loss, ref_grad = _torch_loss_and_grad(torch.nn.CrossEntropyLoss(), z, np.array([0, 1]))
    assert np.isfinite(loss) and np.isclose(loss, ref_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-14)
    assert grad[0, 1] == 0.0


@pytest.mark.parametrize("pos_weight", [None, np.array([3.0, 0.5])], ids=["plain", "pos_weight"])
def test_bce_with_logits_stays_finite_for_huge_logits(pos_weight, device, float_dtype):
    x = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [50.0, -50.0]], dtype=float_dtype)
    y = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=float_dtype)
    ours = None if pos_weight is None else to_device(pos_weight.astype(float_dtype), device)
    theirs = None if pos_weight is None else torch.as_tensor(pos_weight.astype(float_dtype))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = _loss_and_grad(nn.BCEWithLogitsLoss(pos_weight=ours), x, y, device)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    ref_loss, ref_grad = _torch_loss_and_grad(torch.nn.BCEWithLogitsLoss(pos_weight=theirs), x, y)
    assert_close({"loss": loss, "grad": grad}, {"loss": ref_loss, "grad": ref_grad}, float_dtype, "logits")
    assert loss >= 2000 / 6  # each of the two confidently wrong rows costs 1000 per element


def test_bce_gradient_is_sigmoid_minus_target_and_pos_weight_scales_the_positives(device):
    x, y = np.array([[-1.0, 0.0, 2.0]]), np.array([[1.0, 0.0, 1.0]])
    sigma = 1 / (1 + np.exp(-x))
    _, grad = _loss_and_grad(nn.BCEWithLogitsLoss(reduction="sum"), x, y, device)
    np.testing.assert_allclose(grad, sigma - y, rtol=1e-14)
    p = np.array([2.0, 5.0, 3.0])
    weighted = nn.BCEWithLogitsLoss(reduction="sum", pos_weight=to_device(p, device))
    loss, grad = _loss_and_grad(weighted, x, y, device)
    np.testing.assert_allclose(loss, -(p * y * np.log(sigma) + (1 - y) * np.log(1 - sigma)).sum(), rtol=1e-14)
    np.testing.assert_allclose(grad, (1 + (p - 1) * y) * sigma - p * y, rtol=1e-14)


@pytest.mark.parametrize("make, target", [
    (nn.MSELoss, np.random.default_rng(2).standard_normal((3, 4))),
    (nn.CrossEntropyLoss, np.array([0, 1, 3])),
    (nn.BCEWithLogitsLoss, np.random.default_rng(2).random((3, 4))),
], ids=["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"])
def test_sum_reduction_is_mean_times_the_count_and_none_the_losses_themselves(make, target, device):
    pred = np.random.default_rng(1).standard_normal((3, 4))
    count = pred.shape[0] if make is nn.CrossEntropyLoss else pred.size
    mean_loss, mean_grad = _loss_and_grad(make(), pred, target, device)
    sum_loss, sum_grad = _loss_and_grad(make(reduction="sum"), pred, target, device)
    np.testing.assert_allclose(sum_loss, mean_loss * count, rtol=1e-12)
    np.testing.assert_allclose(sum_grad, mean_grad * count, rtol=1e-12)
    criterion = make(reduction="none")
    losses = criterion(to_device(pred, device), to_device(target, device))
    assert tuple(losses.shape) == ((3,) if make is nn.CrossEntropyLoss else (3, 4))
    np.testing.assert_allclose(to_numpy(losses).sum(), sum_loss, rtol=1e-12)
    ones = to_device(np.ones(tuple(losses.shape)), device)
    np.testing.assert_allclose(to_numpy(criterion.backward(ones)), sum_grad, rtol=1e-12)


@pytest.mark.parametrize("make, pred, target", [
    (nn.CrossEntropyLoss, np.array([0.3, -1.0, 2.0]), np.array(1)),
    (nn.NLLLoss, np.array([-0.3, -1.0, -2.0]), np.array(2)),
    (lambda **kw: nn.CrossEntropyLoss(label_smoothing=0.1, **kw), np.array([0.3, -1.0]),
     np.array([0.2, 0.8])),
    (nn.MSELoss, np.array(0.5), np.array(-1.0)),
    (nn.BCEWithLogitsLoss, np.array(0.5), np.array(1.0)),
], ids=["CrossEntropyLoss", "NLLLoss", "CrossEntropyLoss(probabilities)", "MSELoss", "BCEWithLogitsLoss"])
def test_the_one_loss_of_an_unbatched_input_needs_no_grad_output_even_with_reduction_none(make, pred, target,
                                                                                         device):
    """As in PyTorch, where a 0-d loss backpropagates without a gradient argument."""
    criterion = make(reduction="none")
    loss = criterion(to_device(pred, device), to_device(target, device))
    assert tuple(loss.shape) == () and device_of(loss) == device
    grad = criterion.backward()
    mean = make()
    mean_loss = mean(to_device(pred, device), to_device(target, device))
    np.testing.assert_allclose(to_numpy(loss), to_numpy(mean_loss))
    np.testing.assert_allclose(to_numpy(grad), to_numpy(mean.backward()), rtol=1e-15)
    assert tuple(grad.shape) == pred.shape and device_of(grad) == device


def test_mse_gradient_is_2_over_n_times_the_difference(device):
    pred, target = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    loss, grad = _loss_and_grad(nn.MSELoss(), pred, target, device)
    np.testing.assert_allclose(loss, ((pred - 1) ** 2).mean())
    np.testing.assert_allclose(grad, 2 * (pred - 1) / 6)


@pytest.mark.parametrize("upstream", [3.0, 3, np.array(3.0)], ids=["float", "int", "0-d array"])
@pytest.mark.parametrize("make, target", [
    (nn.MSELoss, np.zeros((2, 3))), (nn.CrossEntropyLoss, np.array([2, 0])),
    (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), np.array([2, 0])), (nn.NLLLoss, np.array([2, 0])),
    (nn.BCEWithLogitsLoss, np.ones((2, 3))),
], ids=["MSELoss", "CrossEntropyLoss", "CrossEntropyLoss(smoothing)", "NLLLoss", "BCEWithLogitsLoss"])
def test_backward_multiplies_by_the_upstream_gradient(make, target, upstream):
    pred = np.random.default_rng(3).standard_normal((2, 3))
    criterion = make()
    criterion(pred, target)
    unit = criterion.backward()
    criterion(pred, target)
    np.testing.assert_allclose(criterion.backward(upstream), 3 * unit, rtol=1e-15)


@pytest.mark.parametrize("label_dtype", ["int64", "int32", "int16", "uint8"])
@pytest.mark.parametrize("make", [nn.CrossEntropyLoss, nn.NLLLoss], ids=["CrossEntropyLoss", "NLLLoss"])
def test_class_losses_accept_any_integer_label_dtype(make, label_dtype):
    z = np.random.default_rng(4).standard_normal((3, 5))
    reference = make()(z, np.array([4, 0, 2]))
    assert make()(z, np.array([4, 0, 2], dtype=label_dtype)) == reference


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_reduced_loss_is_a_0d_array_as_torch_gives_a_0d_tensor(reduction):
    z, u = np.random.default_rng(15).standard_normal((2, 3)), _log_softmax(np.zeros((4, 1, 3)), 2)
    t = np.array([0, 2])
    losses = [nn.MSELoss(reduction=reduction)(z, z), nn.CrossEntropyLoss(reduction=reduction)(z, t),
              nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)(z, t),
              nn.NLLLoss(reduction=reduction)(z, t), nn.BCEWithLogitsLoss(reduction=reduction)(z, z),
              nn.CTCLoss(reduction=reduction)(u, np.array([[1, 2]]), (4,), (2,))]
    assert all(isinstance(loss, np.ndarray) and loss.shape == () for loss in losses)


def test_loss_value_converts_to_a_python_float(device):
    loss = nn.MSELoss()(to_device(np.ones((2, 2)), device), to_device(np.zeros((2, 2)), device))
    assert loss.item() == 1.0 and float(loss) == 1.0


def test_weights_are_buffers_that_move_and_convert_with_the_criterion(torch_device):
    assert list(nn.BCEWithLogitsLoss().state_dict()) == list(torch.nn.BCEWithLogitsLoss().state_dict()) == []
    criterion = nn.BCEWithLogitsLoss(np.ones(3), pos_weight=np.full(3, 2.0))
    assert list(criterion.state_dict()) == ["weight", "pos_weight"]
    criterion.to(torch_device, dtype="float32")
    assert device_of(criterion.pos_weight) == torch_device and dtype_name(criterion.weight) == "float32"
    x = to_device(np.zeros((2, 3), np.float32), torch_device)
    assert device_of(criterion(x, x)) == torch_device
    with pytest.raises(DeviceError, match="buffer 'weight'"):
        criterion(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))


def test_no_warnings_for_nan_means():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = nn.NLLLoss(reduction="mean")(np.zeros((2, 3)), np.array([-100, -100]))
    assert np.isnan(loss)


def test_repr_names_the_options_that_differ_from_the_defaults():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"
    assert repr(nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)) == \
        "CrossEntropyLoss(reduction='mean', ignore_index=0, label_smoothing=0.1)"


# --- errors ------------------------------------------------------------------------------------------------
Z = np.zeros((4, 3))
LABELS = np.array([0, 1, 2, 1])


def _forward(make, *arguments):
    return lambda: make()(*arguments)


def _backward(make, arguments, *grad):
    def run():
        criterion = make()
        criterion(*arguments)
        criterion.backward(*grad)
    return run


ERRORS = [
    (_forward(nn.CrossEntropyLoss, Z, np.array([0, 1, 5, 1])), ValueError,
     ["[0, 2]", "ignore_index=-100", "[0, 5]"]),
    (_forward(lambda: nn.CrossEntropyLoss(ignore_index=5), Z, np.array([0, 5, -1, 1])), ValueError,
     ["ignore_index=5", "[-1, 1]"]),
    (_forward(nn.CrossEntropyLoss, np.zeros((2, 3, 4)), np.zeros((2, 3), np.int64)), ShapeError,
     ["(2, 4)", "(2, 3, 4)", "got (2, 3)"]),
    (_forward(nn.CrossEntropyLoss, np.zeros(3), np.array([1])), ShapeError, ["shape ()", "(3,)", "got (1,)"]),
    (_forward(nn.CrossEntropyLoss, np.zeros(()), np.array(0)), ShapeError,
     ["(C), (N, C) or (N, C, d1, …)", "()"]),
    (_forward(nn.CrossEntropyLoss, Z, np.zeros((4, 2))), ShapeError,
     ["class indices of shape (4,)", "probabilities of the logits' shape (4, 3)", "(4, 2)"]),
    (_forward(nn.CrossEntropyLoss, Z, np.ones((4, 3), np.float32)), DTypeError, ["float32", "float64"]),
    (_forward(lambda: nn.CrossEntropyLoss(ignore_index=1), Z, np.ones((4, 3))), ValueError,
     ["ignore_index=1", "probability"]),
    (_forward(lambda: nn.CrossEntropyLoss(np.ones(4)), Z, LABELS), ShapeError, ["(3,)", "got (4,)"]),
    (_forward(lambda: nn.CrossEntropyLoss(np.ones(4)), Z, np.ones((4, 3))), ShapeError, ["(3,)", "got (4,)"]),
    (_forward(lambda: nn.CrossEntropyLoss(np.ones(3, np.float32)), Z, LABELS), DTypeError,
     ["float64", "float32", "buffer 'weight'"]),
    (_forward(nn.NLLLoss, Z, LABELS.astype(float)), DTypeError, ["integer class indices", "float64"]),
    (_forward(nn.NLLLoss, Z, np.array([0, 1, 2, 3])), ValueError, ["[0, 2]", "[0, 3]"]),
    (_forward(nn.NLLLoss, Z, [0, 1, 2, 1]), DTypeError, ["integer array", "list"]),
    (_forward(nn.NLLLoss, Z, np.array([True, False, True, True])), DTypeError, ["integer", "bool"]),
    (_forward(nn.BCEWithLogitsLoss, Z, np.ones((4, 1))), ShapeError, ["(4, 3)", "(4, 1)"]),
    (_forward(nn.BCEWithLogitsLoss, Z, np.ones((4, 3), np.int64)), DTypeError, ["float labels", "int64"]),
    (_forward(nn.BCEWithLogitsLoss, Z, np.ones((4, 3), np.float32)), DTypeError, ["float32", "float64"]),
    (_forward(lambda: nn.BCEWithLogitsLoss(pos_weight=np.ones(2)), Z, np.ones((4, 3))), ShapeError,
     ["pos_weight", "(2,)", "(4, 3)"]),
    (_forward(lambda: nn.BCEWithLogitsLoss(np.ones((2, 4, 3))), Z, np.ones((4, 3))), ShapeError,
     ["weight", "(2, 4, 3)", "(4, 3)"]),
    (_backward(lambda: nn.MSELoss(reduction="none"), (Z, Z)), DTypeError,
     ["reduction='none'", "(4, 3)", "grad_output", "float"]),
    (_backward(lambda: nn.CrossEntropyLoss(reduction="none"), (Z, LABELS), np.ones(3)), ShapeError,
     ["output (4)", "got (3)"]),
    (_backward(lambda: nn.BCEWithLogitsLoss(reduction="none"), (Z, Z), np.ones((4, 3), np.float32)),
     DTypeError, ["grad_output", "float32", "float64"]),
    (_backward(nn.NLLLoss, (Z, LABELS), np.ones(4)), ShapeError, ["scalar", "(4,)"]),
    (lambda: nn.NLLLoss(reduction="none").backward(np.ones(4)), BackwardError, ["without a forward pass"]),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError, ["label_smoothing", "[0, 1]", "1.5"]),
    (lambda: nn.CrossEntropyLoss(label_smoothing=-0.1), ValueError, ["label_smoothing", "-0.1"]),
    (lambda: nn.CrossEntropyLoss(label_smoothing="0.1"), ValueError, ["label_smoothing", "'0.1'"]),
    (lambda: nn.CrossEntropyLoss(ignore_index=1.0), TypeError, ["ignore_index", "integer", "1.0"]),
    (lambda: nn.NLLLoss(weight=[1.0, 2.0]), DTypeError, ["weight", "list"]),
    (lambda: nn.NLLLoss(weight=np.ones((1, 3))), ShapeError, ["1-D", "(1, 3)"]),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=np.ones(3, np.int64)), DTypeError, ["pos_weight", "int64"]),
    (lambda: nn.MSELoss(reduction="avg"), ValueError, ["'none'", "'mean'", "'sum'", "'avg'"]),
]


@pytest.mark.parametrize("run, error, fragments", ERRORS, ids=[f"error-{i}" for i in range(len(ERRORS))])
def test_bad_arguments_get_a_clear_error(run, error, fragments):
    with pytest.raises(error) as info:
        run()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"
