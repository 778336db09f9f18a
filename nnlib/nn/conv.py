"""2-D convolution as one matrix product: ``im2col``, ``W @ cols``, and its adjoint ``col2im``.

A convolution layer is a linear map that is *local* (each output pixel sees a kh×kw patch) and
*weight-shared* (every patch is multiplied by the same W). Like PyTorch, nnlib computes the
cross-correlation

    y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x_pad[n, c, i·s + u, j·s + v]

(the kernel is not flipped; "convolution" is the name deep learning kept). Copying every patch
into a column — ``im2col`` — turns all of it into one matrix product:

    cols: (C·kh·kw, N·OH·OW),   Y = W_mat @ cols,   W_mat = W reshaped to (O, C·kh·kw).

The columns are built with a loop over the kh·kw kernel *offsets* (u, v), each step copying a
strided slice of the whole batch — never a loop over pixels — using only array-API operations,
so the same code runs on NumPy and on torch tensors (CPU or GPU).

``im2col``, its adjoint ``col2im`` and the output size live in ``nnlib.nn.functional``, shared
with the pooling layers. Output size along each axis: ⌊(H + 2p − k)/s⌋ + 1. nnlib insists that
the division is exact (see ``functional.output_size``): PyTorch floors it and silently ignores
the rows that do not fit.
"""

import math

from .. import backend
from . import init
from .functional import check_image_batch, check_positive_int, col2im, im2col, output_size, pair
from .module import Module, Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation) over an (N, C_in, H, W) batch → (N, C_out, OH, OW).

    ``weight`` (out_channels, in_channels, kh, kw) and ``bias`` (out_channels,) start as in
    PyTorch: W ~ kaiming_uniform_(a=√5), i.e. U(±1/√fan_in), b ~ U(±1/√fan_in) with
    fan_in = in_channels·kh·kw. ``kernel_size``, ``stride`` and ``padding`` are ints or pairs.

    Backward. With δ = ∂J/∂y reshaped to (O, N·OH·OW) and the forward Y = W_mat @ cols:

    - ∂J/∂W = δ @ colsᵀ: for each weight W[o, c, u, v], the sum over outputs of δ times the
      input it multiplied — a *correlation of the input with δ* (δ acts as the kernel, dilated
      by the stride);
    - ∂J/∂b = Σ_{n,i,j} δ[n, o, i, j];
    - ∂J/∂x = col2im(W_matᵀ @ δ): each input pixel collects δ·W from every window that covers
      it. Written out, ∂J/∂x[c, a, b] = Σ_{o,u,v} δ[o, (a−u)/s, (b−v)/s] · W[o, c, u, v] — a
      *full convolution of δ with the kernel flipped by 180°* (δ zero-padded by k−1, stride
      gaps filled with zeros). So the backward pass of a convolution is again a convolution,
      computed here by the same im2col/col2im machinery as the forward pass.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 device=None, dtype=None):
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = check_positive_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding = pair(padding, "padding", "Conv2d", minimum=0)
        dtype = backend.resolve_dtype(dtype)
        device = backend.normalize_device(device)
        self.weight = Parameter(backend.zeros((out_channels, in_channels, *self.kernel_size), dtype, device))
        self.bias = Parameter(backend.zeros((out_channels,), dtype, device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=√5) gives the bound 1/√fan_in, as for Linear.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight.shape)
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def output_shape(self, x_shape):
        """(N, out_channels, OH, OW) for an input shape, or a ``ShapeError`` saying why not."""
        n, _, h, w = x_shape
        oh = output_size(h, self.kernel_size[0], self.stride[0], self.padding[0], who="Conv2d", axis="height")
        ow = output_size(w, self.kernel_size[1], self.stride[1], self.padding[1], who="Conv2d", axis="width")
        return n, self.out_channels, oh, ow

    def forward(self, x):
        check_image_batch(self, x, self.in_channels)
        xp = backend.namespace(x)
        n, o, oh, ow = self.output_shape(tuple(x.shape))
        cols = im2col(x, self.kernel_size, self.stride, self.padding, (oh, ow))  # (C·kh·kw, N·OH·OW)
        w_mat = xp.reshape(self.weight.data, (o, -1))                           # (O, C·kh·kw)
        y = w_mat @ cols                                                         # (O, N·OH·OW)
        if self.bias is not None:
            y += self.bias.data[:, None]  # in place: y is a fresh array
        self.save_for_backward(cols, tuple(x.shape))
        # (O, N, OH, OW) viewed as (N, O, OH, OW): no copy. The next layer's im2col wants
        # channels first anyway, so this memory order saves a transpose there.
        return xp.permute_dims(xp.reshape(y, (o, n, oh, ow)), (1, 0, 2, 3))

    can_skip_input_grad = True  # see Module: Sequential passes input_grad=False to a first Conv2d

    def backward(self, grad_output, *, input_grad=True):
        """∂J/∂W and ∂J/∂b into ``.grad``; returns ∂J/∂x, or ``None`` with ``input_grad=False``.

        ``input_grad=False`` is for a first layer, whose input (the data) needs no gradient:
        it skips the col2im, as PyTorch's autograd skips it for an input without requires_grad.
        """
        cols, x_shape = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        o = self.out_channels
        delta = xp.reshape(xp.permute_dims(grad_output, (1, 0, 2, 3)), (o, -1))  # δ: (O, N·OH·OW)
        # ∂J/∂W = δ colsᵀ, computed as (cols δᵀ)ᵀ: the long N·OH·OW axis is then the inner axis
        # of both operands, which NumPy's BLAS call handles several times faster.
        self.weight.accumulate_grad(xp.reshape((cols @ delta.T).T, self.weight.shape))
        if self.bias is not None:
            self.bias.accumulate_grad(xp.sum(delta, axis=1))                         # ∂J/∂b = Σ δ
        if not input_grad:
            return None
        d_cols = xp.reshape(self.weight.data, (o, -1)).T @ delta                     # ∂J/∂cols = Wᵀ δ
        return col2im(d_cols, x_shape, self.kernel_size, self.stride, self.padding, tuple(grad_output.shape[2:]))

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        return s + ("" if self.bias is not None else ", bias=False")
