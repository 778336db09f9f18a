"""Pooling, each channel on its own, no parameters: ``MaxPool1d/2d``, ``AvgPool1d/2d``, and
``AdaptiveAvgPool1d/2d``, which choose the windows from the output size they are asked for.

Max and average pooling slide a kh×kw window (dilated by d for max pooling) with stride s over
a padded input, like a convolution, and use the same loop over the kh·kw kernel offsets (never
over pixels). Output size, as in PyTorch: ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1, or with
``ceil_mode=True`` ⌈…⌉ + 1 (a last, partial window), see ``functional.output_size``. PyTorch
allows at most p ≤ k/2, so that no window of a dense kernel lies entirely in the padding; so
does nnlib. (A dilated one can: its maximum is −∞, as in PyTorch.)

As for the convolutions, the computation sees (N, C, H, W) batches: an unbatched (C, H, W)
input gets N = 1, and the 1-D layers view a (N, C, L) signal as an image of height 1.
"""

import numpy as np

from .. import backend
from .functional import (add_into, check_bool, check_sliding_input, image_batch_view, ntuple, original_layout,
                         output_size, pad_channels_first, window)
from .module import Module


class _PoolNd(Module):
    """The window geometry of max and average pooling; ``spatial`` is 1 or 2 (see ``_ConvNd``)."""

    spatial = 2

    def __init__(self, kernel_size, stride, padding, dilation, ceil_mode):
        super().__init__()
        who, n = type(self).__name__, self.spatial
        kernel = ntuple(kernel_size, n, "kernel_size", who)
        steps = kernel if stride is None else ntuple(stride, n, "stride", who)
        pad = ntuple(padding, n, "padding", who, minimum=0)
        spread = ntuple(dilation, n, "dilation", who)
        if any(p > k // 2 for p, k in zip(pad, kernel)):
            raise ValueError(f"{who}: padding must be at most half the kernel size (as in PyTorch), "
                             f"got padding={padding!r} for kernel_size={kernel_size!r}")
        # The attributes hold the arguments as given, as PyTorch's pooling layers keep them
        # (AvgPool1d turns them into 1-tuples first, as PyTorch's does).
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = check_bool(ceil_mode, "ceil_mode", who)
        # The geometry on the (H, W) image the computation sees: a 1-D layer's height axis is trivial.
        lead = (1,) * (2 - n)
        self._kernel, self._stride = (*lead, *kernel), (*lead, *steps)
        self._dilation, self._pad = (*lead, *spread), (*((0,) * (2 - n)), *pad)

    def _geometry(self, in_hw):
        """(OH, OW), and the padding ((top, bottom), (left, right)) the windows read: the layer's,
        plus on the bottom and right what a last, partial ``ceil_mode`` window reaches beyond it."""
        who, out_hw, padding = type(self).__name__, [], []
        for size, k, s, p, d, axis in zip(in_hw, self._kernel, self._stride, self._pad, self._dilation,
                                          ("height", "width")):
            o = output_size(size, k, s, (p, p), d, ceil_mode=self.ceil_mode, who=who, axis=axis)
            beyond = max(0, (o - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
            out_hw.append(o)
            padding.append((p, p + beyond))
        return tuple(out_hw), tuple(padding)

    def _windows(self, x, fill):
        """For each kernel offset (u, v): the (C, N, OH, OW) slice of the padded input it sees."""
        xp = backend.namespace(x)
        out_hw, padding = self._geometry(tuple(x.shape[2:]))
        xc = pad_channels_first(xp.permute_dims(x, (1, 0, 2, 3)), padding, fill)
        kh, kw = self._kernel
        parts = [xc[(..., *window(u, v, out_hw, self._stride, self._dilation))]
                 for u in range(kh) for v in range(kw)]
        return parts, out_hw, padding

    def _scatter(self, parts, x_shape, out_hw, padding):
        """Adjoint of ``_windows``: add part k back where offset k's slice came from → (N, C, H, W)."""
        xp = backend.namespace(parts[0])
        n, c, h, w = x_shape
        (top, bottom), (left, right) = padding
        # Windows that tile the input (s = k, no padding or dilation, and the windows reach the last
        # row and column) never overlap and cover everything: every input pixel is written exactly
        # once, so assignment replaces zero-fill and add.
        (kh, kw), (oh, ow) = self._kernel, out_hw
        tiles = (self._stride == self._kernel and self._dilation == (1, 1)
                 and not (top or bottom or left or right) and (oh * kh, ow * kw) == (h, w))
        shape = (c, n, top + h + bottom, left + w + right)
        device = backend.native_device(parts[0])
        d_xpad = (xp.empty if tiles else xp.zeros)(shape, dtype=parts[0].dtype, device=device)
        for k, part in enumerate(parts):
            u, v = divmod(k, kw)
            where = (..., *window(u, v, out_hw, self._stride, self._dilation))
            if tiles:
                d_xpad[where] = part
            else:
                add_into(d_xpad[where], part)
        return xp.permute_dims(d_xpad[:, :, top:top + h, left:left + w], (1, 0, 2, 3))


class _MaxPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride, padding, dilation, return_indices, ceil_mode):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.dilation = dilation
        self.return_indices = check_bool(return_indices, "return_indices", type(self).__name__)

    def forward(self, x):
        batched = check_sliding_input(self, x, None, self.spatial)
        x = image_batch_view(x, batched, self.spatial)  # (N, C, H, W)
        xp = backend.namespace(x)
        parts, out_hw, padding = self._windows(x, -float("inf"))
        y = parts[0]
        for part in parts[1:]:
            y = xp.maximum(y, part)
        # The windows are views of x (or of its padded copy): saving them costs no memory.
        self.save_for_backward(parts, y, tuple(x.shape), out_hw, padding, batched)
        # (C, N, …) memory viewed as (N, C, …)
        out = original_layout(xp.permute_dims(y, (1, 0, 2, 3)), batched, self.spatial)
        if not self.return_indices:
            return out
        indices = self._argmax(parts, tuple(x.shape), out_hw, padding)
        return out, original_layout(xp.permute_dims(indices, (1, 0, 2, 3)), batched, self.spatial)

    def _argmax(self, parts, x_shape, out_hw, padding):
        """PyTorch's ``return_indices``: where in its (H, W) input plane each window's maximum is,
        as the flat index h·W + w (for a 1-D layer, the position along L). As PyTorch's kernels
        do, scan the window in row-major order and move only to a strictly larger value (or a
        NaN), starting from the window's first position inside the input."""
        xp = backend.namespace(parts[0])
        h, w = x_shape[2:]
        (sh, sw), (dh, dw), kw = self._stride, self._dilation, self._kernel[1]
        device = backend.native_device(parts[0])
        # Where each window starts in the input (negative: in the padding): (OH, 1) and (1, OW).
        rows0 = xp.arange(out_hw[0], device=device)[:, None] * sh - padding[0][0]
        cols0 = xp.arange(out_hw[1], device=device)[None, :] * sw - padding[1][0]
        offsets = []  # per kernel offset: the flat index it reads, and whether that lies inside the input
        for k in range(len(parts)):
            u, v = divmod(k, kw)
            rows, cols = rows0 + u * dh, cols0 + v * dw
            offsets.append((rows * w + cols, (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)))
        start = offsets[-1][0]
        for flat, inside in reversed(offsets):
            start = xp.where(inside, flat, start)
        best, index = xp.full_like(parts[0], -float("inf")), xp.broadcast_to(start, parts[0].shape)
        for part, (flat, _) in zip(parts, offsets):
            move = (part > best) | xp.isnan(part)
            best, index = xp.where(move, part, best), xp.where(move, flat, index)
        return xp.astype(index, xp.int64)

    def backward(self, grad_output):
        """∂J/∂x; with ``return_indices=True`` ``grad_output`` is (∂J/∂y, None): the indices are
        integers, they have no gradient."""
        parts, y, x_shape, out_hw, padding, batched = self.saved_for_backward(grad_output)
        if self.return_indices:
            grad_output = grad_output[0]
        xp = backend.namespace(grad_output)
        delta = xp.permute_dims(image_batch_view(grad_output, batched, self.spatial), (1, 0, 2, 3))  # like y
        # Scan the offsets in order: the first one equal to the maximum takes δ, later ties get 0.
        # (0/1 masks as numbers, not booleans with where(): several times faster on torch's CPU.)
        grads, unclaimed = [], None  # unclaimed: 1 where no earlier offset held the maximum
        for k, part in enumerate(parts):
            hit = xp.astype(part == y, delta.dtype)
            if unclaimed is not None:
                hit = hit * unclaimed
            if k < len(parts) - 1:
                unclaimed = 1 - hit if unclaimed is None else unclaimed - hit
            grads.append(delta * hit)
        return original_layout(self._scatter(grads, x_shape, out_hw, padding), batched, self.spatial)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")  # PyTorch's format


class MaxPool2d(_MaxPoolNd):
    """y = the largest value in each window; padding counts as −∞ (it never wins), as in PyTorch.

    (N, C, H, W) → (N, C, OH, OW), or (C, H, W) → (C, OH, OW). ``stride`` defaults to
    ``kernel_size``; ``dilation`` spreads the window's entries d apart. ``return_indices=True``
    returns ``(y, indices)``, the indices as PyTorch's (flat positions h·W + w in each input
    plane, int64).

    Backward: the whole δ of a window goes to the input that was the maximum (∂max/∂x_k = 1 for
    the winner, 0 for the rest). On ties the first maximum in the window's row-major order wins,
    as in PyTorch's kernels (they scan the window and replace the maximum only by a strictly
    larger value). With overlapping windows (s < k) an input can win several windows and
    collects the sum of their δ. A window holding NaN outputs NaN and passes no gradient.
    """

    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)


class MaxPool1d(_MaxPoolNd):
    """``MaxPool2d`` along one axis: (N, C, L) → (N, C, OL), or (C, L) → (C, OL); the
    options are ints (or 1-tuples), the indices positions along L."""

    spatial = 1

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        who = type(self).__name__
        self.count_include_pad = check_bool(count_include_pad, "count_include_pad", who)
        if divisor_override is not None and (isinstance(divisor_override, bool) or
                                             not isinstance(divisor_override, int) or divisor_override == 0):
            raise ValueError(f"{who}: divisor_override must be None or a non-zero integer, "
                             f"got {divisor_override!r}")
        self.divisor_override = divisor_override

    def _divisor(self, in_hw, out_hw, like):
        """What each window's sum is divided by: a number, or an (OH, OW) array where windows differ.

        PyTorch's rule: a window counts its padded entries (``count_include_pad=True``) but not
        what a ``ceil_mode`` window reaches beyond the padding; with ``count_include_pad=False``
        only its entries inside the input.
        """
        if self.divisor_override is not None:
            return self.divisor_override
        counts = []
        for size, o, k, s, p in zip(in_hw, out_hw, self._kernel, self._stride, self._pad):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, size + p)
            if not self.count_include_pad:
                start, end = np.maximum(start, 0), np.minimum(end, size)
            counts.append(end - start)
        table = np.outer(*counts)
        if np.all(table == table[0, 0]):
            return int(table[0, 0])
        xp = backend.namespace(like)
        return xp.asarray(table, dtype=like.dtype, device=backend.native_device(like))

    def forward(self, x):
        batched = check_sliding_input(self, x, None, self.spatial)
        x = image_batch_view(x, batched, self.spatial)
        xp = backend.namespace(x)
        parts, out_hw, padding = self._windows(x, 0.0)
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        divisor = self._divisor(tuple(x.shape[2:]), out_hw, x)
        self.save_for_backward(tuple(x.shape), out_hw, padding, divisor, batched)
        return original_layout(xp.permute_dims(total / divisor, (1, 0, 2, 3)), batched, self.spatial)

    def backward(self, grad_output):
        x_shape, out_hw, padding, divisor, batched = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        share = xp.permute_dims(image_batch_view(grad_output, batched, self.spatial), (1, 0, 2, 3)) / divisor
        d_x = self._scatter([share] * (self._kernel[0] * self._kernel[1]), x_shape, out_hw, padding)
        return original_layout(d_x, batched, self.spatial)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """y = the mean of each window: its sum divided by the number of entries it covers.

    (N, C, H, W) → (N, C, OH, OW), or (C, H, W) → (C, OH, OW). The padding counts as zeros in
    the sum and, with ``count_include_pad=True`` (PyTorch's default), in the count too;
    ``count_include_pad=False`` counts only the entries inside the input. ``divisor_override``
    replaces the count by a fixed number.

    Backward: every input of a window receives δ/count, summed over the windows covering it.
    """

    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


class AvgPool1d(_AvgPoolNd):
    """``AvgPool2d`` along one axis: (N, C, L) → (N, C, OL), or (C, L) → (C, OL). (PyTorch's
    ``AvgPool1d`` has no ``divisor_override``.)"""

    spatial = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, None)
        self.kernel_size, self.stride, self.padding = self._kernel[1:], self._stride[1:], self._pad[1:]


def adaptive_windows(size, out):
    """PyTorch's adaptive windows along one axis: output i averages input positions
    ⌊i·H/OH⌋ … ⌈(i + 1)·H/OH⌉ − 1. They cover the axis, overlap by at most one position
    where OH does not divide H, and all have size H/OH where it does."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


class _AdaptiveAvgPoolNd(Module):
    spatial = 2

    def __init__(self, output_size):
        super().__init__()
        who, n = type(self).__name__, self.spatial
        sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * n
        if len(sizes) != n or any(s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 1)
                                  for s in sizes):
            raise ValueError(f"{who}: output_size must be a positive integer or a tuple of {n} positive "
                             f"integers (None keeps the input size), got {output_size!r}")
        self.output_size = output_size
        self._sizes = (*((1,) * (2 - n)), *sizes)  # on the (H, W) image; None: the input's size

    def forward(self, x):
        batched = check_sliding_input(self, x, None, self.spatial)
        x = image_batch_view(x, batched, self.spatial)  # (N, C, H, W)
        xp = backend.namespace(x)
        rows, cols = (adaptive_windows(size, size if out is None else out)
                      for size, out in zip(x.shape[2:], self._sizes))
        # A window is a rectangle, so its mean is the mean over its rows of the means over its
        # columns: first average the columns of each window, then the rows.
        by_cols = xp.stack([xp.mean(x[..., a:b], axis=-1) for a, b in cols], axis=-1)      # (N, C, H, OW)
        y = xp.stack([xp.mean(by_cols[..., a:b, :], axis=-2) for a, b in rows], axis=-2)   # (N, C, OH, OW)
        self.save_for_backward(tuple(x.shape), rows, cols, batched)
        return original_layout(y, batched, self.spatial)

    def backward(self, grad_output):
        """Each input in window (i, j) receives δ[i, j]/(its size), summed over the windows that
        cover it: the same two steps as forward, in reverse order, each spreading evenly."""
        x_shape, rows, cols, batched = self.saved_for_backward(grad_output)
        delta = image_batch_view(grad_output, batched, self.spatial)
        xp = backend.namespace(delta)
        device = backend.native_device(delta)
        n, c, h, w = x_shape
        d_cols = xp.zeros((n, c, h, len(cols)), dtype=delta.dtype, device=device)
        for i, (a, b) in enumerate(rows):
            add_into(d_cols[..., a:b, :], delta[..., i:i + 1, :] / (b - a))
        d_x = xp.zeros(x_shape, dtype=delta.dtype, device=device)
        for j, (a, b) in enumerate(cols):
            add_into(d_x[..., a:b], d_cols[..., j:j + 1] / (b - a))
        return original_layout(d_x, batched, self.spatial)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a chosen output size (OH, OW), whatever the input's (H, W): windows
    as ``adaptive_windows`` computes them, as in PyTorch. ``AdaptiveAvgPool2d(1)`` is the global
    average pooling that ends many CNNs. ``output_size``: an int or a pair, whose ``None``
    entries keep that input size. (N, C, H, W) → (N, C, OH, OW), or (C, H, W) → (C, OH, OW).
    """

    spatial = 2


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """``AdaptiveAvgPool2d`` along one axis: (N, C, L) → (N, C, OL), or (C, L) → (C, OL);
    ``AdaptiveAvgPool1d(1)`` averages a signal over all its time steps."""

    spatial = 1

