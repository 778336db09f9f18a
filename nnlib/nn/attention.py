"""Attention (Bahdanau, Cho & Bengio, 2015; Vaswani et al., 2017): scaled dot-product attention as
a pair of functions, ``attention`` and ``attention_backward``, and PyTorch's ``MultiheadAttention``
built on them.

**Scaled dot-product attention.** A query q_i (row i of Q) is compared with every key k_j (row j
of K) by a dot product; the scores, scaled and passed through a softmax over j, say how much of
each value v_j (row j of V) the output o_i takes:

    A = Q Kᵀ/√d + M,    P = softmax(A) row by row,    O = P V,

with L queries and S keys:

- Q (L, d), K (S, d): queries and keys, d numbers each; V (S, d_v): values; O (L, d_v): output;
- A (L, S): the scores, a_ij = q_i·k_j/√d + m_ij; P (L, S): the attention weights, each row a
  probability distribution over the keys;
- M (L, S): an additive mask, 0 where query i may look at key j and −∞ where it may not
  (e^(−∞) = 0 takes the key out of the softmax); any other float shifts a score.

Any leading dimensions (batch, heads) are carried along: every product is a batched matmul.

Why √d: if the d entries of q and k are independent with mean 0 and variance 1, q·k is a sum of
d products of variance 1, so its variance is d. Without the scaling, scores of a wide head are
large, the softmax puts nearly all its weight on one key, and a saturated softmax passes almost
no gradient; dividing by √d keeps the scores' variance at 1 whatever d is.

Backward, from δO = ∂J/∂O (and ∂J/∂P, if the weights are used elsewhere):

    δV = Pᵀ δO,    δP = δO Vᵀ (+ ∂J/∂P),
    δA = P ⊙ (δP − rowsum(δP ⊙ P)),
    δQ = δA K/√d,  δK = δAᵀ Q/√d,  δM = δA.

The line for δA is the softmax's backward: the Jacobian of one row p = softmax(a) is
∂p_j/∂a_k = p_j (1[j = k] − p_k), i.e. diag(p) − p pᵀ, and δa = (diag(p) − p pᵀ) δp =
p ⊙ (δp − (p·δp)): no L × S × S array is built. A masked entry has p_ij = 0, hence δa_ij = 0.

Dropout on the weights (training mode): P̃ = P ⊙ D with D = keep/(1 − p) drawn per weight, and
O = P̃ V; then δV = P̃ᵀ δO and δP = (δO Vᵀ) ⊙ D — the same mask in both passes.

**Multi-head attention** runs h such attentions side by side on learned projections of the
inputs and mixes their outputs (``MultiheadAttention`` has the details).
"""

import math
import numbers

from .. import backend
from ..errors import DeviceError, DTypeError, ShapeError
from ..rng import generator
from . import init
from .functional import check_bool, check_positive_int
from .linear import Linear
from .module import Module, Parameter


# --- scaled dot-product attention, forward and backward ------------------------------------------------
def additive_mask(mask, dtype=None):
    """A boolean mask (``True``: not allowed, as ``MultiheadAttention``'s masks) as the additive
    float mask ``attention`` takes: −∞ where ``mask`` is ``True``, 0 elsewhere. A float mask is
    returned as it is. ``dtype``: the float dtype of the result (default float32).

    (PyTorch's ``torch.nn.functional.scaled_dot_product_attention`` reads a boolean mask the other
    way round, ``True`` meaning "may attend"; ``attention`` takes float masks only, so that no
    boolean convention is needed there.)
    """
    if not backend.is_array(mask):
        raise DTypeError(f"additive_mask: mask must be a NumPy array or torch tensor, "
                         f"got {type(mask).__name__}")
    kind = backend.dtype_name(mask)
    if kind in backend.FLOAT_DTYPES:
        return mask
    if kind != "bool":
        raise DTypeError(f"additive_mask: mask must be bool or float, got dtype {kind}")
    xp = backend.namespace(mask)
    device = backend.native_device(mask)
    dtype = backend.native_dtype(backend.resolve_dtype(dtype), backend.device_of(mask))
    blocked = xp.full((), -math.inf, dtype=dtype, device=device)
    return xp.where(mask, blocked, xp.zeros((), dtype=dtype, device=device))


def _softmax_rows(xp, scores, fully_masked):
    """softmax over the last axis. A row whose every score is −∞ (a query with every key masked)
    gives NaN with ``fully_masked="nan"`` (what e^(−∞ − (−∞)) is) and zeros with ``"zero"``."""
    row_max = xp.max(scores, axis=-1, keepdims=True)
    if fully_masked == "zero":
        row_max = xp.where(row_max == -math.inf, xp.zeros_like(row_max), row_max)
    e = xp.exp(scores - row_max)               # every exponent ≤ 0: nothing overflows
    total = xp.sum(e, axis=-1, keepdims=True)
    if fully_masked == "zero":
        total = xp.where(total == 0, xp.ones_like(total), total)  # 0/1 = 0: no weight anywhere
    return e / total


def _check_attention_arrays(query, key, value, who):
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not backend.is_array(x):
            raise DTypeError(f"{who}: {name} must be a NumPy array or torch tensor, got {type(x).__name__}")
        if x.ndim < 2:
            raise ShapeError(f"{who}: {name} must have shape (..., length, features), got {tuple(x.shape)}")
    if key.shape[-1] != query.shape[-1]:
        raise ShapeError(f"{who}: query (..., L, d) and key (..., S, d) must have the same d, got query "
                         f"{tuple(query.shape)} and key {tuple(key.shape)}")
    if value.shape[-2] != key.shape[-2]:
        raise ShapeError(f"{who}: key (..., S, d) and value (..., S, d_v) must have the same S, got key "
                         f"{tuple(key.shape)} and value {tuple(value.shape)}")


def attention(query, key, value, attn_mask=None, dropout_mask=None, scale=None, *, fully_masked="zero"):
    """Scaled dot-product attention: O = P̃ V with P = softmax(Q Kᵀ·scale + M) and P̃ = P ⊙ D.

    Shapes, with any leading dimensions ``...`` (batch, heads) shared by all arrays:

    - ``query`` Q (..., L, d), ``key`` K (..., S, d), ``value`` V (..., S, d_v);
    - ``attn_mask`` M: an additive float mask broadcastable to (..., L, S), or ``None``
      (``additive_mask`` turns a boolean one into it);
    - ``dropout_mask`` D: broadcastable to (..., L, S), 0 for a dropped weight and 1/(1 − p) for a
      kept one, or ``None`` (no dropout);
    - ``scale``: 1/√d by default.

    Returns ``(output, weights)``: O (..., L, d_v) and P (..., L, S), the weights *before*
    dropout (what ``attention_backward`` needs). A query whose keys are all masked attends to
    nothing: its weights and output are 0 (``fully_masked="zero"``, as PyTorch's
    ``scaled_dot_product_attention``), or NaN with ``fully_masked="nan"`` (as the plain softmax,
    which PyTorch's ``MultiheadAttention`` uses when it returns the weights).
    """
    _check_attention_arrays(query, key, value, "attention")
    if fully_masked not in ("zero", "nan"):
        raise ValueError(f"attention: fully_masked must be 'zero' or 'nan', got {fully_masked!r}")
    xp = backend.namespace(query, key, value, attn_mask, dropout_mask)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query * scale) @ xp.matrix_transpose(key)        # A = Q Kᵀ/√d: (..., L, S)
    if attn_mask is not None:
        scores = scores + attn_mask                            # + M
    # Without a mask no row is all −∞: the plain softmax suffices.
    weights = _softmax_rows(xp, scores, fully_masked if attn_mask is not None else "nan")
    dropped = weights if dropout_mask is None else weights * dropout_mask  # P̃ = P ⊙ D
    return dropped @ value, weights                            # O = P̃ V


def attention_backward(grad_output, query, key, value, weights, dropout_mask=None, scale=None,
                       grad_weights=None):
    """The backward pass of ``attention``: ``(δQ, δK, δV, δA)`` from δO = ``grad_output``.

    ``query``, ``key``, ``value``, ``dropout_mask`` and ``scale`` are what ``attention`` got;
    ``weights`` is the P it returned. ``grad_weights``, if not ``None``, is ∂J/∂P̃, the gradient
    of the dropped-out weights P̃ = P ⊙ D when J also depends on them (P̃ = P without dropout).
    With s = ``scale`` (1/√d by default):

        δV = P̃ᵀ δO,   δP̃ = δO Vᵀ + ∂J/∂P̃,   δP = δP̃ ⊙ D,
        δA = P ⊙ (δP − rowsum(δP ⊙ P)),   δQ = s δA K,   δK = s δAᵀ Q.

    δA (..., L, S) is also ∂J/∂M, the gradient of an additive float mask (sum it over the axes
    along which the mask was broadcast).
    """
    _check_attention_arrays(query, key, value, "attention_backward")
    xp = backend.namespace(grad_output, query, key, value, weights, dropout_mask, grad_weights)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    dropped = weights if dropout_mask is None else weights * dropout_mask
    d_value = xp.matrix_transpose(dropped) @ grad_output           # δV = P̃ᵀ δO
    d_dropped = grad_output @ xp.matrix_transpose(value)           # δP̃ = δO Vᵀ
    if grad_weights is not None:
        d_dropped = d_dropped + grad_weights
    d_weights = d_dropped if dropout_mask is None else d_dropped * dropout_mask   # δP = δP̃ ⊙ D
    # softmax backward, row by row: δA = P ⊙ (δP − Σ_j δP_j P_j)
    d_scores = weights * (d_weights - xp.sum(d_weights * weights, axis=-1, keepdims=True))
    d_query = (d_scores @ key) * scale                             # δQ = s δA K
    d_key = (xp.matrix_transpose(d_scores) @ query) * scale        # δK = s δAᵀ Q
    return d_query, d_key, d_value, d_scores


# --- the layer -----------------------------------------------------------------------------------------
class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017) with PyTorch's signature, parameters and
    ``state_dict`` keys.

    With E = ``embed_dim``, h = ``num_heads`` and d = E/h (``head_dim``), for one example of L
    queries X_q (L, E), and S keys X_k (S, kdim) and values X_v (S, vdim):

        Q = X_q W_qᵀ + b_q,   K = X_k W_kᵀ + b_k,   V = X_v W_vᵀ + b_v     (L, E), (S, E), (S, E)
        head r = attention(Q_r, K_r, V_r, M)   with Q_r = columns r·d … (r+1)·d − 1 of Q, …
        Y = [head 1, …, head h] W_oᵀ + b_o                                  (L, E)

    Each head attends in its own d-dimensional subspace, with its own weights, at the cost of
    one full-width attention. Parameters, as in PyTorch:

    - ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v] stacked, when kdim = vdim = E; otherwise
      ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim), and
      ``in_proj_weight`` is ``None``. All start Xavier-uniform;
    - ``in_proj_bias`` (3E,) = [b_q; b_k; b_v], zeros (``None`` without ``bias``);
    - ``out_proj``: ``Linear(E, E, bias)`` holding W_o and b_o (``out_proj.weight``,
      ``out_proj.bias``; the bias starts at zero);
    - with ``add_bias_kv``: ``bias_k``, ``bias_v`` (1, 1, E), Xavier-normal: one more key and value
      row appended to K and V of every example (S grows by 1);
    - ``add_zero_attn``: one more key and value of zeros appended to every head (after
      ``bias_k``): a query can put weight on "nothing" (S grows by 1).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)``. Shapes (N batch, L target and S source
    length): query (L, N, E), key (S, N, kdim), value (S, N, vdim) — (N, L, E) … with
    ``batch_first`` — or unbatched (L, E), (S, kdim), (S, vdim). Masks, each bool (``True``: not
    allowed, −∞ added) or float (added to the scores, of the query's dtype):

    - ``key_padding_mask`` (N, S), unbatched (S,): keys to ignore (padding) per example;
    - ``attn_mask`` (L, S), the same for every example and head, or (N·h, L, S), one per example
      and head (row n·h + r for example n, head r), unbatched (h, L, S);
    - ``is_causal``: a hint that ``attn_mask`` is the causal mask (it must then be given, as in
      PyTorch; nnlib applies ``attn_mask`` as it is — and differentiates a float one, which
      PyTorch's causal kernel, used when ``need_weights=False`` and there is no
      ``key_padding_mask``, leaves without gradient).

    Returns ``(attn_output, attn_weights)``: attn_output shaped like query with E features;
    attn_weights, if ``need_weights``, the weights P̃ (after dropout, as PyTorch returns them):
    (N, L, S) averaged over the heads, or (N, h, L, S) with ``average_attn_weights=False``
    (unbatched: (L, S), (h, L, S)); ``None`` otherwise. A query whose keys are all masked has
    NaN weights and output when ``need_weights`` (PyTorch's plain softmax) and a zero attention
    result when not (PyTorch's ``scaled_dot_product_attention``).

    ``dropout`` = p drops attention weights in training mode (nnlib's seeded generator, as
    ``Dropout``); the same mask is used in backward.

    ``backward((∂J/∂attn_output, ∂J/∂attn_weights))`` — the second ``None`` when the weights are
    not used — returns one gradient per forward argument: ``(∂J/∂query, ∂J/∂key, ∂J/∂value,
    ∂J/∂key_padding_mask, None, ∂J/∂attn_mask, None, None)``, a mask's entry ``None`` unless it is
    a float mask. In self-attention, where one array is passed as query, key and value, its
    gradient is the sum of the first three. Backward, per head (``attention_backward`` for the
    middle line), with δY = ∂J/∂Y and H = [head 1, …, head h]:

        ∂J/∂W_o = Σ δYᵀ H,   ∂J/∂b_o = Σ δY,   δH = δY W_o
        (δQ_r, δK_r, δV_r, δM_r) = attention_backward(δH_r, …)
        ∂J/∂W_q = Σ δQᵀ X_q,   ∂J/∂b_q = Σ δQ,   ∂J/∂X_q = δQ W_q    (and so for K and V)

    the sums running over the batch and the positions; ∂J/∂bias_k is the sum of δK's appended
    row, and a float mask's gradient is δM summed over the axes it was broadcast along.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        who = "MultiheadAttention"
        self.embed_dim = check_positive_int(embed_dim, "embed_dim", who)
        self.num_heads = check_positive_int(num_heads, "num_heads", who)
        if embed_dim % num_heads:
            raise ValueError(f"{who}: embed_dim must be divisible by num_heads (each head gets embed_dim/"
                             f"num_heads features), got embed_dim={embed_dim} and num_heads={num_heads}")
        self.kdim = embed_dim if kdim is None else check_positive_int(kdim, "kdim", who)
        self.vdim = embed_dim if vdim is None else check_positive_int(vdim, "vdim", who)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(f"{who}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.dropout = float(dropout)
        self.batch_first = check_bool(batch_first, "batch_first", who)
        self.head_dim = embed_dim // num_heads
        check_bool(bias, "bias", who)
        check_bool(add_bias_kv, "add_bias_kv", who)
        dtype, device = backend.resolve_dtype(dtype), backend.normalize_device(device)
        e = embed_dim
        # Registered in PyTorch's order, which is its state_dict order.
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(backend.zeros((3 * e, e), dtype, device))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(backend.zeros((e, e), dtype, device))
            self.k_proj_weight = Parameter(backend.zeros((e, self.kdim), dtype, device))
            self.v_proj_weight = Parameter(backend.zeros((e, self.vdim), dtype, device))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(backend.zeros((3 * e,), dtype, device)) if bias else None
        self.out_proj = Linear(e, e, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(backend.zeros((1, 1, e), dtype, device))
            self.bias_v = Parameter(backend.zeros((1, 1, e), dtype, device))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = check_bool(add_zero_attn, "add_zero_attn", who)
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's initialisation: projections Xavier-uniform, biases 0, bias_k/bias_v Xavier-normal
        (``out_proj.weight`` keeps ``Linear``'s initialisation)."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    # --- pieces of the parameters -----------------------------------------------------------
    def _projection_weights(self):
        """(W_q, W_k, W_v): row blocks of ``in_proj_weight`` (views), or the three separate weights."""
        if self.in_proj_weight is None:
            return self.q_proj_weight.data, self.k_proj_weight.data, self.v_proj_weight.data
        w, e = self.in_proj_weight.data, self.embed_dim
        return w[:e], w[e:2 * e], w[2 * e:]

    def _projection_biases(self):
        if self.in_proj_bias is None:
            return None, None, None
        b, e = self.in_proj_bias.data, self.embed_dim
        return b[:e], b[e:2 * e], b[2 * e:]

    # --- shapes -----------------------------------------------------------------------------
    def _describe(self, length, features):
        layout = f"(N, {length}, {features})" if self.batch_first else f"({length}, N, {features})"
        return f"{layout} (batch_first={self.batch_first}) or unbatched ({length}, {features})"

    def _check_inputs(self, query, key, value):
        """Validate query, key and value; return whether they are batched and N, L, S."""
        who = type(self).__name__
        q = self.check_input(query, name="query", describe=self._describe("L", self.embed_dim))
        k = self.check_input(key, name="key", describe=self._describe("S", self.kdim))
        v = self.check_input(value, name="value", describe=self._describe("S", self.vdim))
        for name, x, features, length in (("query", q, self.embed_dim, "L"), ("key", k, self.kdim, "S"),
                                          ("value", v, self.vdim, "S")):
            if x.ndim not in (2, 3) or x.shape[-1] != features:
                raise ShapeError(f"{who}: {name} must have shape {self._describe(length, features)}, "
                                 f"got {tuple(x.shape)}")
        if not q.ndim == k.ndim == v.ndim:
            raise ShapeError(f"{who}: query, key and value must all be batched (3-D) or all unbatched (2-D), "
                             f"got shapes {tuple(q.shape)}, {tuple(k.shape)} and {tuple(v.shape)}")
        batched = q.ndim == 3
        if not batched:
            return False, 1, q.shape[0], k.shape[0]
        n_axis, t_axis = (0, 1) if self.batch_first else (1, 0)
        if not q.shape[n_axis] == k.shape[n_axis] == v.shape[n_axis]:
            raise ShapeError(f"{who}: query, key and value must have the same batch size (axis {n_axis}), "
                             f"got shapes {tuple(q.shape)}, {tuple(k.shape)} and {tuple(v.shape)}")
        if k.shape[t_axis] != v.shape[t_axis]:
            raise ShapeError(f"{who}: key and value must have the same length S (axis {t_axis}), "
                             f"got shapes {tuple(k.shape)} and {tuple(v.shape)}")
        return True, q.shape[n_axis], q.shape[t_axis], k.shape[t_axis]

    def _check_mask(self, mask, name, expected, query):
        """A mask must be bool, or float of the query's dtype, on its device, of one of the
        ``expected`` shapes (a dict shape → description). Returns whether it is float."""
        who = type(self).__name__
        if not backend.is_array(mask):
            raise DTypeError(f"{who}: {name} must be a NumPy array or torch tensor, "
                             f"got {type(mask).__name__}")
        if backend.device_of(mask) != backend.device_of(query):
            raise DeviceError(f"{who}: {name} has device {backend.device_of(mask)!r}, expected "
                              f"{backend.device_of(query)!r} (the query's)")
        kind = backend.dtype_name(mask)
        if kind != "bool" and kind != backend.dtype_name(query):
            raise DTypeError(f"{who}: {name} must be bool or {backend.dtype_name(query)} (the query's "
                             f"dtype), got {kind}")
        if tuple(mask.shape) not in expected:
            raise ShapeError(f"{who}: {name} must have shape {' or '.join(expected.values())}, "
                             f"got {tuple(mask.shape)}")
        return kind != "bool"

    # --- forward ------------------------------------------------------------------------------
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        who = type(self).__name__
        for flag, name in ((need_weights, "need_weights"), (average_attn_weights, "average_attn_weights"),
                           (is_causal, "is_causal")):
            check_bool(flag, name, who)
        if is_causal and attn_mask is None:
            raise ValueError(f"{who}: is_causal=True is a hint that attn_mask is the causal mask, so "
                             f"attn_mask must be given, got attn_mask=None (as PyTorch; a causal mask: "
                             f"nnlib.nn.transformer.generate_square_subsequent_mask(L))")
        batched, n, tgt_len, src_len = self._check_inputs(query, key, value)
        xp = backend.namespace(query)
        h, d = self.num_heads, self.head_dim
        mask, mask_info = self._attention_bias(xp, query, key_padding_mask, attn_mask, batched, n, tgt_len,
                                               src_len)
        # Projections act token by token, in the caller's layout; the heads then get their own axis.
        batch_first = self.batch_first or not batched
        w_q, w_k, w_v = self._projection_weights()
        b_q, b_k, b_v = self._projection_biases()
        q = self._split_heads(xp, _project(xp, query, w_q, b_q), batched, batch_first)   # (N, h, L, d)
        k = self._split_heads(xp, _project(xp, key, w_k, b_k), batched, batch_first)     # (N, h, S, d)
        v = self._split_heads(xp, _project(xp, value, w_v, b_v), batched, batch_first)
        if self.bias_k is not None:  # one more key and value, the same for every example
            k = xp.concat([k, self._broadcast_bias(xp, self.bias_k.data, n)], axis=2)
            v = xp.concat([v, self._broadcast_bias(xp, self.bias_v.data, n)], axis=2)
        if self.add_zero_attn:
            zeros = xp.zeros((n, h, 1, d), dtype=q.dtype, device=backend.native_device(q))
            k, v = xp.concat([k, zeros], axis=2), xp.concat([v, zeros], axis=2)
        p_drop = self.dropout if self.training else 0.0
        keep = _dropout_mask((n, h, tgt_len, k.shape[2]), p_drop, q) if p_drop else None
        heads, weights = attention(q, k, v, mask, keep, fully_masked="nan" if need_weights else "zero")
        output = self.out_proj(self._merge_heads(xp, heads, batched, batch_first))
        self.save_for_backward(query, key, value, q, k, v, weights, keep, mask_info, batched, batch_first,
                               need_weights and average_attn_weights)
        if not need_weights:
            return output, None
        returned = weights if keep is None else weights * keep      # P̃: what multiplied V
        if average_attn_weights:
            returned = xp.mean(returned, axis=1)                     # (N, L, S)
        return output, (returned if batched else returned[0])

    def _split_heads(self, xp, x, batched, batch_first):
        """(N, T, E) or (T, N, E) — unbatched (T, E) — → (N, h, T, d): head r holds the features
        r·d … r·d + d − 1."""
        if not batched:
            x = x[None]
        a, b, _ = x.shape
        x = xp.reshape(x, (a, b, self.num_heads, self.head_dim))
        return xp.permute_dims(x, (0, 2, 1, 3) if batch_first else (1, 2, 0, 3))

    def _merge_heads(self, xp, x, batched, batch_first):
        """The inverse of ``_split_heads``: (N, h, T, d) → the caller's layout with E = h·d features."""
        n, _, t, _ = x.shape
        if batch_first:
            x = xp.reshape(xp.permute_dims(x, (0, 2, 1, 3)), (n, t, self.embed_dim))
            return x if batched else x[0]
        return xp.reshape(xp.permute_dims(x, (2, 0, 1, 3)), (t, n, self.embed_dim))

    def _broadcast_bias(self, xp, bias, n):
        """bias_k or bias_v (1, 1, E) as one more row per head: (N, h, 1, d)."""
        per_head = xp.reshape(bias, (1, self.num_heads, 1, self.head_dim))
        return xp.broadcast_to(per_head, (n, self.num_heads, 1, self.head_dim))

    def _attention_bias(self, xp, query, key_padding_mask, attn_mask, batched, n, tgt_len, src_len):
        """The additive mask M (N or 1, h or 1, L or 1, S′) of both masks, S′ = S plus one zero column
        for each of bias_k and the zero attention; and what backward needs to return the masks'
        gradients ((float kpm?, float attn_mask?, attn_mask's rank)). ``None`` if there is no mask."""
        h = self.num_heads
        terms, kpm_float, am_float = [], False, False
        if key_padding_mask is not None:
            expected = {(n, src_len): f"(N, S) = ({n}, {src_len})"} if batched else \
                {(src_len,): f"(S,) = ({src_len},)"}
            kpm_float = self._check_mask(key_padding_mask, "key_padding_mask", expected, query)
            kpm = additive_mask(key_padding_mask, backend.dtype_name(query))
            terms.append(xp.reshape(kpm, (n, 1, 1, src_len)))
        if attn_mask is not None:
            stacked = (n * h, tgt_len, src_len)
            rows = "N·num_heads" if batched else "num_heads"
            expected = {(tgt_len, src_len): f"(L, S) = ({tgt_len}, {src_len})",
                        stacked: f"({rows}, L, S) = {stacked}"}
            am_float = self._check_mask(attn_mask, "attn_mask", expected, query)
            am = additive_mask(attn_mask, backend.dtype_name(query))
            per_head = (1, 1) if am.ndim == 2 else (n, h)
            terms.append(xp.reshape(am, per_head + (tgt_len, src_len)))
        if not terms:
            return None, None
        mask = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        extra = (self.bias_k is not None) + self.add_zero_attn
        if extra:  # the appended keys are never masked
            pad = xp.zeros(mask.shape[:3] + (extra,), dtype=mask.dtype, device=backend.native_device(mask))
            mask = xp.concat([mask, pad], axis=3)
        return mask, (kpm_float, am_float, None if attn_mask is None else attn_mask.ndim)

    # --- backward -----------------------------------------------------------------------------
    def backward(self, grad_output):
        (query, key, value, q, k, v, weights, keep, mask_info, batched, batch_first,
         averaged) = self.saved_for_backward(grad_output)
        d_output, d_weights = grad_output
        xp = backend.namespace(q)
        h = self.num_heads
        if d_output is None:  # only the weights are used: no gradient through the output projection
            self.out_proj.pop_saved()
            d_heads = xp.zeros(q.shape, dtype=q.dtype, device=backend.native_device(q))
        else:
            d_heads = self._split_heads(xp, self.out_proj.backward(d_output), batched, batch_first)  # δH
        if d_weights is not None:  # ∂J/∂P̃ per head: the mean over heads spreads δ/h to each
            if not batched:
                d_weights = d_weights[None]
            d_weights = xp.broadcast_to(d_weights[:, None] / h, weights.shape) if averaged else d_weights
        d_q, d_k, d_v, d_scores = attention_backward(d_heads, q, k, v, weights, keep, grad_weights=d_weights)
        if self.add_zero_attn:  # the zero key and value are constants
            d_k, d_v = d_k[:, :, :-1], d_v[:, :, :-1]
        if self.bias_k is not None:  # the appended row: Σ over the batch, back to (1, 1, E)
            for b, g in ((self.bias_k, d_k[:, :, -1]), (self.bias_v, d_v[:, :, -1])):
                b.accumulate_grad(xp.reshape(xp.sum(g, axis=0), (1, 1, self.embed_dim)))
            d_k, d_v = d_k[:, :, :-1], d_v[:, :, :-1]
        src_len = d_k.shape[2]
        deltas = [self._merge_heads(xp, g, batched, batch_first) for g in (d_q, d_k, d_v)]  # δQ, δK, δV
        inputs = (query, key, value)
        w_grads = [_flat(xp, g).T @ _flat(xp, x) for g, x in zip(deltas, inputs)]   # ∂J/∂W = Σ δᵀ X
        if self.in_proj_weight is None:
            for w, g in zip((self.q_proj_weight, self.k_proj_weight, self.v_proj_weight), w_grads):
                w.accumulate_grad(g)
        else:
            self.in_proj_weight.accumulate_grad(xp.concat(w_grads, axis=0))
        if self.in_proj_bias is not None:                                             # ∂J/∂b = Σ δ
            self.in_proj_bias.accumulate_grad(xp.concat([xp.sum(_flat(xp, g), axis=0) for g in deltas]))
        d_inputs = [g @ w for g, w in zip(deltas, self._projection_weights())]       # ∂J/∂X = δ W
        d_kpm, d_attn_mask = self._mask_grads(xp, d_scores[..., :src_len], mask_info, batched)
        return (*d_inputs, d_kpm, None, d_attn_mask, None, None)

    def _mask_grads(self, xp, d_scores, mask_info, batched):
        """∂J/∂key_padding_mask and ∂J/∂attn_mask from δA (N, h, L, S): δA summed over the axes
        each mask was broadcast along (``None`` for a boolean mask or none)."""
        if mask_info is None:
            return None, None
        kpm_float, am_float, am_ndim = mask_info
        d_kpm = d_am = None
        if kpm_float:
            d_kpm = xp.sum(d_scores, axis=(1, 2))                    # (N, S)
            d_kpm = d_kpm if batched else d_kpm[0]
        if am_float:
            if am_ndim == 2:
                d_am = xp.sum(d_scores, axis=(0, 1))                 # (L, S)
            else:
                n, h, tgt_len, src_len = d_scores.shape
                d_am = xp.reshape(d_scores, (n * h, tgt_len, src_len))
        return d_kpm, d_am


def _project(xp, x, w, b):
    """x Wᵀ + b over the last axis, as one matrix product of all tokens."""
    y = _flat(xp, x) @ w.T
    if b is not None:
        y = y + b
    return xp.reshape(y, tuple(x.shape[:-1]) + (w.shape[0],))


def _flat(xp, x):
    """All tokens as rows: (…, F) → (tokens, F)."""
    return xp.reshape(x, (-1, x.shape[-1]))


def _dropout_mask(shape, p, like):
    """Inverted dropout's mask D: 0 with probability p, 1/(1 − p) otherwise. Drawn from nnlib's
    generator on the CPU, then moved, so that a seed gives the same mask on every backend."""
    keep = generator().random(shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return backend.to_device((keep * scale).astype(backend.dtype_name(like)), backend.device_of(like))
