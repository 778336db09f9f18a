"""Stateless pieces the layers share: argument checks, activation helpers, sliding windows.

Everything here is a plain function of arrays (no parameters, nothing saved for backward), so
that each layer file holds only its layer and imports what it shares from here:

- constructor checks: ``check_positive_int``, ``pair``, ``check_bool``, and ``check_supported``,
  which refuses (``UnsupportedError``, naming the argument) a value PyTorch accepts but nnlib lacks;
- ``positive_part`` (the ReLU), ``step_of`` (its 0/1 derivative), ``keep_array`` (0-d results stay
  arrays on NumPy) and ``log_softmax``, which ``LogSoftmax``, ``CrossEntropyLoss`` and
  ``nnlib.models.perplexity`` use;
- the sliding-window machinery of the convolution and pooling layers: ``output_size``, the input
  checks and layouts, zero and edge padding (``pad_edges``), ``im2col`` and its adjoint ``col2im``.

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


def ntuple(value, n, name, who, *, minimum=1):
    """An int or a tuple of ``n`` ints (PyTorch's ``_single``, ``_pair``), each ≥ ``minimum``."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        kind = "positive" if minimum == 1 else "non-negative"
        several = "a pair of them" if n == 2 else f"a tuple of {n}"
        raise ValueError(f"{who}: {name} must be a {kind} integer or {several}, got {value!r}")
    return values


def pair(value, name, who, *, minimum=1):
    """An int or a pair of ints (PyTorch's ``_pair``), each ≥ ``minimum``, as a tuple (h, w)."""
    return ntuple(value, 2, name, who, minimum=minimum)


# --- activation helpers ---------------------------------------------------------------------------------
# max(x, 0) and min(y, 1) are written per backend: on the small arrays of the book's models the
# array API wrappers cost more than the arithmetic. array_api_compat's NumPy ``clip`` takes about
# 20 µs a call against 2 µs for ``maximum``; its torch ``maximum`` about 20 µs (it turns the bound
# into a tensor) against 7 µs for ``clip``. Both forms keep NaN.
def positive_part(x):
    """max(x, 0) element-wise: the ReLU."""
    xp = backend.namespace(x)
    return xp.clip(x, min=0) if backend.is_torch_array(x) else xp.maximum(x, 0)


def step_of(y):
    """1 where y > 0 and 0 where y = 0, for y ≥ 0: ⌈min(y, 1)⌉.

    The same 0/1 array as ``y > 0``, but with float arithmetic only: boolean masks, ``where`` and
    the array API's NaN-aware ``sign`` are several times slower on torch's CPU backend.
    """
    xp = backend.namespace(y)
    return xp.ceil(xp.clip(y, max=1) if backend.is_torch_array(y) else xp.minimum(y, 1))


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


# --- sliding windows: sizes, layouts, padding, im2col and its adjoint col2im ---------------------------
#
# Conv1d/Conv2d and the pooling layers all compute on (N, C, H, W) batches: an unbatched input gets
# a batch axis of 1, a 1-D signal (N, C, L) is an image of height 1. Padding is written per axis as
# (before, after): ((top, bottom), (left, right)) for an image.

def output_size(size, kernel, stride, padding, dilation=1, *, ceil_mode=False, who, axis):
    """The number of window positions along one axis, as PyTorch computes it.

    A kernel of size k with dilation d spans d·(k − 1) + 1 input positions; on an axis of size H
    padded by (p_before, p_after) the windows start at 0, s, 2s, …, so there are

        OH = ⌊(H + p_before + p_after − d·(k − 1) − 1)/s⌋ + 1

    of them. When the division leaves a remainder, the last rows (or columns) of the padded input
    lie in no window: they take no part in the output and get gradient 0. ``ceil_mode=True``
    (pooling) rounds up instead, so that a last, partial window covers them, but drops a last
    window that would start in the right padding: PyTorch's rule. ``ShapeError`` if not even one
    window fits.
    """
    before, after = padding
    padded, span = size + before + after, dilation * (kernel - 1) + 1
    if span > padded:
        sides = f"2·{before}" if before == after else f"{before} + {after}"
        what = f"kernel {axis} {kernel}"
        if dilation > 1:
            what += f" with dilation {dilation} spans {span}, which"
        raise ShapeError(
            f"{who}: {what} is larger than the padded input {axis} {size} + {sides} = {padded}; "
            f"use a smaller kernel, more padding or a larger input"
        )
    if not ceil_mode:
        return (padded - span) // stride + 1
    out = -(-(padded - span) // stride) + 1           # ⌈(H + p_b + p_a − span)/s⌉ + 1
    return out - 1 if (out - 1) * stride >= size + before else out


def check_sliding_input(module, x, channels, spatial):
    """x must be (N, C, H, W) or, unbatched, (C, H, W) — (N, C, L) or (C, L) for ``spatial=1`` —
    with C = ``channels`` (``None``: any): ``ShapeError`` naming expected and got. Returns whether x
    has a batch axis."""
    who = type(module).__name__
    dims = ("L",) if spatial == 1 else ("H", "W")
    c = "C" if channels is None else str(channels)
    expected = f"(N, {', '.join((c, *dims))}) or ({', '.join((c, *dims))})"
    module.check_input(x, describe=expected)
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(f"{who}: input must have shape {expected}, got {tuple(x.shape)}")
    batched = x.ndim == spatial + 2
    if channels is not None and x.shape[-spatial - 1] != channels:
        raise ShapeError(f"{who}: input must have shape {expected} ({channels} channels), "
                         f"got {tuple(x.shape)} with {x.shape[-spatial - 1]} channel(s)")
    return batched


def image_batch_view(x, batched, spatial):
    """x (or a gradient shaped like it) viewed as an (N, C, H, W) batch: N = 1 without a batch
    axis, H = 1 for a 1-D signal. No copy."""
    if not batched:
        x = x[None]
    return x[:, :, None] if spatial == 1 else x


def original_layout(y, batched, spatial):
    """The inverse of ``image_batch_view``: an (N, C, H, W) result back in the input's layout."""
    if spatial == 1:
        y = y[:, :, 0]
    return y if batched else y[0]


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
    """Pad the last two axes of a (C, N, H, W) array with ``value`` (no ``pad`` in the array API).

    ``padding`` is ((top, bottom), (left, right)).
    """
    (top, bottom), (left, right) = padding
    if not (top or bottom or left or right):
        return xc
    xp = backend.namespace(xc)
    c, n, h, w = xc.shape
    out = xp.full((c, n, top + h + bottom, left + w + right), value, dtype=xc.dtype,
                  device=backend.native_device(xc))
    out[:, :, top:top + h, left:left + w] = xc
    return out


def edge_source(size, before, after, mode):
    """For each position of an axis padded by (before, after) in ``mode``, the input position it
    copies (a NumPy int array of length before + size + after). For size 4 and padding (2, 2):

    - ``"reflect"``: mirrored at the edge element, which is not repeated: ``2 1 | 0 1 2 3 | 2 1``
    - ``"replicate"``: the edge element repeated: ``0 0 | 0 1 2 3 | 3 3``
    - ``"circular"``: the axis wraps around: ``2 3 | 0 1 2 3 | 0 1``
    """
    i = np.arange(-before, size + after)
    if mode == "reflect":
        i = np.abs(i)
        return np.where(i > size - 1, 2 * (size - 1) - i, i)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    return i % size


def pad_edges(x, padding, mode, *, who):
    """An (N, C, H, W) batch padded with copies of its own values (PyTorch's ``padding_mode``
    ``"reflect"``, ``"replicate"`` or ``"circular"``); ``padding`` is ((top, bottom), (left, right)).

    Each padded axis is one gather, ``take`` with the positions ``edge_source`` lists. As in
    PyTorch, reflecting needs padding < size (the mirror image of the axis must hold enough
    values) and wrapping around needs padding ≤ size.
    """
    xp = backend.namespace(x)
    for axis, (before, after) in zip((2, 3), padding):
        if not (before or after):
            continue
        size = x.shape[axis]
        widest = max(before, after)
        if mode == "reflect" and widest >= size or mode == "circular" and widest > size:
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ShapeError(f"{who}: padding_mode={mode!r} needs padding {limit} the input size, got "
                             f"padding ({before}, {after}) on an axis of size {size} (input shape "
                             f"{tuple(x.shape)})")
        source = xp.asarray(edge_source(size, before, after, mode), device=backend.native_device(x))
        x = xp.take(x, source, axis=axis)
    return x


def pad_edges_adjoint(grad, x_shape, padding, mode):
    """The adjoint of ``pad_edges``: the gradient of the padded batch → that of the input.

    A padded position is a copy of one input position, so its gradient is added to that
    position's (several copies of one value add up, as the replicated edge does). Written as
    in-place adds of the padding strips into the middle part of ``grad``, which it overwrites.
    """
    for axis, (before, after) in zip((2, 3), padding):
        if not (before or after):
            continue
        size = x_shape[axis]
        source = edge_source(size, before, after, mode)

        def along(start, stop, axis=axis):
            return (slice(None),) * axis + (slice(start, stop),)

        middle = grad[along(before, before + size)]
        for j in [*range(before), *range(before + size, before + size + after)]:
            add_into(middle[along(int(source[j]), int(source[j]) + 1)], grad[along(j, j + 1)])
        grad = middle
    return grad


def window(u, v, out_hw, stride, dilation=(1, 1)):
    """The (rows, columns) slices of the padded input that kernel offset (u, v) sees, for all outputs."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return slice(u * dh, u * dh + sh * (oh - 1) + 1, sh), slice(v * dw, v * dw + sw * (ow - 1) + 1, sw)


def im2col(x, kernel, stride, padding, out_hw, dilation=(1, 1)):
    """im2col: (N, C, H, W) → cols of shape (C·kh·kw, N·OH·OW).

    Row (c, u, v) of ``cols`` holds, for every output pixel (n, i, j), the input value that
    kernel weight W[·, c, u, v] multiplies: x_pad[n, c, i·s + u·d, j·s + v·d] (d: the
    dilation, 1 for a dense kernel). ``padding`` ((top, bottom), (left, right)) adds zeros. One
    strided slice per kernel offset (u, v) fills kh·kw rows at once.
    """
    xp = backend.namespace(x)
    (kh, kw), (oh, ow) = kernel, out_hw
    n, c = x.shape[:2]
    # Channels first, then batch: rows of cols are (c, u, v), columns are (n, i, j).
    xc = pad_channels_first(xp.permute_dims(x, (1, 0, 2, 3)), padding)
    # Filled slice by slice rather than with stack(), whose result NumPy lays out like its
    # (transposed) inputs: the reshape below would then copy everything once more.
    cols = xp.empty((c, kh * kw, n, oh, ow), dtype=x.dtype, device=backend.native_device(x))
    for k in range(kh * kw):
        u, v = divmod(k, kw)
        cols[:, k] = xc[(..., *window(u, v, out_hw, stride, dilation))]
    return xp.reshape(cols, (c * kh * kw, n * oh * ow))  # a view: cols is C-contiguous


def add_into(view, values):
    """``view += values`` where ``view`` is a basic slice of a larger array: adds into that array.

    Written as a function, not ``a[idx] += values``: Python turns that statement into
    ``t = a[idx]; t += values; a[idx] = t``, and the final assignment copies the slice onto itself
    once more. (Slices are views on both backends, NumPy and torch, so ``+=`` on the view
    writes through.)
    """
    view += values


def col2im(cols, x_shape, kernel, stride, padding, out_hw, dilation=(1, 1), *, batch_last=False):
    """col2im, the adjoint of ``im2col``: (C·kh·kw, N·OH·OW) → (N, C, H, W).

    Every input pixel was copied into one column entry per window that covers it, so its
    gradient is the *sum* of those entries: a scatter-add, done offset by offset (each (u, v)
    adds one strided slice). Overlapping windows (s < k) add up; padding is cut off at the end.

    The adds run with the batch axis last, over rows of OW·N neighbouring numbers rather than
    OW (several times faster for small images). ``batch_last=True`` says that ``cols`` already
    has that column order, (C·kh·kw, OH·OW·N), as ``Conv2d.backward`` builds it; otherwise
    one copy reorders them first. The result is in (C, N, H, W) memory, as ``im2col`` reads it.
    """
    xp = backend.namespace(cols)
    n, c, h, w = x_shape
    (kh, kw), (oh, ow), ((top, bottom), (left, right)) = kernel, out_hw, padding
    device = backend.native_device(cols)
    if not batch_last:  # columns (n, i, j) → (i, j, n)
        cols = xp.reshape(xp.matrix_transpose(xp.reshape(cols, (c * kh * kw, n, oh * ow))), (c * kh * kw, -1))
    d_cols = xp.reshape(cols, (c, kh * kw, oh, ow, n))
    d_xpad = xp.zeros((c, top + h + bottom, left + w + right, n), dtype=cols.dtype, device=device)
    for k in range(kh * kw):
        u, v = divmod(k, kw)
        add_into(d_xpad[(slice(None), *window(u, v, out_hw, stride, dilation))], d_cols[:, k])
    d_x = xp.empty((c, n, h, w), dtype=cols.dtype, device=device)             # (C, H, W, N) → (C, N, H, W)
    d_x[...] = xp.permute_dims(d_xpad[:, top:top + h, left:left + w], (0, 3, 1, 2))
    return xp.permute_dims(d_x, (1, 0, 2, 3))
