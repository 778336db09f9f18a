"""Pooling: ``MaxPool2d`` and ``AvgPool2d``, each channel on its own, no parameters.

Both slide a kh×kw window with stride s over a padded input, like a convolution, and use the
same loop over the kh·kw kernel offsets (never over pixels). Output size: (H + 2p − k)/s + 1,
which must be an integer (see ``conv.output_size``). PyTorch allows at most p ≤ k/2, so that no
window lies entirely in the padding; so does nnlib.
"""

from .. import backend
from .conv import check_image_batch, output_size, pad_channels_first, pair, window
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
        d_xpad = xp.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=parts[0].dtype,
                          device=backend.native_device(parts[0]))
        kw = self.kernel_size[1]
        for k, part in enumerate(parts):
            u, v = divmod(k, kw)
            d_xpad[(..., *window(u, v, out_hw, self.stride))] += part
        return xp.permute_dims(d_xpad[:, :, ph:ph + h, pw:pw + w], (1, 0, 2, 3))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y = the largest value in each window; padding counts as −∞ (it never wins), as in PyTorch.

    Backward: the whole δ of a window goes to the input that was the maximum (∂max/∂x_k = 1 for
    the winner, 0 for the rest). On ties the first maximum in the window's row-major order wins,
    as in PyTorch's CPU and CUDA kernels. With overlapping windows (s < k) an input can win several
    windows and collects the sum of their δ.
    """

    def forward(self, x):
        check_image_batch(self, x, None)
        xp = backend.namespace(x)
        parts, out_hw = self._windows(x, -float("inf"))
        stacked = xp.stack(parts, axis=0)               # (kh·kw, C, N, OH, OW)
        winner = xp.argmax(stacked, axis=0)             # first maximum on ties
        y = xp.max(stacked, axis=0)
        self.save_for_backward(winner, tuple(x.shape), out_hw)
        return xp.permute_dims(y, (1, 0, 2, 3))         # (C, N, …) memory viewed as (N, C, …)

    def backward(self, grad_output):
        winner, x_shape, out_hw = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = xp.permute_dims(grad_output, (1, 0, 2, 3))  # (C, N, OH, OW), like winner
        zero = xp.zeros((), dtype=delta.dtype, device=backend.native_device(delta))
        parts = [xp.where(winner == k, delta, zero) for k in range(self.kernel_size[0] * self.kernel_size[1])]
        return self._scatter(parts, x_shape, out_hw)


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
