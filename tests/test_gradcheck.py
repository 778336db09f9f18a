"""The checker itself: gradcheck must catch a deliberately wrong backward (a check that could
not fail would prove nothing), name the wrong gradient, and leave the module as it found it."""

import numpy as np
import pytest
import torch

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.errors import DTypeError
from nnlib_cases import Case, check_parity


class ForgetsTheBias(nn.Linear):
    """∂J/∂b never accumulated."""

    def backward(self, grad_output):
        bias, self.bias = self.bias, None
        try:
            return super().backward(grad_output)
        finally:
            self.bias = bias


class TransposedWeightGradient(nn.Linear):
    """∂J/∂W written as hᵀδ (transposed) — same shape when the layer is square."""

    def backward(self, grad_output):
        (x,) = self.saved_for_backward(grad_output)
        self.weight.accumulate_grad(x.T @ grad_output)
        self.bias.accumulate_grad(grad_output.sum(axis=0))
        return grad_output @ self.weight.data


class SigmoidSlopeOff(nn.Sigmoid):
    """σ' = σ(1 − σ) off by 0.1 %: small, but far beyond what central differences allow."""

    def backward(self, grad_output):
        return 1.001 * super().backward(grad_output)


class TanhWithSigmoidDerivative(nn.Tanh):
    """A classic mix-up: tanh' taken as y(1 − y)."""

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return grad_output * y * (1 - y)


BROKEN = [  # a broken nnlib module with its correct torch twin, and the gradients that must be flagged
    pytest.param(Case("bias forgotten", lambda dt: ForgetsTheBias(3, 2, dtype=dt),
                      lambda dt: torch.nn.Linear(3, 2, dtype=dt), (4, 3)), {"bias"}, id="bias-forgotten"),
    pytest.param(Case("weight transposed", lambda dt: TransposedWeightGradient(3, 3, dtype=dt),
                      lambda dt: torch.nn.Linear(3, 3, dtype=dt), (4, 3)),
                 {"weight"}, id="weight-transposed"),
    pytest.param(Case("sigmoid slope", lambda dt: SigmoidSlopeOff(), lambda dt: torch.nn.Sigmoid(), (3, 2)),
                 {"input"}, id="sigmoid-slope-0.1%"),
    pytest.param(Case("tanh derivative", lambda dt: TanhWithSigmoidDerivative(),
                      lambda dt: torch.nn.Tanh(), (3, 2)),
                 {"input"}, id="tanh-derivative"),
]


def _x(shape, device="numpy"):
    return nnlib.to_device(np.random.default_rng(0).standard_normal(shape), device)


@pytest.mark.parametrize("case, wrong", BROKEN)
def test_gradcheck_catches_a_wrong_backward_and_names_the_gradient(case, wrong, device):
    module = case.make("float64").to(device)
    x = nnlib.to_device(case.input(0, "float64"), device)
    table = gc.gradcheck(module, x, raise_on_failure=False)
    assert not table.passed
    assert {row[0] for row in table.rows if not row[3]} == wrong
    with pytest.raises(AssertionError, match="backward disagrees with central differences") as info:
        gc.gradcheck(module, x)
    assert all(name in str(info.value) for name in wrong)


@pytest.mark.parametrize("case, wrong", BROKEN)
def test_the_torch_parity_check_catches_a_wrong_backward_too(case, wrong, device, float_dtype):
    """check_parity (used by test_layers.py / test_losses.py) is not vacuous, even in float32."""
    with pytest.raises(AssertionError) as info:
        check_parity(case, float_dtype, device, seed=0)
    assert any(f"{case.label}, {name}:" in str(info.value) for name in wrong)


def test_a_correct_backward_passes_with_a_table_for_every_gradient(device):
    nnlib.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(),
                          nn.Linear(4, 2, dtype="float64")).to(device)
    table = gc.gradcheck(model, _x((5, 3), device))
    assert table.passed and table.max_relative_error < 1e-7
    assert [row[0] for row in table.rows] == ["input", "0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(row[1] == "nnlib vs finite differences" for row in table.rows)
    text = str(table)
    assert text.splitlines()[0].split() == ["gradient", "compared", "exact", "close", "max", "abs", "diff",
                                            "relative", "error"]
    assert len(text.splitlines()) == 2 + len(table.rows)
    html = table._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 1 + len(table.rows)


def test_gradcheck_leaves_parameters_and_inputs_as_they_were(device):
    nnlib.manual_seed(0)
    model = nn.Linear(3, 2, dtype="float64").to(device)
    x = _x((4, 3), device)
    before_w, before_x = nnlib.to_numpy(model.weight.data).copy(), nnlib.to_numpy(x).copy()
    gc.gradcheck(model, x)
    np.testing.assert_array_equal(nnlib.to_numpy(model.weight.data), before_w)
    np.testing.assert_array_equal(nnlib.to_numpy(x), before_x)
    assert model.weight.device == device and model.weight.dtype == "float64"


def test_gradcheck_reseeds_nnlib_before_every_evaluation_and_leaves_torch_alone(device):
    """A dropout mask is drawn anew in every forward pass: the check passes only if each evaluation
    draws the same one (nnlib's generator reseeded); torch's generator is not nnlib's to reset."""
    nnlib.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5, dtype="float64"), nn.Dropout(0.5)).to(device)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    assert gc.gradcheck(model, _x((4, 3), device)).passed
    assert torch.equal(torch.get_rng_state(), state)


def test_seed_nnlib_seeds_nnlibs_generator_only():
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    first = nnlib.rng.seed_nnlib(7).random(3)
    np.testing.assert_array_equal(nnlib.rng.seed_nnlib(7).random(3), first)
    assert torch.equal(torch.rand(2), expected)
    with pytest.raises(ValueError, match="non-negative integer, got -1"):
        nnlib.rng.seed_nnlib(-1)


def test_numerical_gradients_of_a_known_function():
    """J = Σ R ⊙ x² has ∂J/∂x = 2 R x; the central difference is exact for a quadratic."""
    class Square(nn.Module):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

    x = _x((2, 3))
    r = gc.analytic_gradients(nn.Identity(), x, seed=4)["input"]  # ∂J/∂x of J = Σ R ⊙ x is R
    np.testing.assert_allclose(gc.numerical_gradients(Square(), x, seed=4)["input"], 2 * r * x, rtol=1e-8)


def test_loss_objective_and_integer_inputs():
    """With loss=(criterion, target), J is the loss; integer inputs get no gradient entry."""
    nnlib.manual_seed(0)
    model = nn.Linear(3, 4, dtype="float64")
    loss = (nn.CrossEntropyLoss(), np.array([0, 3]))
    grads = gc.analytic_gradients(model, _x((2, 3)), loss=loss)
    assert set(grads) == {"input", "weight", "bias"}
    assert gc.gradcheck(model, _x((2, 3)), loss=loss).passed


def test_gradcheck_refuses_float32():
    with pytest.raises(DTypeError, match="float64"):
        gc.gradcheck(nn.Linear(2, 2), np.ones((1, 2), np.float32))
    with pytest.raises(DTypeError, match="float64"):
        gc.numerical_gradients(nn.Tanh(), np.ones((1, 2), np.float32))


def test_compare_marks_exact_close_and_far():
    ref = {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 2.0]), "c": np.array([1.0, 2.0])}
    other = {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 2.0 + 1e-12]), "c": np.array([1.0, 2.1])}
    table = gc.compare({"ref": ref, "other": other})
    assert [(row[0], row[2], row[3]) for row in table.rows] == [("a", True, True), ("b", False, True),
                                                                ("c", False, False)]
    assert not table.passed
    assert table.rows[2][4] == pytest.approx(0.1) and table.rows[2][5] == pytest.approx(0.1 / 2.1)


@pytest.mark.parametrize("sets, error, message", [
    ({"only": {"a": np.ones(1)}}, ValueError, "at least two"),
    ({"x": {"a": np.ones(1)}, "y": {"b": np.ones(1)}}, KeyError, "no gradient named 'a'"),
    ({"x": {"a": np.ones(2)}, "y": {"a": np.ones(3)}}, ValueError, r"\(2,\).*\(3,\)"),
])
def test_compare_rejects_mismatched_sets(sets, error, message):
    with pytest.raises(error, match=message):
        gc.compare(sets)


@pytest.mark.parametrize("a, b, expected", [
    (np.zeros(3), np.zeros(3), 0.0), (np.array([1.0, -4.0]), np.array([1.0, -3.0]), 0.25),
    (np.zeros(2), np.array([0.0, 2.0]), 1.0),
])
def test_relative_error(a, b, expected):
    assert gc.relative_error(a, b) == expected
