"""Recurrent layers ``RNN``, ``LSTM``, ``GRU`` with hand-written backpropagation through time.

Signatures, weight shapes, gate order and ``state_dict`` keys are PyTorch's, so weights load
across both ways. Layer k holds::

    weight_ih_l{k}  (G·H, input)    weight_hh_l{k}  (G·H, H)    bias_ih_l{k}, bias_hh_l{k}  (G·H,)

with G gate blocks stacked row-wise: 1 for RNN, 4 for LSTM (i, f, g, o), 3 for GRU (r, z, n).

Forward, one layer, time-major x_t (N, input) → h_t (N, H)::

    RNN   h_t = φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),  φ = tanh or ReLU
    LSTM  [i f g o] = [σ σ tanh σ](W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)
          c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
    GRU   [r z] = σ(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t−1} + b_h{r,z})
          n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn)),   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

Backward (BPTT) walks t = T−1 … 0 carrying δ_t = ∂J/∂h_t, the sum of what comes from the
output at t (or the layer above) and from step t+1 through W_hh (δa: pre-activation
gradients; GRU adds the direct path z ⊙ δ_{t+1})::

    δ_t = ∂J/∂y_t + (∂a_{t+1}/∂h_t)ᵀ δa_{t+1} = ∂J/∂y_t + W_hhᵀ δa_{t+1}

Because δ_{t−1} gets multiplied by W_hh and by the gate derivatives once per step, its norm
shrinks or grows geometrically with distance: vanishing/exploding gradients. The LSTM cell
path c_{t−1} → c_t multiplies only by f (no W, no squashing), which is why it carries
gradients further.

All gates of a step come from one matmul (N, H) @ (H, G·H); the input projections of a whole
layer are one matmul over all T·N rows, and so are the weight gradients. Only time and layers
are Python loops.

Options, each PyTorch's:

- ``bidirectional=True``: every layer runs a second recurrence over the time-reversed sequence
  with its own weights (``weight_ih_l{k}_reverse`` …). Its output at step t is the state after
  reading x_{T−1} … x_t; the layer's output concatenates both, [h→_t, h←_t] of size 2·H, and
  that is the next layer's input. h_n stacks the final states as (layer, direction):
  row 2k is layer k forwards, row 2k + 1 backwards. Backward runs the same BPTT on each
  direction (the reverse one on time-reversed gradients) and adds their ∂J/∂x.
- ``dropout=p``: inverted dropout on the input of every layer but the first (the outputs of all
  but the last), in training mode only; its backward multiplies by the same mask.
- LSTM ``proj_size=P``: h_t = W_hr (o ⊙ tanh c_t) with W_hr (P, H), so h_t, W_hh's columns and
  the outputs have size P while c_t keeps H; backward: ∂J/∂(o ⊙ tanh c_t) = W_hrᵀ δ_t and
  ∂J/∂W_hr = Σ_t δ_t (o ⊙ tanh c_t)ᵀ.
"""

import functools
import math
import numbers
import warnings

import numpy as np

from .. import backend
from ..errors import ShapeError
from ..rng import generator
from . import init
from .functional import check_bool, check_positive_int, step_of
from .module import Module, Parameter


@functools.lru_cache(maxsize=64)
def _gate_pattern(per_gate, hidden_size, dtype, device):
    """per_gate[j] repeated hidden_size times for each gate block j, made once per size, dtype and
    device: building LSTM's three of them took about a fifth of a one-token forward pass (text
    generation calls that once per token). Shared by every caller, so never written to."""
    values = np.repeat(np.asarray(per_gate, dtype=dtype), hidden_size)
    return backend.to_device(values, device)


class RNNBase(Module):
    """The shared machinery: parameters, shapes and checks, the loops over layers and directions.

    Subclasses set ``gates`` and implement ``_layer_forward`` / ``_layer_backward`` (one layer,
    one direction, time-major, batched; ``suffix`` names its parameters, e.g. ``"_l1_reverse"``)
    and, for LSTM, the (h, c) state handling.
    """

    gates = 1
    has_cell = False

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        who = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", who)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", who)
        self.num_layers = check_positive_int(num_layers, "num_layers", who)
        self.bias = check_bool(bias, "bias", who)
        self.batch_first = check_bool(batch_first, "batch_first", who)
        self.bidirectional = check_bool(bidirectional, "bidirectional", who)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(f"{who}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{who}: dropout={dropout} acts between stacked layers only, so with "
                          f"num_layers=1 it does nothing", stacklevel=2)
        self.dropout = float(dropout)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{who}: proj_size must be an integer in [0, hidden_size) = [0, {hidden_size}) "
                             f"(0: no projection), got {proj_size!r}")
        self.proj_size = proj_size
        self.real_hidden_size = proj_size or hidden_size  # the size of h_t (c_t keeps hidden_size)
        self.num_directions = 2 if self.bidirectional else 1
        # Parameter-name suffix of each (layer, direction), in h_n's row order.
        self._suffixes = [f"_l{k}{direction}" for k in range(num_layers)
                          for direction in ("", "_reverse")[:self.num_directions]]
        dtype, device = backend.resolve_dtype(dtype), backend.normalize_device(device)
        gh, h_size = self.gates * hidden_size, self.real_hidden_size
        for i, suffix in enumerate(self._suffixes):  # PyTorch's registration order = its state_dict order
            n_in = input_size if i < self.num_directions else h_size * self.num_directions
            setattr(self, f"weight_ih{suffix}", Parameter(backend.zeros((gh, n_in), dtype, device)))
            setattr(self, f"weight_hh{suffix}", Parameter(backend.zeros((gh, h_size), dtype, device)))
            if self.bias:
                setattr(self, f"bias_ih{suffix}", Parameter(backend.zeros((gh,), dtype, device)))
                setattr(self, f"bias_hh{suffix}", Parameter(backend.zeros((gh,), dtype, device)))
            if proj_size:
                w_hr = backend.zeros((proj_size, hidden_size), dtype, device)
                setattr(self, f"weight_hr{suffix}", Parameter(w_hr))
        self.record_hidden_grads = False  # set True to keep δ_t = ∂J/∂h_t of every layer and step
        self.hidden_grads = None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: every weight and bias U(−1/√H, 1/√H).
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, suffix):
        """(W_ih, W_hh, b_ih, b_hh) of one layer and direction (biases None without bias)."""
        get = lambda name: getattr(self, f"{name}{suffix}")  # noqa: E731
        b_ih, b_hh = (get("bias_ih").data, get("bias_hh").data) if self.bias else (None, None)
        return get("weight_ih").data, get("weight_hh").data, b_ih, b_hh

    # --- shapes and checks ----------------------------------------------------------------
    def _describe_input(self):
        seq = f"(N, T, {self.input_size})" if self.batch_first else f"(T, N, {self.input_size})"
        return f"{seq} or unbatched (T, {self.input_size})"

    def _check_state(self, h, name, expected):
        # Float, and the parameters' device and dtype (the input has been checked against them).
        self.check_input(h, name=name)
        if tuple(h.shape) != expected:
            rows = "num_layers" if self.num_directions == 1 else "2·num_layers"
            size = "proj_size" if self.proj_size and name == "h_0" else "hidden_size"
            dims = (rows, "batch", size) if len(expected) == 3 else (rows, size)
            raise ShapeError(f"{type(self).__name__}: {name} must have shape {expected} ({', '.join(dims)}), "
                             f"got {tuple(h.shape)}")
        return h

    def _split_hx(self, hx, x, batched, n):
        """Validate hx; return a list of per-state arrays (L·D, N, ·), or None."""
        who = type(self).__name__
        if hx is None:
            return None
        rows = self.num_layers * self.num_directions
        shape = lambda size: (rows, n, size) if batched else (rows, size)  # noqa: E731
        expected = shape(self.real_hidden_size)
        if self.has_cell:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ShapeError(f"{who}: hx must be a tuple (h_0, c_0) of two arrays of shapes {expected} "
                                 f"and {shape(self.hidden_size)}, got {type(hx).__name__}")
            states = [self._check_state(hx[0], "h_0", expected),
                      self._check_state(hx[1], "c_0", shape(self.hidden_size))]
        else:
            if isinstance(hx, (tuple, list)):
                raise ShapeError(f"{who}: hx must be one array of shape {expected}, "
                                 f"got a {type(hx).__name__}")
            states = [self._check_state(hx, "h_0", expected)]
        xp = backend.namespace(x)
        return [s if batched else xp.reshape(s, (rows, 1, s.shape[1])) for s in states]

    # --- forward ----------------------------------------------------------------------------
    def forward(self, input, hx=None):
        x = self.check_input(input, min_ndim=2, last_dim=self.input_size, describe=self._describe_input())
        if x.ndim > 3:
            raise ShapeError(f"{type(self).__name__}: input must have shape {self._describe_input()}, "
                             f"got {tuple(x.shape)}")
        xp = backend.namespace(x)
        batched = x.ndim == 3
        if not batched:
            x = xp.reshape(x, (x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = xp.permute_dims(x, (1, 0, 2))  # (N, T, ·) → (T, N, ·): we loop over time
        n = x.shape[1]
        states = self._split_hx(hx, input, batched, n)
        p_drop = self.dropout if self.training else 0.0
        dirs = self.num_directions
        caches, finals, masks = [], [], [None] * self.num_layers
        for k in range(self.num_layers):
            if k and p_drop:  # dropout on the previous layer's output
                masks[k] = self._dropout_mask(x, p_drop)
                x = x * masks[k]
            outputs = []
            for d in range(dirs):
                i = k * dirs + d
                init_state = None if states is None else [s[i] for s in states]
                # The reverse direction is the same recurrence over the time-reversed sequence.
                seq, cache, final = self._layer_forward(xp, x if d == 0 else xp.flip(x, axis=0), init_state,
                                                        self._suffixes[i])
                outputs.append(seq if d == 0 else xp.flip(seq, axis=0))
                caches.append(cache)
                finals.append(final)
            x = outputs[0] if dirs == 1 else xp.concat(outputs, axis=2)  # [h→_t, h←_t]
        out = self._to_layout(xp, x, batched, inverse=False)
        h_n = [xp.stack([f[j] for f in finals]) for j in range(len(finals[0]))]
        if not batched:
            h_n = [xp.reshape(h, (h.shape[0], h.shape[2])) for h in h_n]
        self.save_for_backward(caches, masks, batched, hx is not None)
        return out, (tuple(h_n) if self.has_cell else h_n[0])

    def _dropout_mask(self, like, p):
        """Inverted dropout's mask for a (T, N, D·H) layer output: 0 with probability p, else
        1/(1 − p), so the expected output is unchanged. Drawn time-major from nnlib's generator on
        the CPU, layer after layer, so a seed gives the same masks on every backend."""
        keep = generator().random(tuple(like.shape)) >= p
        mask = keep * (1.0 / (1.0 - p) if p < 1 else 0.0)
        return backend.to_device(mask.astype(backend.dtype_name(like)), backend.device_of(like))

    def _to_layout(self, xp, seq, batched, inverse):
        """Time-major (T, N, ·) ↔ the caller's layout (batch_first or unbatched)."""
        if not batched:
            return xp.reshape(seq, (seq.shape[0], seq.shape[2])) if not inverse else \
                xp.reshape(seq, (seq.shape[0], 1, seq.shape[1]))
        return xp.permute_dims(seq, (1, 0, 2)) if self.batch_first else seq

    # --- backward -----------------------------------------------------------------------------
    def backward(self, grad_output):
        """grad_output = (∂J/∂output, ∂J/∂h_n) — for LSTM (∂J/∂output, (∂J/∂h_n, ∂J/∂c_n)) — any
        entry may be None (no gradient flows there). Returns (∂J/∂input, ∂J/∂hx), the latter
        shaped like hx ((∂J/∂h_0, ∂J/∂c_0) for LSTM), or None if forward got no hx.

        With ``record_hidden_grads``, ``hidden_grads[k]`` holds δ_t = ∂J/∂h_t of layer k,
        time-major (T, N, D·H) like that layer's output: [δ→_t, δ←_t] when bidirectional."""
        caches, masks, batched, had_hx = self.saved_for_backward(grad_output)
        g_seq, g_final = grad_output
        n_states = 2 if self.has_cell else 1
        if g_final is None:
            g_final = [None] * n_states
        else:
            g_final = list(g_final) if self.has_cell else [g_final]
        xp = backend.namespace(caches[0]["x"])
        dy = None if g_seq is None else self._to_layout(xp, g_seq, batched, inverse=True)
        if not batched:
            g_final = [None if g is None else xp.reshape(g, (g.shape[0], 1, g.shape[1])) for g in g_final]
        dirs, h_size = self.num_directions, self.real_hidden_size
        grads_h0 = [[None] * len(caches) for _ in g_final]
        hidden_grads = [None] * self.num_layers
        for k in reversed(range(self.num_layers)):
            dx, recorded = None, []
            for d in range(dirs):
                i = k * dirs + d
                d_final = [None if g is None else g[i] for g in g_final]
                dy_d = dy if dirs == 1 or dy is None else dy[:, :, d * h_size:(d + 1) * h_size]
                if d:  # the reverse direction ran over reversed time: so do its gradients
                    dy_d = None if dy_d is None else xp.flip(dy_d, axis=0)
                dx_d, d_init, dh_all = self._layer_backward(xp, caches[i], dy_d, d_final, self._suffixes[i])
                if d:
                    dx_d = xp.flip(dx_d, axis=0)
                    dh_all = None if dh_all is None else xp.flip(dh_all, axis=0)
                dx = dx_d if dx is None else dx + dx_d   # both directions read the same input
                recorded.append(dh_all)
                for j, g in enumerate(d_init):
                    grads_h0[j][i] = g
            if self.record_hidden_grads:
                hidden_grads[k] = recorded[0] if dirs == 1 else xp.concat(recorded, axis=2)
            dy = dx if masks[k] is None else dx * masks[k]  # through the dropout below layer k
        self.hidden_grads = hidden_grads if self.record_hidden_grads else None
        grad_input = self._to_layout(xp, dy, batched, inverse=False)
        if not had_hx:
            return grad_input, None
        grad_hx = [xp.stack(g) for g in grads_h0]
        if not batched:
            grad_hx = [xp.reshape(g, (g.shape[0], g.shape[2])) for g in grad_hx]
        return grad_input, (tuple(grad_hx) if self.has_cell else grad_hx[0])

    def _input_projection(self, xp, x, w_ih, bias):
        """W_ih x_t + bias for all T·N rows at once: (T, N, in) → (T, N, G·H)."""
        t, n, d = x.shape
        proj = xp.reshape(x, (t * n, d)) @ w_ih.T
        if bias is not None:
            proj += bias  # in place: proj is a fresh array, and (T·N, G·H) temporaries are not small
        return xp.reshape(proj, (t, n, proj.shape[1]))

    def _accumulate(self, xp, suffix, x, h_prev, d_pre_ih, d_pre_hh):
        """Weight gradients of one layer and direction from the pre-activation gradients of all
        steps, and δx.

        ∂J/∂W_ih = Σ_t δa_tᵀ x_t, ∂J/∂W_hh = Σ_t δa_tᵀ h_{t−1}, ∂J/∂b = Σ_t Σ_n δa_t: each one
        matmul over the T·N rows. ``d_pre_hh`` differs from ``d_pre_ih`` only for GRU.
        """
        t, n, _ = x.shape
        gh = d_pre_ih.shape[2]
        w_ih, _, _, _ = self._weights(suffix)
        da_ih = xp.reshape(d_pre_ih, (t * n, gh))
        da_hh = da_ih if d_pre_hh is None else xp.reshape(d_pre_hh, (t * n, gh))
        rows = lambda a: xp.reshape(a, (t * n, a.shape[2]))  # noqa: E731
        getattr(self, f"weight_ih{suffix}").accumulate_grad(da_ih.T @ rows(x))
        getattr(self, f"weight_hh{suffix}").accumulate_grad(da_hh.T @ rows(h_prev))
        if self.bias:
            # RNN/LSTM add b_ih and b_hh to the same pre-activation: equal gradients (two arrays).
            getattr(self, f"bias_ih{suffix}").accumulate_grad(xp.sum(da_ih, axis=0))
            getattr(self, f"bias_hh{suffix}").accumulate_grad(xp.sum(da_hh, axis=0))
        return xp.reshape(da_ih @ w_ih, (t, n, x.shape[2]))  # δx_t = W_ihᵀ δa_t: the layer below's ∂J/∂y

    def _transposed(self, xp, w, steps):
        """wᵀ for a product that forward repeats ``steps`` times. BLAS multiplies (N, H) @ (H, G·H)
        faster from a C-ordered copy of wᵀ than from the transposed view, so a loop over T > 1 steps
        gets the copy; a single step (generating one token at a time) gets the view, since there
        the copy would cost more than the one product it speeds up."""
        if steps == 1:
            return w.T
        out = self._empty(xp, w, (w.shape[1], w.shape[0]))
        out[...] = w.T
        return out

    def _gate_vector(self, xp, like, per_gate):
        """A (G·H,) vector holding per_gate[j] across gate block j, on like's device and dtype."""
        return _gate_pattern(per_gate, self.hidden_size, backend.dtype_name(like), backend.device_of(like))

    def _empty(self, xp, like, shape):
        return xp.empty(shape, dtype=like.dtype, device=backend.native_device(like))

    def _zeros(self, xp, like, shape):
        return xp.zeros(shape, dtype=like.dtype, device=backend.native_device(like))

    def extra_repr(self):
        # PyTorch's order: sizes, then each option that differs from its default.
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """Elman RNN: h_t = φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), φ = tanh (default) or relu.

    ``forward(input, h_0=None)`` returns ``output, h_n``. input: (T, N, input_size), (N, T, ·)
    with ``batch_first``, or unbatched (T, input_size); output: the same layout with D·H
    features, D = 2 if ``bidirectional`` else 1; h_0, h_n: (num_layers·D, N, H), rows ordered
    (layer, direction). ``dropout`` acts between the layers, in training mode only.
    ``backward((∂J/∂output, ∂J/∂h_n))`` (either may be None) returns ``(∂J/∂input, ∂J/∂h_0)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _layer_forward(self, xp, x, init_state, suffix):
        w_ih, w_hh, b_ih, b_hh = self._weights(suffix)
        t_len, n, _ = x.shape
        a = self._input_projection(xp, x, w_ih, None if b_ih is None else b_ih + b_hh)
        hs = self._empty(xp, x, (t_len + 1, n, self.hidden_size))  # h_0 … h_T
        hs[0] = 0 if init_state is None else init_state[0]
        w_hh_t = self._transposed(xp, w_hh, t_len)
        for t in range(t_len):
            pre = a[t] + hs[t] @ w_hh_t
            hs[t + 1] = xp.tanh(pre) if self.nonlinearity == "tanh" else xp.clip(pre, min=0)
        return hs[1:], {"x": x, "hs": hs}, [hs[t_len]]

    def _layer_backward(self, xp, cache, dy, d_final, suffix):
        x, hs = cache["x"], cache["hs"]
        _, w_hh, _, _ = self._weights(suffix)
        t_len, n, _ = x.shape
        h = hs[1:]
        # φ'(a_t) of all steps at once, written through h_t: 1 − h_t² (tanh), 0/1 (ReLU)
        da = 1 - h * h if self.nonlinearity == "tanh" else step_of(h)
        dh_all = self._empty(xp, x, (t_len, n, self.hidden_size)) if self.record_hidden_grads else None
        dh = d_final[0]  # δ_T from ∂J/∂h_n (None: nothing)
        for t in reversed(range(t_len)):
            if dy is not None:
                dh = dy[t] if dh is None else dh + dy[t]       # δ_t = ∂J/∂y_t + W_hhᵀ δa_{t+1}
            if dh is None:
                dh = self._zeros(xp, x, (n, self.hidden_size))
            if dh_all is not None:
                dh_all[t] = dh
            d = da[t]
            d *= dh                                                # δa_t = δ_t ⊙ φ'(a_t)
            dh = d @ w_hh                                          # W_hhᵀ δa_t, into h_{t−1}
        dx = self._accumulate(xp, suffix, x, hs[:-1], da, None)
        return dx, [dh], dh_all

    def extra_repr(self):
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + f", nonlinearity={self.nonlinearity!r}"


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), gates i, f, g, o as in PyTorch.

    ``forward(input, (h_0, c_0))`` returns ``output, (h_n, c_n)``; layouts, ``bidirectional``
    and ``dropout`` as for :class:`RNN`, c_0 and c_n (num_layers·D, N, hidden_size). With
    ``proj_size`` = P > 0, h_t = W_hr (o ⊙ tanh c_t) has size P (W_hr: ``weight_hr_l{k}``, shape
    (P, hidden_size)): so have the output features per direction, h_0 and h_n.
    """

    gates = 4
    has_cell = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def _projection(self, suffix):
        """W_hr of one layer and direction, or None without proj_size."""
        return getattr(self, f"weight_hr{suffix}").data if self.proj_size else None

    def _layer_forward(self, xp, x, init_state, suffix):
        w_ih, w_hh, b_ih, b_hh = self._weights(suffix)
        w_hr = self._projection(suffix)
        t_len, n, _ = x.shape
        hid = self.hidden_size
        # One exponential serves every gate: with r(u) = 1/(1 + e^u),
        #     σ(z) = r(−z)  (i, f, o)     and     tanh(z) = 1 − 2 r(2z)  (g).
        # Scaling the rows of W and b by s = (−1, −1, 2, −1) per gate block (exact in floating
        # point) makes the matmul give u = s ⊙ z, and then [i f g o] = m ⊙ r(u) + b with
        # m = (1, 1, −2, 1), b = (0, 0, 1, 0). On both backends e^u costs less than tanh.
        s = self._gate_vector(xp, x, (-1.0, -1.0, 2.0, -1.0))
        m = self._gate_vector(xp, x, (1.0, 1.0, -2.0, 1.0))
        b = self._gate_vector(xp, x, (0.0, 0.0, 1.0, 0.0))
        u_in = self._input_projection(xp, x, w_ih, None if b_ih is None else b_ih + b_hh)
        u_in *= s
        w_hh_t = self._transposed(xp, w_hh * s[:, None], t_len)
        acts = self._empty(xp, x, (t_len, n, 4 * hid))           # [i f g o] of every step
        hs = self._empty(xp, x, (t_len + 1, n, w_hh.shape[1]))   # h_0 … h_T (size P with proj_size)
        cs = self._empty(xp, x, (t_len + 1, n, hid))             # c_0 … c_T
        w_hr_t = None if w_hr is None else self._transposed(xp, w_hr, t_len)
        tanh_cs = self._empty(xp, x, (t_len, n, hid))            # tanh(c_1) … tanh(c_T)
        hs[0] = 0 if init_state is None else init_state[0]
        cs[0] = 0 if init_state is None else init_state[1]
        # e^u = inf (u beyond ~88 in float32) is harmless: r = 0 is σ(−∞) = 0 and 1 − 2·0 = tanh(∞).
        with np.errstate(over="ignore"):
            for t in range(t_len):
                e = xp.exp(u_in[t] + hs[t] @ w_hh_t)              # all four gates: one matmul
                e += 1
                a = acts[t]
                a[...] = m / e                                    # m ⊙ r(u)
                a += b
                i, f, g, o = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:3 * hid], a[:, 3 * hid:]
                cs[t + 1] = f * cs[t] + i * g                     # c_t = f ⊙ c_{t−1} + i ⊙ g
                tanh_cs[t] = xp.tanh(cs[t + 1])
                if w_hr_t is None:
                    hs[t + 1] = o * tanh_cs[t]                    # h_t = o ⊙ tanh(c_t)
                else:
                    hs[t + 1] = (o * tanh_cs[t]) @ w_hr_t         # h_t = W_hr (o ⊙ tanh(c_t))
        cache = {"x": x, "hs": hs, "cs": cs, "acts": acts, "tanh_cs": tanh_cs}
        return hs[1:], cache, [hs[t_len], cs[t_len]]

    def _layer_backward(self, xp, cache, dy, d_final, suffix):
        x, hs, cs, acts, tanh_cs = cache["x"], cache["hs"], cache["cs"], cache["acts"], cache["tanh_cs"]
        _, w_hh, _, _ = self._weights(suffix)
        w_hr = self._projection(suffix)
        t_len, n, _ = x.shape
        hid = self.hidden_size
        # Everything that does not depend on the gradients, for all steps at once. The gate
        # blocks as a (T, N, 4, H) view: index 0…3 = i, f, g, o.
        gates = xp.reshape(acts, (t_len, n, 4, hid))
        i, f, g, o = gates[:, :, 0], gates[:, :, 1], gates[:, :, 2], gates[:, :, 3]
        da = 1 - acts
        da *= acts                                               # σ' = s(1 − s) for i, f, o ...
        local = xp.reshape(da, (t_len, n, 4, hid))
        local[:, :, 2] = 1 - g * g                               # ... and tanh' = 1 − g² for g,
        local[:, :, 0] *= g                                      # times ∂c_t/∂i = g,
        local[:, :, 1] *= cs[:-1]                                # ∂c_t/∂f = c_{t−1},
        local[:, :, 2] *= i                                      # ∂c_t/∂g = i,
        local[:, :, 3] *= tanh_cs                                # ∂h_t/∂o = tanh(c_t)
        dc_dh = o * (1 - tanh_cs * tanh_cs)                      # ∂h_t/∂c_t = o ⊙ (1 − tanh² c_t)
        # With proj_size, ∂J/∂W_hr = Σ_t δ_t (o ⊙ tanh c_t)ᵀ needs every δ_t: keep them.
        keep_dh = self.record_hidden_grads or w_hr is not None
        dh_all = self._empty(xp, x, (t_len, n, hs.shape[2])) if keep_dh else None
        dh, dc = d_final                                          # δ_T, ∂J/∂c_T
        for t in reversed(range(t_len)):
            if dy is not None:
                dh = dy[t] if dh is None else dh + dy[t]          # δ_t = ∂J/∂y_t + W_hhᵀ δa_{t+1}
            if dh is None:
                dh = self._zeros(xp, x, (n, hs.shape[2]))
            if dh_all is not None:
                dh_all[t] = dh
            dm = dh if w_hr is None else dh @ w_hr                # ∂J/∂(o ⊙ tanh c_t) (W_hrᵀ δ_t)
            # ∂J/∂c_t: from h_t = o ⊙ tanh(c_t), plus from c_{t+1} through f_{t+1}
            dc = dm * dc_dh[t] if dc is None else dc + dm * dc_dh[t]
            d = local[t]                                         # δa_t, the pre-activation grads:
            d[:, :3] *= dc[:, None, :]                           # i, f, g reach J through c_t,
            d[:, 3] *= dm                                        # o through o ⊙ tanh(c_t)
            dc = dc * f[t]                                       # into c_{t−1}: the additive path
            dh = da[t] @ w_hh                                    # into h_{t−1}: W_hhᵀ δa_t
        dx = self._accumulate(xp, suffix, x, hs[:-1], da, None)
        if w_hr is not None:
            rows = t_len * n
            cell_out = o * tanh_cs                                 # o ⊙ tanh c_t, what W_hr multiplies
            getattr(self, f"weight_hr{suffix}").accumulate_grad(
                xp.reshape(dh_all, (rows, dh_all.shape[2])).T @ xp.reshape(cell_out, (rows, hid)))
        return dx, [dh, dc], dh_all


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014), gates r, z, n with PyTorch's placement of b_hn
    inside the reset gate: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).

    ``forward(input, h_0=None)`` returns ``output, h_n``; layouts, ``bidirectional`` and
    ``dropout`` as for :class:`RNN`.
    """

    gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def _layer_forward(self, xp, x, init_state, suffix):
        w_ih, w_hh, b_ih, b_hh = self._weights(suffix)
        t_len, n, _ = x.shape
        hid = self.hidden_size
        # [r z] = σ(a) with a = W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t−1} + b_h{r,z}, both from one
        # exponential, as in LSTM: σ(a) = ρ(−a) with ρ(u) = 1/(1 + e^u), so the rows of W and b of
        # r and z are negated (exact) and the matmuls give u = −a. n keeps tanh: it needs r first,
        # and tanh of one block costs less than ρ's three operations.
        # (Scaling the (3H, ·) weights costs less than scaling the (T, N, 3H) projection.)
        s = self._gate_vector(xp, x, (-1.0, -1.0, 1.0))
        # b_hr and b_hz add to the same pre-activations as b_ir and b_iz: they join the input
        # projection. b_hn stays behind, inside r ⊙ (W_hn h + b_hn).
        if b_ih is None:
            bias = b_hn = None
        else:
            bias = (b_ih + b_hh * self._gate_vector(xp, x, (1.0, 1.0, 0.0))) * s
            b_hn = b_hh[2 * hid:]
        u_in = self._input_projection(xp, x, w_ih * s[:, None], bias)  # all steps at once
        w_hh_t = self._transposed(xp, w_hh * s[:, None], t_len)
        hs = self._empty(xp, x, (t_len + 1, n, hid))             # h_0 … h_T
        hs[0] = 0 if init_state is None else init_state[0]
        rzs, ns, hns = [], [], []                                # [r z], n, W_hn h_{t−1} + b_hn per step
        # Each step works on fresh contiguous arrays where it can and keeps them in lists, stacked
        # once at the end: NumPy is slower on the strided column blocks of a (N, 3H) array, the
        # more so the smaller H (ten times for H = 8), and so is backward's arithmetic over all
        # steps, which gets each gate as one contiguous (T, N, H) array.
        # e^u = inf (u beyond ~88 in float32) is harmless: ρ = 0 is σ(−∞) = 0.
        with np.errstate(over="ignore"):
            for t in range(t_len):
                u_h = hs[t] @ w_hh_t                             # all three gates: one matmul
                e = xp.exp(u_in[t, :, :2 * hid] + u_h[:, :2 * hid])
                e += 1
                rz = 1 / e                                       # [r z] = ρ(u) = σ(a)
                hn = u_h[:, 2 * hid:] if b_hn is None else u_h[:, 2 * hid:] + b_hn
                # n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))
                gate_n = rz[:, :hid] * hn
                gate_n += u_in[t, :, 2 * hid:]
                gate_n = xp.tanh(gate_n)
                rzs.append(rz)
                ns.append(gate_n)
                hns.append(hn)
                h = hs[t] - gate_n
                h *= rz[:, hid:]
                h += gate_n
                hs[t + 1] = h                                    # h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
        cache = {"x": x, "hs": hs, "r": xp.stack([rz[:, :hid] for rz in rzs]),
                 "z": xp.stack([rz[:, hid:] for rz in rzs]), "n": xp.stack(ns), "hn": xp.stack(hns)}
        return hs[1:], cache, [hs[t_len]]

    def _layer_backward(self, xp, cache, dy, d_final, suffix):
        x, hs, r, z, nn, hns = (cache[k] for k in ("x", "hs", "r", "z", "n", "hn"))
        _, w_hh, _, _ = self._weights(suffix)
        t_len, n, _ = x.shape
        hid = self.hidden_size
        # Everything that does not depend on the gradients, for all steps at once: ∂h_t/∂a of
        # each gate's pre-activation a (hn = W_hn h_{t−1} + b_hn).
        dn = 1 - nn * nn
        dn *= 1 - z                                              # ∂h_t/∂a_n = (1 − z) ⊙ tanh'
        # How δ_t reaches the recurrent side W_hh h_{t−1} + b_hh: through a_r and a_z directly, but
        # W_hn h + b_hn sits inside r ⊙ (·). Laid out (T, N, 3, H), so that each step's δ is one
        # (N, 3H) matrix for one matmul with W_hh.
        local_hh = self._empty(xp, x, (t_len, n, 3, hid))
        local_hh[:, :, 0] = dn * hns * r * (1 - r)               # ∂h_t/∂a_r = ∂h_t/∂a_n ⊙ hn ⊙ σ'
        local_hh[:, :, 1] = (hs[:-1] - nn) * z * (1 - z)         # ∂h_t/∂a_z = (h_{t−1} − n) ⊙ σ'
        local_hh[:, :, 2] = dn * r                               # ∂h_t/∂hn = ∂h_t/∂a_n ⊙ r
        # δ_t = ∂J/∂y_t + (∂h_{t+1}/∂h_t)ᵀ δ_{t+1}, built in place in dh_all: it starts as ∂J/∂y_t
        # (and ∂J/∂h_n at t = T − 1) and each step adds what comes back from step t + 1.
        dh_all = self._empty(xp, x, (t_len, n, hid))
        dh_all[...] = 0 if dy is None else dy
        if d_final[0] is not None:
            dh_all[t_len - 1] += d_final[0]
        back = None                                              # (∂h_{t+1}/∂h_t)ᵀ δ_{t+1}
        for t in reversed(range(t_len)):
            dh = dh_all[t]
            if back is not None:
                dh += back
            d = local_hh[t]
            d *= dh[:, None, :]                                  # δ of W_hh h_{t−1} + b_hh
            back = dh * z[t]                                     # direct path z ⊙ δ_t
            back += xp.reshape(d, (n, 3 * hid)) @ w_hh           # plus W_hhᵀ δa
        # δ of W_ih x_t + b_ih: that of W_hh h_{t−1} + b_hh for r and z, δ_t ⊙ ∂h_t/∂a_n for n.
        d_ih = self._empty(xp, x, (t_len, n, 3, hid))
        d_ih[...] = local_hh
        d_ih[:, :, 2] = dn * dh_all
        rows = (t_len, n, 3 * hid)
        dx = self._accumulate(xp, suffix, x, hs[:-1], xp.reshape(d_ih, rows), xp.reshape(local_hh, rows))
        return dx, [back], dh_all if self.record_hidden_grads else None
