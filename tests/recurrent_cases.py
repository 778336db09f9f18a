"""Shared by the recurrent-layer tests: nnlib/torch layer pairs with the same weights, and the
parity check that compares outputs, final states and every gradient with torch.autograd."""

import numpy as np
import pytest

import nnlib
from nnlib import nn

torch = pytest.importorskip("torch")

TOL = {"float64": 1e-10, "float32": 1e-5}

# label: (nnlib class, torch class, extra constructor kwargs)
CELLS = {
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
}


def make_pair(cell, input_size, hidden_size, num_layers, *, device="numpy", dtype="float64", **kw):
    """An nnlib layer (nnlib's initialisation) and its torch twin holding the same weights."""
    ours_cls, torch_cls, extra = CELLS[cell]
    ours = ours_cls(input_size, hidden_size, num_layers, dtype=dtype, **extra, **kw).to(device)
    theirs = torch_cls(input_size, hidden_size, num_layers, **extra, **kw).to(
        device="cpu" if device == "numpy" else device, dtype=getattr(torch, dtype))
    theirs.load_state_dict({k: torch.as_tensor(nnlib.to_numpy(v)) for k, v in ours.state_dict().items()})
    return ours, theirs


def assert_close(ours, theirs, dtype, what):
    a = np.asarray(nnlib.to_numpy(ours), np.float64)
    b = theirs.detach().cpu().double().numpy()
    assert a.shape == b.shape, f"{what}: shape {a.shape}, torch has {b.shape}"
    err, scale = np.max(np.abs(a - b), initial=0.0), max(np.max(np.abs(b), initial=0.0), 1.0)
    assert err <= TOL[dtype] * scale, f"{what}: max abs diff {err:.3g} > {TOL[dtype]:g} × {scale:.3g}"


def check_parity(cell, *, num_layers=1, seq_len=4, batch=2, input_size=3, hidden_size=4, batch_first=False,
                 with_hx=True, flow="both", bias=True, unbatched=False, bidirectional=False, proj_size=0,
                 dropout=0.0, device="numpy", dtype="float64", seed=0, weight_scale=1.0):
    """Run both layers on the same data and compare outputs and all gradients.

    ``flow``: the gradient enters through the output sequence, the final states, or both. With
    ``dropout`` both layers run in eval mode (torch's dropout masks cannot be reproduced).
    ``weight_scale`` multiplies every weight and bias of both layers (large: saturated gates).
    """
    kw = dict(bias=bias, batch_first=batch_first, bidirectional=bidirectional, dropout=dropout)
    if proj_size:
        kw["proj_size"] = proj_size
    ours, theirs = make_pair(cell, input_size, hidden_size, num_layers, device=device, dtype=dtype, **kw)
    if weight_scale != 1.0:
        for p in ours.parameters():
            p.data[...] = p.data * weight_scale
        theirs.load_state_dict({k: torch.as_tensor(nnlib.to_numpy(v)) for k, v in ours.state_dict().items()})
    if dropout:
        ours.eval()
        theirs.eval()
    rng = np.random.default_rng(seed)
    np_dtype = np.dtype(dtype)
    rows = num_layers * (2 if bidirectional else 1)
    sizes = [proj_size or hidden_size] + ([hidden_size] if cell == "lstm" else [])  # h (and c)
    if unbatched:
        x_shape, state_shapes = (seq_len, input_size), [(rows, s) for s in sizes]
    else:
        x_shape = (batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size)
        state_shapes = [(rows, batch, s) for s in sizes]
    x = rng.standard_normal(x_shape).astype(np_dtype)
    states = [rng.standard_normal(shape).astype(np_dtype) for shape in state_shapes]
    tdev = "cpu" if device == "numpy" else device
    tx = torch.tensor(x, device=tdev, requires_grad=True)
    tstates = [torch.tensor(s, device=tdev, requires_grad=True) for s in states]
    thx = None if not with_hx else (tuple(tstates) if cell == "lstm" else tstates[0])
    t_out, t_final = theirs(tx, thx)
    t_finals = list(t_final) if cell == "lstm" else [t_final]

    on = lambda a: nnlib.to_device(a, device)  # noqa: E731
    hx = None if not with_hx else (tuple(on(s) for s in states) if cell == "lstm" else on(states[0]))
    out, final = ours(on(x), hx)
    finals = list(final) if cell == "lstm" else [final]
    assert_close(out, t_out, dtype, "output")
    for i, (f, tf) in enumerate(zip(finals, t_finals)):
        assert_close(f, tf, dtype, ["h_n", "c_n"][i])

    # Upstream gradients: R_out for the sequence, R_h (R_c) for the final states, or None.
    g_out = rng.standard_normal(tuple(t_out.shape)).astype(np_dtype) if flow in ("output", "both") else None
    g_fin = [rng.standard_normal(tuple(t.shape)).astype(np_dtype) if flow in ("state", "both") else None
             for t in t_finals]
    if cell == "lstm" and flow == "state":
        g_fin[1] = None if seed % 2 else g_fin[1]  # sometimes only ∂J/∂h_n, no ∂J/∂c_n
    objective = 0
    for g, t in zip([g_out, *g_fin], [t_out, *t_finals]):
        if g is not None:
            objective = objective + (t * torch.tensor(g, device=tdev)).sum()
    objective.backward()

    g_state = tuple(None if g is None else on(g) for g in g_fin) if cell == "lstm" else \
        (None if g_fin[0] is None else on(g_fin[0]))
    if cell == "lstm" and all(g is None for g in g_state):
        g_state = None
    grad_x, grad_hx = ours.backward((None if g_out is None else on(g_out), g_state))
    assert_close(grad_x, tx.grad, dtype, "∂J/∂input")
    if with_hx:
        grads = list(grad_hx) if cell == "lstm" else [grad_hx]
        for i, (g, t) in enumerate(zip(grads, tstates)):
            assert_close(g, t.grad, dtype, ["∂J/∂h_0", "∂J/∂c_0"][i])
    else:
        assert grad_hx is None
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    for name, p in theirs.named_parameters():
        mine = getattr(ours, name)
        assert mine.grad is not None, name
        assert nnlib.device_of(mine.grad) == device
        assert_close(mine.grad, p.grad, dtype, f"∂J/∂{name}")


class WithStateInputs(nn.Module):
    """The recurrent layer with h_0 (and c_0) as separate inputs, so the gradient checkers
    differentiate with respect to them too."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, h0, c0=None):
        return self.layer(x, h0 if c0 is None else (h0, c0))

    def backward(self, grad_output):
        grad_x, grad_hx = self.layer.backward(grad_output)
        return (grad_x, *grad_hx) if isinstance(grad_hx, tuple) else (grad_x, grad_hx)
