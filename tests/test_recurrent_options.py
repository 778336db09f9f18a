"""RNN, LSTM, GRU options beyond the plain stack: bidirectional=True, inter-layer dropout, LSTM
proj_size; PyTorch's signatures and strict flags.

Parity with torch.autograd (float64, 1e-10) covers outputs, h_n (c_n) and every input and
parameter gradient. Training-mode dropout draws nnlib's own masks, so its parity test rebuilds
the stack from single-layer torch modules with those masks in between.
"""

import inspect
import typing

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.errors import ShapeError
from nnlib.rng import generator

torch = pytest.importorskip("torch")
from recurrent_cases import CELLS, WithStateInputs, assert_close, check_parity, make_pair  # noqa: E402

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- signatures and flags ----------------------------------------------------------------------
def torch_parameters(cls):
    """The documented signature of a torch RNN class (its __init__ takes *args, **kwargs; the
    typed overload lists the parameters)."""
    for overload in typing.get_overloads(cls.__init__):
        params = list(inspect.signature(overload).parameters.values())[1:]  # without self
        if params and params[0].kind is not inspect.Parameter.VAR_POSITIONAL:
            return params
    pytest.fail(f"torch.nn.{cls.__name__} has no typed overload to compare with")


@pytest.mark.parametrize("ours, theirs", [(nn.RNN, torch.nn.RNN), (nn.LSTM, torch.nn.LSTM),
                                          (nn.GRU, torch.nn.GRU)])
def test_signature_is_pytorchs(ours, theirs):
    describe = lambda params: [(p.name, p.default, p.kind) for p in params]  # noqa: E731
    assert describe(inspect.signature(ours).parameters.values()) == describe(torch_parameters(theirs))


def test_positional_arguments_mean_what_they_mean_in_pytorch():
    # RNN's 4th positional argument is nonlinearity, LSTM's 8th proj_size.
    rnn = nn.RNN(3, 4, 2, "relu", False, True, 0.25, True)
    assert (rnn.nonlinearity, rnn.bias, rnn.batch_first, rnn.dropout, rnn.bidirectional) == \
        ("relu", False, True, 0.25, True)
    lstm = nn.LSTM(3, 4, 1, True, False, 0.0, False, 2, None, "float64")
    assert lstm.proj_size == 2 and lstm.weight_hr_l0.shape == (2, 4) and lstm.weight_ih_l0.dtype == "float64"


@pytest.mark.parametrize("flag", ["bias", "batch_first", "bidirectional"])
@pytest.mark.parametrize("value", ["False", 0, 1, None])
def test_flags_must_be_bools(flag, value):
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        with pytest.raises(TypeError, match=f"{flag} must be True or False, got {value!r}"):
            cls(4, 8, **{flag: value})
    assert nn.LSTM(4, 8, batch_first=np.bool_(True)).batch_first is True


@pytest.mark.parametrize("dropout", [-0.1, 1.5, True, "0.5", None])
def test_dropout_must_be_a_probability(dropout):
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\]"):
        nn.GRU(3, 4, 2, dropout=dropout)
    assert nn.GRU(3, 4, 2, dropout=np.float32(0.25)).dropout == 0.25


def test_dropout_with_one_layer_warns_as_in_pytorch():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.LSTM(3, 4, dropout=0.5)
    with pytest.warns(UserWarning, match="num_layers=1"):
        torch.nn.LSTM(3, 4, dropout=0.5)


@pytest.mark.parametrize("proj_size", [-1, 4, 5, 1.0, True])
def test_proj_size_must_be_below_hidden_size(proj_size):
    with pytest.raises(ValueError, match=r"proj_size must be an integer in \[0, hidden_size\) = \[0, 4\)"):
        nn.LSTM(3, 4, proj_size=proj_size)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU])
def test_only_lstm_has_proj_size(cls):
    with pytest.raises(TypeError, match="proj_size"):
        cls(3, 4, proj_size=2)


@pytest.mark.parametrize("kw", [dict(proj_size=2),
                                dict(num_layers=2, bias=False, dropout=0.5, bidirectional=True),
                                dict(num_layers=3, batch_first=True, proj_size=1, bidirectional=True)])
def test_repr_is_pytorchs(kw):
    assert repr(nn.LSTM(3, 4, **kw)) == repr(torch.nn.LSTM(3, 4, **kw))
    if "proj_size" not in kw:
        assert repr(nn.GRU(3, 4, **kw)) == repr(torch.nn.GRU(3, 4, **kw))


@pytest.mark.parametrize("cell", list(CELLS))
def test_zero_and_one_dimensional_inputs_are_refused(cell):
    layer = CELLS[cell][0](3, 4, **CELLS[cell][2])
    for x in (np.ones((), np.float32), torch.ones(()), np.zeros(3, np.float32)):
        expected = r"input must have shape \(T, N, 3\) or unbatched \(T, 3\), got \((3,)?\)"
        with pytest.raises(ShapeError, match=expected):
            layer(x)


# --- parameters and state_dict ----------------------------------------------------------------
@pytest.mark.parametrize("cell, kw", [("gru", dict(bidirectional=True)),
                                      ("rnn_relu", dict(bidirectional=True)),
                                      ("lstm", dict(bidirectional=True)), ("lstm", dict(proj_size=3)),
                                      ("lstm", dict(bidirectional=True, proj_size=2, bias=False))])
def test_state_dict_keys_and_shapes_are_pytorchs(cell, kw):
    ours_cls, torch_cls, extra = CELLS[cell]
    ours, theirs = ours_cls(3, 5, 3, **extra, **kw), torch_cls(3, 5, 3, **extra, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape), k
    ours.load_state_dict(theirs.state_dict())                     # torch → nnlib
    back = torch_cls(3, 5, 3, **extra, **kw)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})  # nnlib → torch
    for k, v in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


def test_every_parameter_gets_pytorchs_default_uniform_init():
    nnlib.manual_seed(0)
    m = nn.LSTM(7, 16, 2, bidirectional=True, proj_size=5)
    bound = 1 / np.sqrt(16)
    for name, p in m.named_parameters():
        assert np.all(np.abs(p.data) <= bound) and np.abs(p.data).max() > 0.8 * bound, name
    assert m.weight_hr_l1_reverse.shape == (5, 16) and m.weight_ih_l1.shape == (64, 10)


# --- bidirectional ----------------------------------------------------------------------------
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [True, False])
def test_bidirectional_parity(cell, device, num_layers, batch_first, with_hx):
    check_parity(cell, num_layers=num_layers, seq_len=5, batch=3, batch_first=batch_first, with_hx=with_hx,
                 bidirectional=True, device=device, seed=num_layers)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("flow", ["output", "state", "both"])
def test_bidirectional_unbatched(cell, flow, device, float_dtype):
    check_parity(cell, num_layers=2, unbatched=True, flow=flow, bidirectional=True, device=device,
                 dtype=float_dtype)


@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_layout(cell):
    """output = [forward h_t, backward h_t], the backward half being the same recurrence over the
    reversed sequence; h_n rows are (layer, direction), the backward direction ending at t = 0."""
    ours_cls, _, extra = CELLS[cell]
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    both = ours_cls(3, 4, bidirectional=True, dtype="float64", **extra)
    out, _ = both(x)
    one_way = ours_cls(3, 4, dtype="float64", **extra)
    for half, suffix in ((slice(0, 4), ""), (slice(4, 8), "_reverse")):
        one_way.load_state_dict({k.replace("_reverse", ""): v for k, v in both.state_dict().items()
                                 if k.endswith(f"_l0{suffix}")})
        y, _ = one_way(x[::-1].copy() if suffix else x)
        np.testing.assert_allclose(out[:, :, half], y[::-1] if suffix else y, rtol=0, atol=1e-14)
    stack = ours_cls(3, 4, 2, bidirectional=True, dtype="float64", **extra)
    out, final = stack(x)
    h_n = final[0] if cell == "lstm" else final
    assert out.shape == (6, 2, 8) and h_n.shape == (4, 2, 4) and stack.weight_ih_l1.shape[1] == 8
    np.testing.assert_array_equal(h_n[2], out[-1, :, :4])     # layer 1 forwards: its last step
    np.testing.assert_array_equal(h_n[3], out[0, :, 4:])      # layer 1 backwards: its step t = 0


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_bidirectional_gradcheck(cell, batch_first):
    """Every gradient (input, h_0, c_0, all weights of 2 layers × 2 directions) against central
    differences."""
    layer, _ = make_pair(cell, 2, 3, 2, batch_first=batch_first, bidirectional=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 2) if batch_first else (3, 2, 2))
    states = [rng.standard_normal((4, 2, 3)) for _ in range(2 if cell == "lstm" else 1)]
    if cell == "rnn_relu":  # keep pre-activations away from ReLU's kink, where differences jump
        x = x + 2.0
    table = gc.gradcheck(WithStateInputs(layer), (x, *states), rtol=1e-6, atol=1e-8)
    assert {"input[0]", "input[1]", "layer.weight_hh_l1_reverse", "layer.bias_ih_l0_reverse"} <= \
        {row[0] for row in table.rows}


def test_bidirectional_state_shapes_are_checked():
    m = nn.LSTM(3, 4, 2, bidirectional=True)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(4, 2, 4\) \(2·num_layers, batch, "
                                         r"hidden_size\), got \(2, 2, 4\)"):
        m(x, (np.zeros((2, 2, 4), np.float32),) * 2)
    out, (h, c) = m(x, (np.zeros((4, 2, 4), np.float32),) * 2)
    with pytest.raises(ShapeError, match="grad_output"):
        m.backward((np.zeros((5, 2, 4), np.float32), None))  # the output has 2·H features


TORCH_CELLS = {"rnn_tanh": lambda i, h: torch.nn.RNNCell(i, h), "rnn_relu": lambda i, h: torch.nn.RNNCell(
    i, h, nonlinearity="relu"), "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}


@pytest.mark.parametrize("cell", list(CELLS))
def test_recorded_hidden_grads_of_both_directions(cell):
    """hidden_grads[k] = [∂J/∂h→_t, ∂J/∂h←_t] per step, checked against torch cells unrolled by hand."""
    layer, _ = make_pair(cell, 2, 3, 2, bidirectional=True)
    layer.record_hidden_grads = True
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 2))
    out, _ = layer(x)
    r = rng.standard_normal(out.shape)
    layer.backward((r, None))
    state = layer.state_dict()
    seq, hs = torch.tensor(x), {}
    for k in range(2):
        halves = []
        for suffix in ("", "_reverse"):
            unit = TORCH_CELLS[cell](seq.shape[2], 3).double()
            unit.load_state_dict({name.split("_l")[0]: torch.as_tensor(v) for name, v in state.items()
                                  if name.endswith(f"_l{k}{suffix}")})
            steps = range(5) if not suffix else reversed(range(5))
            h, outs = None, [None] * 5
            for t in steps:
                h = unit(seq[t], h)
                outs[t] = h[0] if cell == "lstm" else h
                outs[t].retain_grad()
            hs[k, suffix] = outs
            halves.append(torch.stack(outs))
        seq = torch.cat(halves, dim=2)
    (seq * torch.tensor(r)).sum().backward()
    for k in range(2):
        per_direction = [np.stack([h.grad.numpy() for h in hs[k, s]]) for s in ("", "_reverse")]
        expected = np.concatenate(per_direction, axis=2)
        assert layer.hidden_grads[k].shape == (5, 2, 6)
        np.testing.assert_allclose(layer.hidden_grads[k], expected, rtol=1e-10, atol=1e-13)


# --- LSTM proj_size ---------------------------------------------------------------------------
@SETTINGS
@given(num_layers=st.integers(1, 3), seq_len=st.integers(1, 5), batch=st.integers(1, 3),
       hidden_size=st.integers(2, 5), proj=st.integers(1, 4), batch_first=st.booleans(),
       with_hx=st.booleans(), flow=st.sampled_from(["output", "state", "both"]), bias=st.booleans(),
       bidirectional=st.booleans(), seed=st.integers(0, 2**16))
def test_proj_size_parity(device, float_dtype, num_layers, seq_len, batch, hidden_size, proj, batch_first,
                          with_hx, flow, bias, bidirectional, seed):
    check_parity("lstm", num_layers=num_layers, seq_len=seq_len, batch=batch, hidden_size=hidden_size,
                 proj_size=min(proj, hidden_size - 1), batch_first=batch_first, with_hx=with_hx, flow=flow,
                 bias=bias, bidirectional=bidirectional, device=device, dtype=float_dtype, seed=seed)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_proj_size_unbatched(device, bidirectional):
    check_parity("lstm", num_layers=2, hidden_size=5, proj_size=2, unbatched=True,
                 bidirectional=bidirectional, device=device)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_proj_size_gradcheck(bidirectional):
    layer, _ = make_pair("lstm", 2, 4, 2, proj_size=2, bidirectional=bidirectional)
    rows = 4 if bidirectional else 2
    rng = np.random.default_rng(2)
    x, h0, c0 = (rng.standard_normal(shape) for shape in [(3, 2, 2), (rows, 2, 2), (rows, 2, 4)])
    table = gc.gradcheck(WithStateInputs(layer), (x, h0, c0), rtol=1e-6, atol=1e-8)
    names = {row[0] for row in table.rows}
    assert {"input[1]", "input[2]", "layer.weight_hr_l0", "layer.weight_hr_l1"} <= names


def test_proj_size_state_shapes():
    m = nn.LSTM(3, 4, 2, proj_size=2)
    x = np.zeros((5, 2, 3), np.float32)
    out, (h, c) = m(x)
    assert out.shape == (5, 2, 2) and h.shape == (2, 2, 2) and c.shape == (2, 2, 4)
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(2, 2, 2\) \(num_layers, batch, "
                                         r"proj_size\), got \(2, 2, 4\)"):
        m(x, (np.zeros((2, 2, 4), np.float32),) * 2)
    with pytest.raises(ShapeError, match=r"c_0 must have shape \(2, 2, 4\) .*hidden_size\), got \(2, 2, 2\)"):
        m(x, (np.zeros((2, 2, 2), np.float32),) * 2)


# --- inter-layer dropout ----------------------------------------------------------------------
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_dropout_in_eval_mode_is_pytorchs(cell, device, bidirectional):
    check_parity(cell, num_layers=3, dropout=0.5, bidirectional=bidirectional, device=device, seed=4)


def dropout_masks(seed, shape, p, num_layers):
    """The masks nnlib documents: drawn time-major from its generator, one per layer input after the first."""
    nnlib.manual_seed(seed)
    return [(generator().random(shape) >= p) / (1 - p) for _ in range(num_layers - 1)]


def torch_stack_with_masks(cell, ours, masks, x, states):
    """ours' stack rebuilt from single-layer torch modules (same weights) with masks between the
    layers, on time-major x: returns the output, the final states (h_n (, c_n)) and the layers."""
    _, torch_cls, extra = CELLS[cell]
    kw = dict(bias=ours.bias, bidirectional=ours.bidirectional, **extra)
    if ours.proj_size:
        kw["proj_size"] = ours.proj_size
    dirs, finals, layers = ours.num_directions, [], []
    for k in range(ours.num_layers):
        layer = torch_cls(x.shape[2], ours.hidden_size, **kw).double()
        layer.load_state_dict({name.replace(f"_l{k}", "_l0"): torch.as_tensor(nnlib.to_numpy(v))
                               for name, v in ours.state_dict().items() if f"_l{k}" in name})
        rows = slice(k * dirs, (k + 1) * dirs)
        hx = tuple(s[rows] for s in states) if cell == "lstm" else states[0][rows]
        if k:
            x = x * torch.as_tensor(masks[k - 1])
        x, final = layer(x, hx)
        finals.append(final if cell == "lstm" else (final,))
        layers.append(layer)
    return x, [torch.cat([f[i] for f in finals]) for i in range(len(states))], layers


@pytest.mark.parametrize("cell, kw", [("rnn_tanh", {}), ("gru", dict(bidirectional=True)), ("lstm", {}),
                                      ("lstm", dict(bidirectional=True, proj_size=2)), ("rnn_relu", {})])
@pytest.mark.parametrize("batch_first", [False, True])
def test_dropout_in_training_mode_with_nnlibs_masks(cell, kw, batch_first, device):
    """Training mode: the output, h_n and every gradient of torch layers stacked by hand with
    nnlib's masks in between (the masks as documented: time-major draws of nnlib's generator)."""
    p, t_len, n, num_layers = 0.4, 5, 3, 3
    ours, _ = make_pair(cell, 3, 4, num_layers, device=device, batch_first=batch_first, dropout=p, **kw)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((t_len, n, 3))
    sizes = [ours.real_hidden_size] + ([4] if cell == "lstm" else [])
    states = [rng.standard_normal((num_layers * ours.num_directions, n, s)) for s in sizes]
    on = lambda a: nnlib.to_device(a, device)  # noqa: E731
    layout = (lambda a: np.swapaxes(a, 0, 1)) if batch_first else (lambda a: a)  # noqa: E731
    nnlib.manual_seed(11)
    out, final = ours(on(layout(x)), tuple(map(on, states)) if cell == "lstm" else on(states[0]))
    finals = list(final) if cell == "lstm" else [final]
    g_out = rng.standard_normal(tuple(out.shape))
    g_fin = [rng.standard_normal(tuple(f.shape)) for f in finals]
    grad_x, grad_hx = ours.backward((on(g_out), tuple(map(on, g_fin)) if cell == "lstm" else on(g_fin[0])))

    nnlib.manual_seed(11)
    width = ours.num_directions * ours.real_hidden_size
    masks = [(generator().random((t_len, n, width)) >= p) / (1 - p) for _ in range(num_layers - 1)]
    assert all(np.any(m == 0) for m in masks)
    tx = torch.tensor(x, requires_grad=True)
    tstates = [torch.tensor(s, requires_grad=True) for s in states]
    t_out, t_finals, layers = torch_stack_with_masks(cell, ours, masks, tx, tstates)
    assert_close(layout(nnlib.to_numpy(out)), t_out, "float64", "output")
    objective = (t_out * torch.as_tensor(layout(g_out))).sum()
    for f, tf, g in zip(finals, t_finals, g_fin):
        assert_close(f, tf, "float64", "final state")
        objective = objective + (tf * torch.as_tensor(g)).sum()
    objective.backward()
    assert_close(layout(nnlib.to_numpy(grad_x)), tx.grad, "float64", "∂J/∂input")
    for g, ts in zip(grad_hx if cell == "lstm" else [grad_hx], tstates):
        assert_close(g, ts.grad, "float64", "∂J/∂hx")
    theirs = {name.replace("_l0", f"_l{k}"): p
              for k, layer in enumerate(layers) for name, p in layer.named_parameters()}
    assert sorted(theirs) == sorted(name for name, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs[name].grad, "float64", f"∂J/∂{name}")


def mask_revealing_rnn(hidden, p, bidirectional=False):
    """A 2-layer ReLU RNN whose output *is* the dropout mask between its layers: layer 0 outputs
    relu(1) = 1 everywhere, layer 1 passes its (masked) input through unchanged."""
    rnn = nn.RNN(2, hidden, 2, "relu", dropout=p, bidirectional=bidirectional, dtype="float64")
    for name, param in rnn.named_parameters():
        param.data[...] = 0.0
        if name.startswith("bias_ih_l0"):
            param.data[...] = 1.0
        if name.startswith("weight_ih_l1"):
            param.data[:, :hidden] = np.eye(hidden)  # the forward half of layer 0's output
    return rnn


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_mask_statistics(p):
    rnn = mask_revealing_rnn(40, p)
    x = np.zeros((60, 50, 2))
    nnlib.manual_seed(0)
    mask, _ = rnn(x)
    values = np.unique(mask)
    np.testing.assert_allclose(values, [0.0, 1 / (1 - p)], rtol=1e-15)      # inverted dropout's two values
    dropped, n = np.mean(mask == 0), mask.size
    assert abs(dropped - p) < 4 * np.sqrt(p * (1 - p) / n), dropped          # P(zero) = p, within 4σ
    assert abs(mask.mean() - 1) < 4 * np.sqrt(p / (1 - p) / n)              # E[mask] = 1
    again, _ = rnn(x)
    assert np.mean(again != mask) > 0.5 * 2 * p * (1 - p)                   # a fresh mask each call
    rnn.eval()
    np.testing.assert_array_equal(rnn(x)[0], np.ones(mask.shape))          # eval: no dropout


def test_dropout_mask_covers_both_directions():
    rnn = mask_revealing_rnn(30, 0.5, bidirectional=True)
    for name in ("weight_ih_l1", "weight_ih_l1_reverse"):
        getattr(rnn, name).data[...] = 0.0
    rnn.weight_ih_l1.data[:, 30:] = np.eye(30)             # layer 1 forwards reads layer 0's backward half
    nnlib.manual_seed(3)
    out, _ = rnn(np.zeros((40, 20, 2)))
    backward_half = out[:, :, :30]
    assert 0.45 < np.mean(backward_half == 0) < 0.55


def test_dropout_of_one_gives_zeros():
    rnn = mask_revealing_rnn(5, 1.0)
    out, _ = rnn(np.zeros((4, 3, 2)))
    np.testing.assert_array_equal(out, np.zeros((4, 3, 5)))


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 4, 2, dropout=0.5).eval(), lambda: nn.GRU(3, 4, 2),
                                  lambda: nn.RNN(3, 4, dropout=0.5)])
def test_no_dropout_draws_no_random_numbers(make, recwarn):
    """Eval mode, dropout=0 and a single layer leave nnlib's generator untouched."""
    layer = make()
    nnlib.manual_seed(5)
    before = generator().bit_generator.state
    layer(np.ones((4, 2, 3), np.float32))
    assert generator().bit_generator.state == before
    layer.train()
    layer.dropout = 0.5
    if layer.num_layers > 1:  # the counter-check: training mode with dropout does draw
        layer(np.ones((4, 2, 3), np.float32))
        assert generator().bit_generator.state != before


def test_dropout_masks_are_the_same_on_every_backend(torch_device):
    ours = nn.GRU(3, 4, 3, dropout=0.5, bidirectional=True, dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    nnlib.manual_seed(8)
    expected, _ = ours(x)
    ours.to(torch_device)
    nnlib.manual_seed(8)
    got, _ = ours(nnlib.to_device(x, torch_device))
    np.testing.assert_allclose(nnlib.to_numpy(got), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_dropout_training_mode_gradcheck(cell, bidirectional):
    """Training mode, the mask fixed (gradcheck reseeds nnlib's generator before every evaluation):
    every gradient against central differences."""
    layer, _ = make_pair(cell, 2, 3, 3, dropout=0.5, bidirectional=bidirectional)
    rows = 3 * layer.num_directions
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 2)) + (2.0 if cell == "rnn_relu" else 0.0)
    states = [rng.standard_normal((rows, 2, 3)) for _ in range(2 if cell == "lstm" else 1)]
    nnlib.manual_seed(0)  # gradcheck's seed: the mask it will use has zeros
    assert np.any(generator().random((3, 2, 3 * layer.num_directions)) < 0.5)
    table = gc.gradcheck(WithStateInputs(layer), (x, *states), rtol=1e-6, atol=1e-8)
    assert table.passed
