"""Stateless pieces the layers share: argument checks, activation helpers, sliding windows.

Everything here is a plain function of arrays (no parameters, nothing saved for backward), so
that each layer file holds only its layer and imports what it shares from here:

- constructor checks: ``check_positive_int``, ``pair``, ``check_bool``, and ``check_supported``,
  which refuses (``UnsupportedError``, naming the argument) a value PyTorch accepts but nnlib lacks;
- ``step_of`` (the 0/1 derivative of ReLU), ``keep_array`` (0-d results stay arrays on NumPy) and
  ``log_softmax``, which ``CrossEntropyLoss`` and ``nnlib.models.perplexity`` both use;
- the sliding-window machinery of ``Conv2d``, ``MaxPool2d`` and ``AvgPool2d``: ``output_size``,
  ``check_image_batch``, padding, ``im2col`` and its adjoint ``col2im``.

``im2col`` and ``col2im`` work in the layout one matrix product needs, cols of shape
(C·kh·kw, N·OH·OW); ``torch.nn.functional.unfold`` returns (N, C·kh·kw, OH·OW) instead.
"""

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError, UnsupportedError


# --- constructor arguments -------------------------------------------------------------------------------
def check_positive_int(value, name, who):
    """Constructor arguments such as sizes must be positive integers."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{who}: {name} must be a positive integer, got {value!r}")
    return value


def check_bool(value, name, who):
    """Flags are bools: ``batch_first="False"`` is refused instead of being read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{who}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_supported(value, supported, name, who):
    """``value`` must be one of ``supported`` (PyTorch's default first); anything else PyTorch
    accepts but nnlib does not implement raises ``UnsupportedError`` naming the argument."""
    for option in supported:
        if value is option or (type(value) is type(option) and value == option):
            return value
    options = " or ".join(repr(o) for o in supported)
    raise UnsupportedError(f"{who}: {name}={value!r} is not implemented in nnlib; "
                           f"it supports {name}={options}")


def pair(value, name, who, *, minimum=1):
    """An int or a pair of ints (PyTorch's ``_pair``), each ≥ ``minimum``, as a tuple (h, w)."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{who}: {name} must be a {kind} integer or a pair of them, got {value!r}")
    return values


# --- activation helpers ---------------------------------------------------------------------------------
def step_of(y):
    """1 where y > 0 and 0 where y = 0, for y ≥ 0: ⌈min(y, 1)⌉.

    The same 0/1 array as ``y > 0``, but with float arithmetic only: boolean masks, ``where`` and
    the array API's NaN-aware ``sign`` are several times slower on torch's CPU backend.
    """
    xp = backend.namespace(y)
    return xp.ceil(xp.clip(y, max=1))


def keep_array(y):
    """``y`` as an array: NumPy's arithmetic on a 0-d array returns a NumPy scalar (``np.float64``),
    where torch keeps a 0-d tensor. Element-wise layers pass their results through this, so that a
    0-d input gives a 0-d array on every backend (and backward's shape check sees an array)."""
    return np.asarray(y) if isinstance(y, np.generic) else y


def log_softmax(x, dim):
    """log softmax(x) along ``dim``, as ``torch.nn.functional.log_softmax``, finite for any finite x.

    With m = max x along ``dim``: log softmax(x) = (x − m) − log Σ e^(x − m). Every exponent is
    ≤ 0, so nothing overflows, and the largest term is e^0 = 1, so the log never sees 0. The
    order matters: x − m is exact, while subtracting m + log Σ … from x in one go rounds the
    small log Σ … away when m is large (in float32, 5e4 + log 2 keeps 2 decimals). Writing
    log(softmax(x)) instead gives −inf wherever softmax underflows to 0 (x − m below about
    −745 in float64, −104 in float32).
    """
    if not backend.is_array(x):
        raise DTypeError(f"log_softmax: x must be a NumPy array or torch tensor, got {type(x).__name__}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.ndim <= dim < x.ndim:
        raise ShapeError(f"log_softmax: dim must be an integer in [{-x.ndim}, {x.ndim - 1}] for an input of "
                         f"shape {tuple(x.shape)}, got {dim!r}")
    xp = backend.namespace(x)
    shifted = x - xp.max(x, axis=dim, keepdims=True)            # x − m: exact, ≤ 0
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))


# --- sliding windows: sizes, im2col and its adjoint col2im ---------------------------------------------
def output_size(size, kernel, stride, padding, *, who, axis):
    """OH = (H + 2p − k)/s + 1 along one axis, or a ``ShapeError`` explaining why it does not exist.

    PyTorch floors (H + 2p − k)/s; when the division leaves a remainder r, the last r rows (or
    columns) of the padded input are never covered by any window and silently ignored. nnlib
    raises instead, so that a mismatched stride or padding is noticed.
    """
    padded = size + 2 * padding
    if kernel > padded:
        raise ShapeError(
            f"{who}: kernel {axis} {kernel} is larger than the padded input {axis} "
            f"{size} + 2·{padding} = {padded}; use a smaller kernel, more padding or a larger input"
        )
    span, rest = divmod(padded - kernel, stride)
    if rest:
        dropped = f"padded {'rows' if axis == 'height' else 'columns'} {padded - rest}..{padded - 1}"
        raise ShapeError(
            f"{who}: output {axis} ({axis[0].upper()} + 2p − k)/s + 1 = "
            f"({size} + 2·{padding} − {kernel})/{stride} + 1 "
            f"= {(padded - kernel) / stride + 1:g} is not an integer. PyTorch would floor it to "
            f"⌊({size} + 2·{padding} − {kernel})/{stride}⌋ + 1 = {span + 1} and silently ignore the last "
            f"{rest} {'row(s)' if axis == 'height' else 'column(s)'} of the padded input ({dropped}); "
            f"choose a stride, padding or input size with ({axis[0].upper()} + 2p − k) divisible by s"
        )
    return span + 1


def check_image_batch(module, x, channels, name="input"):
    """x must be (N, C, H, W) with C = ``channels``: ``ShapeError`` naming expected and got."""
    who = type(module).__name__
    expected = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
    module.check_input(x, ndim=4, describe=expected, name=name)
    if channels is not None and x.shape[1] != channels:
        raise ShapeError(f"{who}: {name} must have shape {expected} ({channels} channels), "
                         f"got {tuple(x.shape)} with {x.shape[1]} channel(s)")
    return x


def pad_channels_first(xc, padding, value=0.0):
    """Pad the last two axes of a (C, N, H, W) array with ``value`` (no ``pad`` in the array API)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return xc
    xp = backend.namespace(xc)
    c, n, h, w = xc.shape
    out = xp.full((c, n, h + 2 * ph, w + 2 * pw), value, dtype=xc.dtype, device=backend.native_device(xc))
    out[:, :, ph:ph + h, pw:pw + w] = xc
    return out


def window(u, v, out_hw, stride):
    """The (rows, columns) slices of the padded input that kernel offset (u, v) sees, for all outputs."""
    (oh, ow), (sh, sw) = out_hw, stride
    return slice(u, u + sh * (oh - 1) + 1, sh), slice(v, v + sw * (ow - 1) + 1, sw)


def im2col(x, kernel, stride, padding, out_hw, value=0.0):
    """im2col: (N, C, H, W) → cols of shape (C·kh·kw, N·OH·OW).

    Row (c, u, v) of ``cols`` holds, for every output pixel (n, i, j), the input value that
    kernel weight W[·, c, u, v] multiplies: x_pad[n, c, i·s + u, j·s + v]. One strided slice
    per kernel offset (u, v) fills kh·kw rows at once.
    """
    xp = backend.namespace(x)
    (kh, kw), (oh, ow) = kernel, out_hw
    n, c = x.shape[:2]
    # Channels first, then batch: rows of cols are (c, u, v), columns are (n, i, j).
    xc = pad_channels_first(xp.permute_dims(x, (1, 0, 2, 3)), padding, value)
    # Filled slice by slice rather than with stack(), whose result NumPy lays out like its
    # (transposed) inputs: the reshape below would then copy everything once more.
    cols = xp.empty((c, kh * kw, n, oh, ow), dtype=x.dtype, device=backend.native_device(x))
    for k in range(kh * kw):
        u, v = divmod(k, kw)
        cols[:, k] = xc[(..., *window(u, v, out_hw, stride))]
    return xp.reshape(cols, (c * kh * kw, n * oh * ow))  # a view: cols is C-contiguous


def add_into(view, values):
    """``view += values`` where ``view`` is a basic slice of a larger array: adds into that array.

    Written as a function, not ``a[idx] += values``: Python turns that statement into
    ``t = a[idx]; t += values; a[idx] = t``, and the final assignment copies the slice onto itself
    once more. (Slices are views on both backends, NumPy and torch, so ``+=`` on the view
    writes through.)
    """
    view += values


def col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """col2im, the adjoint of ``im2col``: (C·kh·kw, N·OH·OW) → (N, C, H, W).

    Every input pixel was copied into one column entry per window that covers it, so its
    gradient is the *sum* of those entries: a scatter-add, done offset by offset (each (u, v)
    adds one strided slice). Overlapping windows (s < k) add up; padding is cut off at the end.
    """
    xp = backend.namespace(cols)
    n, c, h, w = x_shape
    (kh, kw), (oh, ow), (ph, pw) = kernel, out_hw, padding
    d_cols = xp.reshape(cols, (c, kh * kw, n, oh, ow))
    d_xpad = xp.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype, device=backend.native_device(cols))
    for k in range(kh * kw):
        u, v = divmod(k, kw)
        add_into(d_xpad[(..., *window(u, v, out_hw, stride))], d_cols[:, k])
    d_x = d_xpad[:, :, ph:ph + h, pw:pw + w]
    return xp.permute_dims(d_x, (1, 0, 2, 3))
