"""RNN, LSTM, GRU: hand-written BPTT against torch.autograd and central differences.

Parity compares the output, h_n (and c_n) and every gradient — input, initial states, all
weights of all layers — with the gradient entering through the output sequence only, through
the final state only, or both.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.errors import BackwardError, DeviceError, DTypeError, ShapeError

torch = pytest.importorskip("torch")
from recurrent_cases import CELLS, WithStateInputs, check_parity, make_pair  # noqa: E402  (needs torch)

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("cell", list(CELLS))
@SETTINGS
@given(num_layers=st.integers(1, 3), seq_len=st.integers(1, 6), batch=st.integers(1, 3),
       input_size=st.integers(1, 4), hidden_size=st.integers(1, 4), batch_first=st.booleans(),
       with_hx=st.booleans(), flow=st.sampled_from(["output", "state", "both"]), bias=st.booleans(),
       bidirectional=st.booleans(), seed=st.integers(0, 2**16))
def test_parity_with_torch(cell, device, float_dtype, num_layers, seq_len, batch, input_size, hidden_size,
                           batch_first, with_hx, flow, bias, bidirectional, seed):
    check_parity(cell, num_layers=num_layers, seq_len=seq_len, batch=batch, input_size=input_size,
                 hidden_size=hidden_size, batch_first=batch_first, with_hx=with_hx, flow=flow, bias=bias,
                 bidirectional=bidirectional, device=device, dtype=float_dtype, seed=seed)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("seq_len", [1, 7, 25])
def test_parity_over_layers_and_lengths(cell, num_layers, seq_len):
    check_parity(cell, num_layers=num_layers, seq_len=seq_len, batch=3, input_size=5, hidden_size=6,
                 batch_first=seq_len == 7, seed=num_layers)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("seed", range(4))
def test_saturated_gates_match_torch_without_overflow_warnings(cell, device, float_dtype, seed):
    """LSTM and GRU compute sigmoid gates from e^u (nn.recurrent). Weights 3000 times PyTorch's
    initial ones put the pre-activations in the thousands, past where e^u overflows (u ≈ 89 in
    float32, 710 in float64): the gates saturate to what PyTorch gives, nothing turns into NaN,
    and NumPy warns of nothing."""
    nnlib.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_parity(cell, num_layers=2, seq_len=6, batch=3, weight_scale=3000.0, device=device,
                     dtype=float_dtype, seed=seed)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("flow", ["output", "state", "both"])
@pytest.mark.parametrize("with_hx", [True, False])
def test_unbatched_input(cell, flow, with_hx, device):
    """2-D input (T, input_size) with states (num_layers, H); batch_first does not apply to it."""
    check_parity(cell, num_layers=2, unbatched=True, flow=flow, with_hx=with_hx, device=device,
                 batch_first=with_hx)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_gradcheck_central_differences(cell, batch_first):
    """Every gradient (input, h_0, c_0, all weights of 2 layers) against central differences."""
    nnlib.manual_seed(3)
    layer, _ = make_pair(cell, 2, 3, 2, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 2) if batch_first else (4, 2, 2))
    states = [rng.standard_normal((2, 2, 3)) for _ in range(2 if cell == "lstm" else 1)]
    if cell == "rnn_relu":  # keep pre-activations away from ReLU's kink, where differences jump
        x = x + 2.0
    table = gc.gradcheck(WithStateInputs(layer), (x, *states), rtol=1e-6, atol=1e-8)
    names = {row[0] for row in table.rows}
    assert {"input[0]", "input[1]", "layer.weight_hh_l1", "layer.bias_ih_l0"} <= names


def test_lstm_gradcheck_against_autograd_through_gradcheck_helpers():
    """gradcheck's three sources agree on a 3-layer LSTM (nested (h_n, c_n) output)."""
    layer, ref = make_pair("lstm", 3, 2, 3)
    rng = np.random.default_rng(0)
    x, h0, c0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 2))

    class TorchWithStateInputs(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x, h0, c0):
            return self.layer(x, (h0, c0))

    ours = gc.analytic_gradients(WithStateInputs(layer), (x, h0, c0))
    theirs = gc.autograd_gradients(TorchWithStateInputs(ref), (x, h0, c0))
    table = gc.compare({"torch.autograd": theirs, "nnlib": ours}, rtol=1e-10, atol=1e-12)
    assert table.passed, table


@pytest.mark.parametrize("cell", list(CELLS))
def test_state_dict_loads_both_ways(cell):
    ours_cls, torch_cls, extra = CELLS[cell]
    ours = ours_cls(3, 5, 2, **extra)
    theirs = torch_cls(3, 5, 2, **extra)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(theirs.state_dict()[k].shape), k
    ours.load_state_dict(theirs.state_dict())                     # torch → nnlib
    back = torch_cls(3, 5, 2, **extra)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})  # nnlib → torch
    for k, v in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


@pytest.mark.parametrize("cell", list(CELLS))
def test_default_init_is_pytorchs_uniform(cell):
    ours_cls, _, extra = CELLS[cell]
    nnlib.manual_seed(0)
    m = ours_cls(7, 16, 2, **extra)
    bound = 1 / np.sqrt(16)
    for name, p in m.named_parameters():
        assert p.dtype == "float32"
        assert np.all(np.abs(p.data) <= bound), name
        assert np.abs(p.data).max() > 0.8 * bound, name  # not a narrower range
    gates = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[cell]
    assert m.weight_ih_l0.shape == (gates * 16, 7) and m.weight_hh_l1.shape == (gates * 16, 16)


def test_bias_false_has_no_bias_parameters():
    m = nn.GRU(3, 4, 2, bias=False)
    names = ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]
    assert [n for n, _ in m.named_parameters()] == names


def test_recorded_hidden_grads_are_dJ_dh_t():
    """With record_hidden_grads, hidden_grads[k][t] = ∂J/∂h_t of layer k (the chapter plots its norm)."""
    layer, _ = make_pair("lstm", 2, 3, 2)
    layer.record_hidden_grads = True
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, 2))
    out, (h, c) = layer(x)
    g_h = np.zeros(h.shape)
    g_h[-1] = 1.0  # J = Σ h_T of the top layer
    layer.backward((None, (g_h, None)))
    grads = layer.hidden_grads
    assert len(grads) == 2 and grads[0].shape == grads[1].shape == (6, 1, 3)
    np.testing.assert_array_equal(grads[1][-1], g_h[-1])
    # Autograd on the top layer unrolled step by step with torch's LSTMCell (same weights).
    cell = torch.nn.LSTMCell(3, 3).double()
    top = {k[:-3]: torch.as_tensor(v) for k, v in layer.state_dict().items() if k.endswith("_l1")}
    cell.load_state_dict(top)
    below = nn.LSTM(2, 3, dtype="float64")
    below.load_state_dict({k: v for k, v in layer.state_dict().items() if k.endswith("_l0")})
    inputs, _ = below(x)
    hs, state = [], None
    for t in range(6):
        state = cell(torch.tensor(inputs[t]), state)
        state[0].retain_grad()
        hs.append(state[0])
    hs[-1].sum().backward()
    expected = np.stack([h.grad.numpy()[0] for h in hs])
    np.testing.assert_allclose(grads[1][:, 0], expected, rtol=1e-10, atol=1e-14)
    layer.record_hidden_grads = False
    layer(x)
    layer.backward((None, (g_h, None)))
    assert layer.hidden_grads is None


# --- errors ------------------------------------------------------------------------------------
def test_wrong_input_rank_names_expected_shape():
    lstm = nn.LSTM(3, 4, batch_first=True)
    with pytest.raises(ShapeError, match=r"\(N, T, 3\).*got \(3,\)"):
        lstm(np.zeros(3, np.float32))
    with pytest.raises(ShapeError, match=r"got \(1, 2, 3, 3\)"):
        lstm(np.zeros((1, 2, 3, 3), np.float32))


def test_wrong_feature_size():
    with pytest.raises(ShapeError, match=r"\(T, N, 3\).*got \(5, 2, 4\)"):
        nn.GRU(3, 4)(np.zeros((5, 2, 4), np.float32))


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru"])
def test_hidden_state_shape_mismatch(cell):
    m = CELLS[cell][0](3, 4, 2, **CELLS[cell][2])
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(2, 2, 4\).*got \(1, 2, 4\)"):
        m(x, np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ShapeError, match="one array"):
        m(x, (np.zeros((2, 2, 4), np.float32),))


def test_lstm_state_checks():
    m = nn.LSTM(3, 4)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ShapeError, match=r"tuple \(h_0, c_0\)"):
        m(x, np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ShapeError, match=r"c_0 must have shape \(1, 2, 4\).*got \(1, 3, 4\)"):
        m(x, (np.zeros((1, 2, 4), np.float32), np.zeros((1, 3, 4), np.float32)))
    with pytest.raises(DTypeError, match="float64"):
        m(x, (np.zeros((1, 2, 4), np.float32), np.zeros((1, 2, 4), np.float64)))
    with pytest.raises(ShapeError, match=r"\(1, 4\)"):  # unbatched input wants unbatched states
        m(np.zeros((5, 3), np.float32), (np.zeros((1, 2, 4), np.float32),) * 2)


def test_state_on_another_device():
    m = nn.RNN(3, 4)
    with pytest.raises(DeviceError, match="h_0"):
        m(np.zeros((5, 2, 3), np.float32), torch.zeros(1, 2, 4))


def test_integer_input_is_a_dtype_error():
    with pytest.raises(DTypeError, match="float32 or float64"):
        nn.LSTM(3, 4)(np.zeros((5, 2, 3), np.int64))


def test_constructor_errors():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)


def test_backward_checks_grad_output_and_forward():
    m = nn.LSTM(3, 4)
    with pytest.raises(BackwardError):
        m.backward((np.zeros((5, 2, 4), np.float32), None))
    out, (h, c) = m(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(ShapeError, match="grad_output"):
        m.backward((np.zeros((5, 2, 3), np.float32), None))
    with pytest.raises(ShapeError, match="grad_output"):
        m.backward((None, np.zeros((1, 2, 4), np.float32)))  # LSTM's state grad is a pair
    grad_x, grad_hx = m.backward((np.ones(out.shape, np.float32), (None, np.ones(c.shape, np.float32))))
    assert grad_x.shape == (5, 2, 3) and grad_hx is None


def test_repr_shows_pytorch_arguments():
    assert repr(nn.LSTM(3, 4, 2, batch_first=True)) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"
