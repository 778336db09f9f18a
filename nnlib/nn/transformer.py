"""The Transformer encoder (Vaswani et al., 2017): ``TransformerEncoderLayer`` and the stack
``TransformerEncoder``, with PyTorch's signatures and ``state_dict`` keys; the causal mask
``generate_square_subsequent_mask``; and nnlib's sinusoidal positional encoding (PyTorch has no
class for it), ``sinusoidal_positional_encoding`` and the layer ``SinusoidalPositionalEncoding``.

One encoder layer is two sublayers, each wrapped in a residual connection and a layer
normalisation: self-attention, where every position attends to every position of the same
sequence, and a position-wise feed-forward network (one MLP applied to each position on its own).
Attention itself does not know the order of the positions — permuting the inputs permutes the
outputs — so the order is added to the input, as a positional encoding.
"""

import copy

import numpy as np

from .. import backend
from ..errors import ShapeError, UnsupportedError
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .container import Sequential
from .dropout import Dropout
from .functional import check_bool, check_positive_int
from .linear import Linear
from .module import Module
from .normalization import LayerNorm


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each with a residual connection and LayerNorm,
    with PyTorch's signature and ``state_dict`` keys.

    With x the input (D = ``d_model`` features per position), SA the self-attention
    ``MultiheadAttention(d_model, nhead, dropout, bias)`` (query = key = value) and the
    position-wise feed-forward network FF(x) = W₂ act(W₁ x + b₁) + b₂ (W₁: ``dim_feedforward`` × D,
    ``linear1``; W₂: D × ``dim_feedforward``, ``linear2``):

    - post-norm (``norm_first=False``, the original Transformer's):
      h = LN₁(x + SA(x)),  y = LN₂(h + FF(h));
    - pre-norm (``norm_first=True``): h = x + SA(LN₁(x)),  y = h + FF(LN₂(h)). Here the residual
      path from y back to x is the identity plus the sublayers' terms, so gradients reach the first
      layers of a deep stack undiminished, and it trains without a learning-rate warm-up (Xiong
      et al., 2020).

    ``dropout`` acts in training mode in four places, as in PyTorch: on the attention weights,
    on SA's output (``dropout1``), after the activation (``dropout``) and on FF's output
    (``dropout2``). ``activation``: ``"relu"`` (the default; PyTorch's default is the function
    ``F.relu``, the same), ``"gelu"``, or an nnlib module such as ``nn.GELU(approximate="tanh")``
    — a module with a backward pass; other callables are refused (``UnsupportedError``): nnlib
    cannot differentiate them. ``bias=False`` drops the biases of every linear map and LayerNorm.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src (S, N, D),
    (N, S, D) with ``batch_first``, or unbatched (S, D); ``src_mask`` is SA's ``attn_mask``,
    (S, S) or (N·nhead, S, S), ``src_key_padding_mask`` its ``key_padding_mask`` (N, S), both bool
    (``True``: not allowed) or float (added), and ``is_causal`` a hint that ``src_mask`` is causal
    (see ``MultiheadAttention``). Returns y shaped like src.

    ``backward(∂J/∂y)`` returns ``(∂J/∂src, ∂J/∂src_mask, ∂J/∂src_key_padding_mask, None)`` (a
    mask's entry ``None`` unless it is a float mask). It runs the sublayers' backward passes in
    reverse; at each residual connection z = u + F(u) the two paths add, ∂J/∂u = δz + F's
    backward of δz, and self-attention's input gets the sum of its query, key and value gradients.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        who = "TransformerEncoderLayer"
        check_positive_int(d_model, "d_model", who)
        check_positive_int(dim_feedforward, "dim_feedforward", who)
        activation = _activation_module(activation)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, device=device, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, device=device, dtype=dtype)
        self.norm_first = check_bool(norm_first, "norm_first", who)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = self._check_src(src)
        masks = dict(attn_mask=src_mask, key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        if self.norm_first:
            h = x + self._self_attention(self.norm1(x), masks)       # h = x + SA(LN₁(x))
            y = h + self._feed_forward(self.norm2(h))                 # y = h + FF(LN₂(h))
        else:
            h = self.norm1(x + self._self_attention(x, masks))       # h = LN₁(x + SA(x))
            y = self.norm2(h + self._feed_forward(h))                 # y = LN₂(h + FF(h))
        self.save_for_backward()
        return y

    def _check_src(self, src):
        d = self.self_attn.embed_dim
        layout = f"(N, S, {d})" if self.self_attn.batch_first else f"(S, N, {d})"
        expected = f"{layout} (batch_first={self.self_attn.batch_first}) or unbatched (S, {d})"
        x = self.check_input(src, name="src", describe=expected)
        if x.ndim not in (2, 3) or x.shape[-1] != d:
            raise ShapeError(f"TransformerEncoderLayer: src must have shape {expected}, got {tuple(x.shape)}")
        return x

    def _self_attention(self, x, masks):
        return self.dropout1(self.self_attn(x, x, x, need_weights=False, **masks)[0])

    def _feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def backward(self, grad_output):
        self.saved_for_backward(grad_output)
        delta = grad_output
        if self.norm_first:
            d_h = delta + self.norm2.backward(self._feed_forward_backward(delta))
            d_attn_in, d_src_mask, d_kpm = self._self_attention_backward(d_h)
            d_src = d_h + self.norm1.backward(d_attn_in)
        else:
            d_z = self.norm2.backward(delta)                          # z = h + FF(h)
            d_h = d_z + self._feed_forward_backward(d_z)
            d_w = self.norm1.backward(d_h)                            # w = x + SA(x)
            d_attn_in, d_src_mask, d_kpm = self._self_attention_backward(d_w)
            d_src = d_w + d_attn_in
        return d_src, d_src_mask, d_kpm, None

    def _self_attention_backward(self, delta):
        """∂J/∂(SA's input) — the sum over its three roles, query, key and value — and the masks'
        gradients."""
        d_query, d_key, d_value, d_kpm, _, d_mask, _, _ = self.self_attn.backward(
            (self.dropout1.backward(delta), None))
        return d_query + d_key + d_value, d_mask, d_kpm

    def _feed_forward_backward(self, delta):
        delta = self.linear2.backward(self.dropout2.backward(delta))
        return self.linear1.backward(self.activation.backward(self.dropout.backward(delta)))


def _activation_module(activation):
    """"relu" → ReLU(), "gelu" → GELU(), an nnlib module as it is (it has a backward pass)."""
    if isinstance(activation, str):
        if activation not in ("relu", "gelu"):
            raise ValueError(f"TransformerEncoderLayer: activation must be 'relu' or 'gelu' (or an nnlib "
                             f"activation module), got {activation!r}")
        return ReLU() if activation == "relu" else GELU()
    if isinstance(activation, Module):
        return activation
    raise UnsupportedError(f"TransformerEncoderLayer: activation={activation!r} is not implemented in nnlib: "
                           f"nnlib differentiates by hand, and a function has no backward pass; it supports "
                           f"activation='relu', 'gelu' or an nnlib module such as nn.GELU()")


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (each its own deep copy, so all start
    with the layer's weights), optionally followed by ``norm``, as PyTorch's.

    ``state_dict`` keys ``layers.0.self_attn.in_proj_weight`` … as in PyTorch (``layers`` is a
    ``Sequential`` here, used only to hold them: PyTorch's is a ``ModuleList``). ``norm`` is an
    nnlib module or ``None``; with pre-norm layers (``norm_first=True``) it is usually a
    ``LayerNorm``, since their outputs are not normalised. ``enable_nested_tensor`` and
    ``mask_check`` only steer PyTorch's inference fast path; nnlib accepts them and always
    computes what PyTorch's ordinary path does.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: every layer gets the same
    masks (see ``TransformerEncoderLayer``); ``is_causal=None`` stands for ``False`` (it is a
    hint only). ``backward(∂J/∂y)`` returns ``(∂J/∂src, ∂J/∂mask, ∂J/∂src_key_padding_mask, None)``,
    a float mask's gradient summed over the layers that use it.
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        who = "TransformerEncoder"
        if not isinstance(encoder_layer, TransformerEncoderLayer):
            raise TypeError(f"{who}: encoder_layer must be an nnlib TransformerEncoderLayer, "
                            f"got {type(encoder_layer).__module__}.{type(encoder_layer).__name__}")
        self.num_layers = check_positive_int(num_layers, "num_layers", who)
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"{who}: norm must be an nnlib module (e.g. nn.LayerNorm(d_model)) or None, "
                            f"got {type(norm).__name__}")
        self.enable_nested_tensor = check_bool(enable_nested_tensor, "enable_nested_tensor", who)
        self.mask_check = check_bool(mask_check, "mask_check", who)
        self.layers = Sequential(*[copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        is_causal = False if is_causal is None else check_bool(is_causal, "is_causal", "TransformerEncoder")
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        if self.norm is not None:
            x = self.norm(x)
        self.save_for_backward()
        return x

    def backward(self, grad_output):
        self.saved_for_backward(grad_output)
        delta = grad_output if self.norm is None else self.norm.backward(grad_output)
        d_mask = d_kpm = None
        for layer in reversed(list(self.layers)):
            delta, g_mask, g_kpm, _ = layer.backward(delta)
            d_mask = _add(d_mask, g_mask)
            d_kpm = _add(d_kpm, g_kpm)
        return delta, d_mask, d_kpm, None


def _add(total, term):
    return term if total is None else total + term


def generate_square_subsequent_mask(sz, device=None, dtype=None):
    """The causal mask of a sequence of length ``sz``: an (sz, sz) float array, 0 on and below the
    diagonal and −∞ above it, so that position i attends to positions j ≤ i only (as PyTorch's
    ``nn.Transformer.generate_square_subsequent_mask``). ``device``: nnlib's device (NumPy by
    default), ``dtype``: float32 by default."""
    check_positive_int(sz, "sz", "generate_square_subsequent_mask")
    dtype = backend.resolve_dtype(dtype)
    mask = np.triu(np.full((sz, sz), -np.inf, dtype=dtype), k=1)
    return backend.to_device(mask, backend.normalize_device(device))


# --- nnlib's positional encoding --------------------------------------------------------------------
def sinusoidal_positional_encoding(length, d_model, *, base=10000.0, device=None, dtype=None):
    """The sinusoidal positional encoding of Vaswani et al. (2017): an array PE (length, d_model).

    Position t (0 … length − 1) gets, in its columns 2i and 2i + 1 (i = 0, 1, …),

        PE[t, 2i] = sin(t·ω_i),   PE[t, 2i + 1] = cos(t·ω_i),   ω_i = base^(−2i/d_model),

    a sine and a cosine whose wavelengths 2π/ω_i grow geometrically from 2π to 2π·base across the
    columns: the fast pairs tell neighbouring positions apart, the slow ones distant positions.
    For a fixed offset k, (sin((t + k)ω), cos((t + k)ω)) is a rotation of (sin tω, cos tω) by the
    angle kω, the same for every t: a linear map can read relative positions off the encoding.
    With an odd ``d_model`` the last column is a sine. ``device``: nnlib's device (NumPy by
    default); ``dtype``: float32 by default. (nnlib's own; PyTorch has no such function.)
    """
    who = "sinusoidal_positional_encoding"
    check_positive_int(length, "length", who)
    check_positive_int(d_model, "d_model", who)
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 1:
        raise ValueError(f"{who}: base must be a number greater than 1, got {base!r}")
    t = np.arange(length, dtype=np.float64)[:, None]
    omega = np.power(float(base), -np.arange(0, d_model, 2, dtype=np.float64) / d_model)   # ω_i
    pe = np.empty((length, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(t * omega)
    pe[:, 1::2] = np.cos(t * omega[:d_model // 2])
    return backend.to_device(pe.astype(backend.resolve_dtype(dtype)), backend.normalize_device(device))


class SinusoidalPositionalEncoding(Module):
    """y = x + PE: adds ``sinusoidal_positional_encoding`` to a sequence (nnlib's layer; PyTorch
    has none). x: (T, N, ``d_model``), (N, T, ``d_model``) with ``batch_first``, or unbatched
    (T, ``d_model``), with T ≤ ``max_len``. PE has no parameters, so backward is the identity:
    ∂J/∂x = ∂J/∂y. ``base`` as in ``sinusoidal_positional_encoding``.

    The encoding is computed once, for ``max_len`` positions, in float64 on NumPy, and converted to
    the input's device and dtype when used.
    """

    def __init__(self, d_model, max_len=5000, batch_first=False, *, base=10000.0):
        super().__init__()
        who = "SinusoidalPositionalEncoding"
        self.d_model = check_positive_int(d_model, "d_model", who)
        self.max_len = check_positive_int(max_len, "max_len", who)
        self.batch_first = check_bool(batch_first, "batch_first", who)
        self.base = base
        self._table = sinusoidal_positional_encoding(max_len, d_model, base=base, dtype="float64")

    def forward(self, input):
        seq = "(N, T, D)" if self.batch_first else "(T, N, D)"
        expected = f"{seq} or unbatched (T, D), D = {self.d_model}, T ≤ {self.max_len}"
        x = self.check_input(input, min_ndim=2, last_dim=self.d_model, describe=expected)
        time_axis = 1 if self.batch_first and x.ndim == 3 else 0
        if x.ndim > 3 or x.shape[time_axis] > self.max_len:
            raise ShapeError(f"SinusoidalPositionalEncoding: input must have shape {expected}, "
                             f"got {tuple(x.shape)}")
        t = x.shape[time_axis]
        pe = self._table[:t]
        if x.ndim == 3 and time_axis == 0:
            pe = pe[:, None]                    # (T, 1, D): the same encoding for every example
        self.save_for_backward()
        return x + backend.to_device(pe.astype(backend.dtype_name(x)), backend.device_of(x))

    def backward(self, grad_output):
        self.saved_for_backward(grad_output)
        return grad_output

    def extra_repr(self):
        text = f"d_model={self.d_model}, max_len={self.max_len}"
        return text + (", batch_first=True" if self.batch_first else "") + (
            "" if self.base == 10000.0 else f", base={self.base}")
