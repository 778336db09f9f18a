"""Pooling: ``MaxPool2d`` and ``AvgPool2d``, each channel on its own, no parameters.

Both slide a kh×kw window with stride s over a padded input, like a convolution, and use the
same loop over the kh·kw kernel offsets (never over pixels). Output size: (H + 2p − k)/s + 1,
which must be an integer (see ``functional.output_size``). PyTorch allows at most p ≤ k/2, so that no
window lies entirely in the padding; so does nnlib.
"""

from .. import backend
from .functional import add_into, check_image_batch, output_size, pad_channels_first, pair, window
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        who = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", who)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", who)
        self.padding = pair(padding, "padding", who, minimum=0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{who}: padding must be at most half the kernel size (as in PyTorch), "
                             f"got padding={self.padding} for kernel_size={self.kernel_size}")

    def output_hw(self, x_shape):
        who = type(self).__name__
        h, w = x_shape[2:]
        return (output_size(h, self.kernel_size[0], self.stride[0], self.padding[0], who=who, axis="height"),
                output_size(w, self.kernel_size[1], self.stride[1], self.padding[1], who=who, axis="width"))

    def _windows(self, x, fill):
        """For each kernel offset (u, v): the (C, N, OH, OW) slice of the padded input it sees."""
        xp = backend.namespace(x)
        out_hw = self.output_hw(tuple(x.shape))
        xc = pad_channels_first(xp.permute_dims(x, (1, 0, 2, 3)), self.padding, fill)
        kh, kw = self.kernel_size
        return [xc[(..., *window(u, v, out_hw, self.stride))] for u in range(kh) for v in range(kw)], out_hw

    def _scatter(self, parts, x_shape, out_hw):
        """Adjoint of ``_windows``: add part k back where offset k's slice came from → (N, C, H, W)."""
        xp = backend.namespace(parts[0])
        n, c, h, w = x_shape
        ph, pw = self.padding
        # Windows that tile the input (s = k, p = 0; the output size is exact) never overlap:
        # every input pixel is written exactly once, so assignment replaces zero-fill and add.
        tiles = self.stride == self.kernel_size and self.padding == (0, 0)
        shape = (c, n, h + 2 * ph, w + 2 * pw)
        device = backend.native_device(parts[0])
        d_xpad = (xp.empty if tiles else xp.zeros)(shape, dtype=parts[0].dtype, device=device)
        kw = self.kernel_size[1]
        for k, part in enumerate(parts):
            u, v = divmod(k, kw)
            if tiles:
                d_xpad[(..., *window(u, v, out_hw, self.stride))] = part
            else:
                add_into(d_xpad[(..., *window(u, v, out_hw, self.stride))], part)
        return xp.permute_dims(d_xpad[:, :, ph:ph + h, pw:pw + w], (1, 0, 2, 3))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y = the largest value in each window; padding counts as −∞ (it never wins), as in PyTorch.

    Backward: the whole δ of a window goes to the input that was the maximum (∂max/∂x_k = 1 for
    the winner, 0 for the rest). On ties the first maximum in the window's row-major order wins,
    as in PyTorch's kernels (they scan the window and replace the maximum only by a strictly
    larger value). With overlapping windows (s < k) an input can win several windows and
    collects the sum of their δ. A window holding NaN outputs NaN and passes no gradient.
    """

    def forward(self, x):
        check_image_batch(self, x, None)
        xp = backend.namespace(x)
        parts, out_hw = self._windows(x, -float("inf"))
        y = parts[0]
        for part in parts[1:]:
            y = xp.maximum(y, part)
        # The windows are views of x (or of its padded copy): saving them costs no memory.
        self.save_for_backward(parts, y, tuple(x.shape), out_hw)
        return xp.permute_dims(y, (1, 0, 2, 3))         # (C, N, …) memory viewed as (N, C, …)

    def backward(self, grad_output):
        parts, y, x_shape, out_hw = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = xp.permute_dims(grad_output, (1, 0, 2, 3))  # (C, N, OH, OW), like y
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
        return self._scatter(grads, x_shape, out_hw)


class AvgPool2d(_Pool2d):
    """y = the mean of each window, padding counted as zeros (PyTorch's count_include_pad=True).

    Backward: every input of a window receives δ/(kh·kw), summed over the windows covering it.
    """

    def forward(self, x):
        check_image_batch(self, x, None)
        xp = backend.namespace(x)
        parts, out_hw = self._windows(x, 0.0)
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        self.save_for_backward(tuple(x.shape), out_hw)
        y = total / (self.kernel_size[0] * self.kernel_size[1])
        return xp.permute_dims(y, (1, 0, 2, 3))

    def backward(self, grad_output):
        x_shape, out_hw = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        share = xp.permute_dims(grad_output, (1, 0, 2, 3)) / (self.kernel_size[0] * self.kernel_size[1])
        return self._scatter([share] * (self.kernel_size[0] * self.kernel_size[1]), x_shape, out_hw)
