"""CTCLoss: the α/β recursions against a brute-force sum over every alignment, gradcheck, torch
parity (losses; gradients through a log-softmax, and PyTorch's own convention for the gradient
with respect to log_probs), lengths, target layouts, impossible alignments, and clear errors."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.backend import to_device, to_numpy
from nnlib.errors import DeviceError, DTypeError, ShapeError
from nnlib.nn.functional import log_softmax
from loss_checks import LossCase, check_gradcheck
from nnlib_cases import SETTINGS, assert_close, seeds


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _frames_needed(sequence):
    """The fewest frames that can spell ``sequence``: one per label, one blank between repeats."""
    return len(sequence) + sum(a == b for a, b in zip(sequence[:-1], sequence[1:]))


@st.composite
def ctc_case(draw):
    """A feasible batch (every sequence has enough frames), in every layout nnlib takes."""
    unbatched = draw(st.booleans())
    n, c = 1 if unbatched else draw(st.integers(1, 3)), draw(st.integers(2, 4))
    blank = draw(st.integers(0, c - 1))
    rng = np.random.default_rng(draw(seeds))
    labels = [k for k in range(c) if k != blank]
    sequences = [rng.choice(labels, size=draw(st.integers(0, 3))) for _ in range(n)]
    needed = [max(_frames_needed(list(s)), 1) for s in sequences]
    frames = max(needed) + draw(st.integers(0, 2))
    input_lengths = np.array([draw(st.integers(k, frames)) for k in needed])
    target_lengths = np.array([len(s) for s in sequences])
    layout = "1-D" if unbatched else draw(st.sampled_from(["padded", "concatenated"]))
    if layout == "padded":  # the padding holds anything, blanks included: it is never read
        targets = rng.integers(0, c, (n, target_lengths.max() + draw(st.integers(0, 1))))
        for i, s in enumerate(sequences):
            targets[i, :len(s)] = s
    else:
        targets = np.concatenate(sequences).astype(np.int64)
    targets = targets.astype(draw(st.sampled_from(["int64", "int32"])))
    if unbatched:
        input_lengths, target_lengths = np.array(input_lengths[0]), np.array(target_lengths[0])
    elif draw(st.booleans()):
        input_lengths, target_lengths = tuple(input_lengths.tolist()), tuple(target_lengths.tolist())
    reduction, zero_infinity = draw(st.sampled_from(["mean", "sum", "none"])), draw(st.booleans())
    x = _log_softmax(rng.standard_normal((frames, c) if unbatched else (frames, n, c)))
    options = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    label = (f"CTCLoss({options}) on {x.shape}, {layout} targets {targets.tolist()}, "
             f"lengths {np.asarray(input_lengths).tolist()} / {np.asarray(target_lengths).tolist()}")
    return LossCase(label, lambda dev, dt: nn.CTCLoss(**options), lambda dt: torch.nn.CTCLoss(**options), x,
                    (targets, input_lengths, target_lengths))


def _through_log_softmax(grad, log_probs):
    return grad - np.exp(log_probs) * grad.sum(axis=-1, keepdims=True)


@given(data=st.data())
@SETTINGS
def test_backward_matches_central_differences(device, data):
    check_gradcheck(data.draw(ctc_case(), label="case"), device, data.draw(seeds, label="seed"))


@given(data=st.data())
@SETTINGS
def test_loss_and_gradient_through_log_softmax_match_torch_autograd(device, float_dtype, data):
    """A model's logits z → log_softmax → CTCLoss: the loss and ∂J/∂z equal PyTorch's."""
    case, seed = data.draw(ctc_case(), label="case"), data.draw(seeds, label="seed")
    logits = (case.input + np.random.default_rng(seed).standard_normal(case.input.shape)).astype(float_dtype)
    bound = case.bound(device, float_dtype)
    out = bound(log_softmax(to_device(logits, device), dim=-1))
    reference = case.torch_bound(float_dtype)
    ref = reference(torch.log_softmax(torch.as_tensor(logits), dim=-1))
    assert_close({"loss": to_numpy(out)}, {"loss": ref.detach().numpy()}, float_dtype, case.label)

    model = nn.Sequential(nn.LogSoftmax(dim=-1), case.bound(device, float_dtype))
    ours = gc.analytic_gradients(model, to_device(logits, device), seed=seed)
    torch_model = torch.nn.Sequential(torch.nn.LogSoftmax(dim=-1), reference)
    theirs = gc.autograd_gradients(torch_model, logits, seed=seed)
    assert_close(ours, theirs, float_dtype, case.label)


@given(data=st.data())
@SETTINGS
def test_pytorch_returns_the_gradient_through_a_log_softmax_with_respect_to_log_probs(device, data):
    """PyTorch's backward gives exp(u) − γ where the derivative is −γ (the module docstring says
    why models agree): its gradient is nnlib's mapped through log_softmax's backward."""
    case, seed = data.draw(ctc_case(), label="case"), data.draw(seeds, label="seed")
    ours = gc.analytic_gradients(case.bound(device, "float64"), to_device(case.input, device), seed=seed)
    theirs = gc.autograd_gradients(case.torch_bound("float64"), case.input, seed=seed)
    assert_close({"input": _through_log_softmax(ours["input"], case.input)}, theirs, "float64", case.label)
    assert np.abs(ours["input"] - theirs["input"]).max() > 1e-3 or np.abs(theirs["input"]).max() == 0.0


# --- the recursions against every alignment ------------------------------------------------------------
def _collapse(path, blank):
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in merged if k != blank)


def _brute_force(u, target, blank):
    """−log Σ_{π: B(π) = target} Π_t e^{u_t(π_t)} and its gradient, alignment by alignment."""
    frames, classes = u.shape
    total, occupancy = 0.0, np.zeros_like(u)
    for path in itertools.product(range(classes), repeat=frames):
        if _collapse(path, blank) == tuple(target):
            probability = np.exp(sum(u[t, k] for t, k in enumerate(path)))
            total += probability
            occupancy[np.arange(frames), list(path)] += probability
    return -np.log(total), -occupancy / total


@pytest.mark.parametrize("normalized", [True, False], ids=["log-probs", "any-scores"])
@pytest.mark.parametrize("target, blank", [((), 0), ((1,), 0), ((1, 2), 0), ((1, 1), 0), ((2, 1, 2), 0),
                                           ((0, 0), 2), ((1, 0, 1), 2)])
def test_loss_and_gradient_equal_the_sum_over_all_alignments(target, blank, normalized, device):
    rng = np.random.default_rng(len(target) + 10 * blank)
    u = rng.standard_normal((5, 3))
    u = _log_softmax(u) if normalized else u
    expected_loss, expected_grad = _brute_force(u, target, blank)
    criterion = nn.CTCLoss(blank=blank, reduction="sum")
    loss = criterion(to_device(u, device), to_device(np.array(target, dtype=np.int64), device),
                     np.array(5), np.array(len(target)))
    np.testing.assert_allclose(to_numpy(loss), expected_loss, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(criterion.backward()), expected_grad, rtol=1e-10, atol=1e-14)


def test_a_shorter_input_length_uses_only_its_frames_and_gets_no_gradient_after_them(device):
    u = _log_softmax(np.random.default_rng(11).standard_normal((6, 2, 3)))
    criterion = nn.CTCLoss(reduction="none")
    losses = criterion(to_device(u, device), to_device(np.array([[1, 2], [2, 2]]), device), (6, 4), (2, 2))
    grad = to_numpy(criterion.backward(to_device(np.ones(2), device)))
    for n, (frames, target) in enumerate([(6, (1, 2)), (4, (2, 2))]):
        expected_loss, expected_grad = _brute_force(u[:frames, n], target, 0)
        np.testing.assert_allclose(to_numpy(losses)[n], expected_loss, rtol=1e-12)
        np.testing.assert_allclose(grad[:frames, n], expected_grad, rtol=1e-10, atol=1e-14)
        assert (grad[frames:, n] == 0).all()


# --- reductions, layouts, lengths ----------------------------------------------------------------------
def _batch():
    u = _log_softmax(np.random.default_rng(12).standard_normal((7, 3, 5)))
    padded = np.array([[1, 2, 2, 4], [3, 1, 0, 0], [4, 4, 4, 4]])  # padding never read
    return u, padded, np.array([7, 5, 6]), np.array([3, 2, 0])


def test_mean_divides_each_loss_by_its_target_length_before_averaging():
    u, targets, il, tl = _batch()
    losses = nn.CTCLoss(reduction="none")(u, targets, il, tl)
    mean = nn.CTCLoss()(u, targets, il, tl)
    np.testing.assert_allclose(mean, np.mean(losses / np.maximum(tl, 1)), rtol=1e-14)
    np.testing.assert_allclose(nn.CTCLoss(reduction="sum")(u, targets, il, tl), losses.sum(), rtol=1e-14)


def test_concatenated_targets_unbatched_input_and_length_types_mean_the_same():
    u, padded, il, tl = _batch()
    concatenated = np.concatenate([padded[n, :tl[n]] for n in range(3)])
    criterion = nn.CTCLoss(reduction="none")
    reference = criterion(u, padded, il, tl)
    as_sequences = criterion(u, concatenated, tuple(il.tolist()), list(tl.tolist()))
    np.testing.assert_array_equal(as_sequences, reference)
    np.testing.assert_array_equal(criterion(u, padded.astype(np.int32), il.astype(np.int32), tl), reference)
    for n in range(3):
        one = criterion(u[:, n], padded[n, :tl[n]], np.array(il[n]), int(tl[n]))
        assert one.shape == () and one == reference[n]


def test_one_unbatched_sequence_needs_no_grad_output_even_with_reduction_none(device):
    u, padded, il, tl = _batch()
    arguments = (to_device(u[:, 0], device), to_device(padded[0, :3], device), np.array(7), np.array(3))
    criterion, total = nn.CTCLoss(reduction="none"), nn.CTCLoss(reduction="sum")
    np.testing.assert_array_equal(to_numpy(criterion(*arguments)), to_numpy(total(*arguments)))
    np.testing.assert_array_equal(to_numpy(criterion.backward()), to_numpy(total.backward()))


def test_input_length_zero_spells_only_the_empty_sequence_as_in_pytorch():
    u, targets, _, _ = _batch()
    il, tl = np.array([0, 0, 7]), np.array([0, 2, 1])
    losses = nn.CTCLoss(reduction="none")(u, targets, il, tl)
    reference = torch.nn.CTCLoss(reduction="none")(torch.as_tensor(u), torch.as_tensor(targets),
                                                   torch.as_tensor(il), torch.as_tensor(tl)).numpy()
    assert losses[0] == 0.0 and losses[1] == np.inf and reference[1] == np.inf
    np.testing.assert_allclose(losses, reference, rtol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_an_impossible_alignment_is_inf_with_nan_gradients_unless_zero_infinity(reduction, zero_infinity,
                                                                                 device):
    """Three 1s need five frames (1 ∅ 1 ∅ 1): with four the loss is inf, as in PyTorch."""
    u = _log_softmax(np.random.default_rng(13).standard_normal((4, 2, 3)))
    targets, il, tl = np.array([[1, 1, 1], [2, 1, 0]]), np.array([4, 4]), np.array([3, 2])
    criterion = nn.CTCLoss(reduction=reduction, zero_infinity=zero_infinity)
    loss = criterion(to_device(u, device), to_device(targets, device), il, tl)
    upstream = to_device(np.array([1.0, 2.0]) if reduction == "none" else np.array(1.0), device)
    grad = to_numpy(criterion.backward(upstream))
    x = torch.tensor(u, requires_grad=True)
    ref = torch.nn.CTCLoss(reduction=reduction, zero_infinity=zero_infinity)(
        x, torch.as_tensor(targets), torch.as_tensor(il), torch.as_tensor(tl))
    (ref * torch.as_tensor(to_numpy(upstream))).sum().backward()
    np.testing.assert_allclose(to_numpy(loss), ref.detach().numpy(), rtol=1e-13)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(x.grad.numpy()))
    assert np.isnan(grad[:, 0]).all() != zero_infinity
    if zero_infinity:
        assert (grad[:, 0] == 0).all()
    finite = ~np.isnan(grad)
    assert_close({"grad": _through_log_softmax(grad, u)[finite]}, {"grad": x.grad.numpy()[finite]}, "float64",
                 "the possible sequence")


def test_typical_speech_sizes_run_in_moderate_time():
    """PyTorch's own sample size: 50 frames, 3 sequences of up to 30 labels, 15 classes."""
    rng = np.random.default_rng(14)
    u = _log_softmax(rng.standard_normal((50, 3, 15)))
    targets = rng.integers(1, 15, (3, 30))
    criterion = nn.CTCLoss()
    loss = criterion(u, targets, (50, 50, 50), (30, 25, 20))
    reference = torch.nn.CTCLoss()(torch.as_tensor(u), torch.as_tensor(targets), (50, 50, 50), (30, 25, 20))
    np.testing.assert_allclose(loss, reference.numpy(), rtol=1e-12)
    assert np.isfinite(criterion.backward()).all()


# --- errors ------------------------------------------------------------------------------------------------
U = _log_softmax(np.zeros((5, 2, 4)))
TARGETS = np.array([[1, 2], [3, 3]])


def _call(*arguments, make=nn.CTCLoss):
    return lambda: make()(*arguments)


ERRORS = [
    (_call(U[:, 0, 0], TARGETS, (5, 5), (2, 2)), ShapeError, ["(T, N, C) or (T, C)", "(5,)"]),
    (_call(U[None], TARGETS, (5, 5), (2, 2)), ShapeError, ["(T, N, C) or (T, C)", "(1, 5, 2, 4)"]),
    (_call(U, TARGETS, (5, 5), (2, 2), make=lambda: nn.CTCLoss(blank=4)), ValueError, ["blank=4", "[0, 3]"]),
    (_call(U, TARGETS, (6, 5), (2, 2)), ValueError, ["input_lengths", "[0, 5]", "[6, 5]"]),
    (_call(U, TARGETS, (5, 5), (2, -1)), ValueError, ["target_lengths", "non-negative", "[2, -1]"]),
    (_call(U, TARGETS, (5, 5), (3, 2)), ShapeError, ["(N=2, S)", "3", "(2, 2)"]),
    (_call(U, np.array([1, 2, 3]), (5, 5), (2, 2)), ShapeError, ["Σ target_lengths = 4", "3"]),
    (_call(U, np.array([[1, 0], [3, 3]]), (5, 5), (2, 2)), ValueError,
     ["other than blank=0", "sequence 0", "[0]"]),
    (_call(U, np.array([[1, 2], [3, 4]]), (5, 5), (2, 2)), ValueError, ["[0, 3]", "sequence 1", "[4]"]),
    (_call(U, TARGETS.astype(float), (5, 5), (2, 2)), DTypeError, ["targets", "integer", "float64"]),
    (_call(U, TARGETS.tolist(), (5, 5), (2, 2)), DTypeError, ["targets", "list"]),
    (_call(U, TARGETS, np.array([5.0, 5.0]), (2, 2)), DTypeError, ["input_lengths", "float64"]),
    (_call(U, TARGETS, (5.0, 5), (2, 2)), DTypeError, ["input_lengths", "(5.0, 5)"]),
    (_call(U, TARGETS, (5, 5, 5), (2, 2)), ShapeError, ["input_lengths", "(2,)", "(3,)"]),
    (_call(U, TARGETS, 5, (2, 2)), DTypeError, ["input_lengths", "5"]),
    (_call(U[:, 0], TARGETS, np.array(5), np.array(2)), ShapeError, ["1-D (S,)", "(2, 2)"]),
    (_call(U[:, 0], TARGETS[0], (5,), np.array(2)), ShapeError, ["input_lengths", "shape ()", "(1,)"]),
    (_call(U.astype(np.int64), TARGETS, (5, 5), (2, 2)), DTypeError, ["log_probs", "int64"]),
    (lambda: nn.CTCLoss(blank=-1), ValueError, ["blank", "-1"]),
    (lambda: nn.CTCLoss(blank=True), ValueError, ["blank", "True"]),
    (lambda: nn.CTCLoss(zero_infinity="no"), TypeError, ["zero_infinity", "'no'"]),
    (lambda: nn.CTCLoss(reduction="avg"), ValueError, ["'none'", "'avg'"]),
]


@pytest.mark.parametrize("run, error, fragments", ERRORS, ids=[f"error-{i}" for i in range(len(ERRORS))])
def test_bad_arguments_get_a_clear_error(run, error, fragments):
    with pytest.raises(error) as info:
        run()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_targets_on_another_device_and_a_missing_grad_output_are_refused(torch_device):
    with pytest.raises(DeviceError, match="targets has device"):
        nn.CTCLoss()(U, to_device(TARGETS, torch_device), (5, 5), (2, 2))
    criterion = nn.CTCLoss(reduction="none")
    criterion(to_device(U, torch_device), to_device(TARGETS, torch_device), (5, 5), (2, 2))
    with pytest.raises(DTypeError, match=r"reduction='none'.*\(2\)"):
        criterion.backward()
    assert tuple(criterion.backward(to_device(np.ones(2), torch_device)).shape) == U.shape

