"""Convolution as one matrix product: ``im2col``, ``W @ cols``, and its adjoint ``col2im``.

A convolution layer is a linear map that is *local* (each output pixel sees a kh×kw patch) and
*weight-shared* (every patch is multiplied by the same W). Like PyTorch, nnlib computes the
cross-correlation

    y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x_pad[n, c, i·s + u·d, j·s + v·d]

(the kernel is not flipped; "convolution" is the name deep learning kept; d is the dilation,
1 for a dense kernel). Copying every patch into a column — ``im2col`` — turns all of it into one
matrix product:

    cols: (C·kh·kw, N·OH·OW),   Y = W_mat @ cols,   W_mat = W reshaped to (O, C·kh·kw).

The columns are built with a loop over the kh·kw kernel *offsets* (u, v), each step copying a
strided slice of the whole batch — never a loop over pixels — using only array-API operations,
so the same code runs on NumPy and on torch tensors (CPU or GPU).

``Conv1d`` (audio, time series) is the same computation on an image of height 1: a (N, C, L)
signal is viewed as (N, C, 1, L) and its (O, C, k) weight as (O, C, 1, k), without copies.

``im2col``, its adjoint ``col2im``, the padding and the output size live in
``nnlib.nn.functional``, shared with the pooling layers. Output size along each axis, as in
PyTorch: ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1; when the division leaves a remainder, the last rows
of the padded input are in no window and are ignored.
"""

import math

from .. import backend
from . import init
from .functional import (check_bool, check_positive_int, check_sliding_input, col2im, im2col,
                         image_batch_view, ntuple, original_layout, output_size, pad_edges, pad_edges_adjoint)
from .module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
NO_PADDING = ((0, 0), (0, 0))


class _ConvNd(Module):
    """What ``Conv1d`` and ``Conv2d`` share; ``spatial`` is the number of spatial axes (1 or 2).

    The computation always sees an (N, C, H, W) batch: an unbatched input gets N = 1, a 1-D
    signal H = 1. ``_kernel``, ``_stride``, ``_dilation`` and ``_padding`` hold the geometry on
    that image, the height axis of a 1-D layer being trivial (k = s = d = 1, no padding);
    ``_padding`` is ((top, bottom), (left, right)), which ``padding="same"`` may make uneven.
    """

    spatial = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, device, dtype):
        super().__init__()
        who, n = type(self).__name__, self.spatial
        self.in_channels = check_positive_int(in_channels, "in_channels", who)
        self.out_channels = check_positive_int(out_channels, "out_channels", who)
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", who)
        self.stride = ntuple(stride, n, "stride", who)
        self.dilation = ntuple(dilation, n, "dilation", who)
        self.groups = check_positive_int(groups, "groups", who)
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups:
                raise ValueError(f"{who}: {name} must be divisible by groups, got {name}={channels} and "
                                 f"groups={groups}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{who}: padding must be an integer, a tuple of them, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{who}: padding='same' needs stride 1 (as in PyTorch), "
                                 f"got stride={stride!r}")
            self.padding = padding
        else:
            self.padding = ntuple(padding, n, "padding", who, minimum=0)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{who}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        check_bool(bias, "bias", who)

        if self.padding == "same":
            # d·(k − 1) padded positions keep the size; an odd total puts the extra one after
            # (right, bottom), as PyTorch does.
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            padding = tuple((t // 2, t - t // 2) for t in totals)
        elif self.padding == "valid":
            padding = ((0, 0),) * n
        else:
            padding = tuple((p, p) for p in self.padding)
        lead = () if n == 2 else (1,)
        self._kernel, self._stride = (*lead, *self.kernel_size), (*lead, *self.stride)
        self._dilation, self._padding = (*lead, *self.dilation), (((0, 0),) if n == 1 else ()) + padding

        dtype = backend.resolve_dtype(dtype)
        device = backend.normalize_device(device)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(backend.zeros(shape, dtype, device))
        self.bias = Parameter(backend.zeros((out_channels,), dtype, device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=√5) gives the bound 1/√fan_in, as for Linear;
        # fan_in = (in_channels/groups)·kh·kw, the inputs one output sees.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight.shape)
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def _output_hw(self, h, w):
        who = type(self).__name__
        return tuple(output_size(size, k, s, p, d, who=who, axis=axis)
                     for size, k, s, p, d, axis in zip((h, w), self._kernel, self._stride, self._padding,
                                                       self._dilation, ("height", "width")))

    def output_shape(self, x_shape):
        """The output shape for an input shape (batched or not), or a ``ShapeError`` saying why not."""
        x_shape = tuple(x_shape)
        *lead, h, w = (*x_shape[:-1], 1, x_shape[-1]) if self.spatial == 1 else x_shape
        oh, ow = self._output_hw(h, w)
        return (*lead[:-1], self.out_channels, *((ow,) if self.spatial == 1 else (oh, ow)))

    def forward(self, x):
        batched = check_sliding_input(self, x, self.in_channels, self.spatial)
        x = image_batch_view(x, batched, self.spatial)              # (N, C, H, W); a 1-D signal has H = 1
        xp = backend.namespace(x)
        n, o, x_shape = x.shape[0], self.out_channels, tuple(x.shape)
        oh, ow = self._output_hw(*x_shape[2:])
        padding = self._padding
        if self.padding_mode != "zeros":  # copies of the input's own edges; im2col then adds no zeros
            x, padding = pad_edges(x, padding, self.padding_mode, who=type(self).__name__), NO_PADDING
        cols = im2col(x, self._kernel, self._stride, padding, (oh, ow), self._dilation)  # (C·kh·kw, N·OH·OW)
        if self.groups == 1:
            w_mat = xp.reshape(self.weight.data, (o, -1))                                # (O, C·kh·kw)
            y = w_mat @ cols                                                             # (O, N·OH·OW)
        else:
            # The O/groups kernels of group g see only its C/groups input channels, a block of
            # C/groups·kh·kw rows of cols: one batched product (groups, O/groups, C/groups·kh·kw)
            # @ (groups, C/groups·kh·kw, N·OH·OW).
            g = self.groups
            w_mat = xp.reshape(self.weight.data, (g, o // g, -1))
            y = xp.reshape(w_mat @ xp.reshape(cols, (g, -1, cols.shape[1])), (o, -1))
        if self.bias is not None:
            y += self.bias.data[:, None]  # in place: y is a fresh array
        self.save_for_backward(cols, x_shape, tuple(x.shape), batched)
        # (O, N, OH, OW) viewed as (N, O, OH, OW): no copy. The next layer's im2col wants
        # channels first anyway, so this memory order saves a transpose there.
        y = xp.permute_dims(xp.reshape(y, (o, n, oh, ow)), (1, 0, 2, 3))
        return original_layout(y, batched, self.spatial)

    can_skip_input_grad = True  # see Module: Sequential passes input_grad=False to a first Conv2d

    def backward(self, grad_output, *, input_grad=True):
        """∂J/∂W and ∂J/∂b into ``.grad``; returns ∂J/∂x, or ``None`` with ``input_grad=False``.

        ``input_grad=False`` is for a first layer, whose input (the data) needs no gradient:
        it skips the col2im, as PyTorch's autograd skips it for an input without requires_grad.
        """
        cols, x_shape, padded_shape, batched = self.saved_for_backward(grad_output)
        grad_output = image_batch_view(grad_output, batched, self.spatial)
        xp = backend.namespace(grad_output)
        o, g = self.out_channels, self.groups
        delta = xp.reshape(xp.permute_dims(grad_output, (1, 0, 2, 3)), (o, -1))  # δ: (O, N·OH·OW)
        if self.bias is not None:
            self.bias.accumulate_grad(xp.sum(delta, axis=1))                         # ∂J/∂b = Σ δ
        if g == 1:
            # ∂J/∂W = δ colsᵀ, computed as (cols δᵀ)ᵀ: the long N·OH·OW axis is then the inner
            # axis of both operands, which NumPy's BLAS call handles several times faster.
            self.weight.accumulate_grad(xp.reshape((cols @ delta.T).T, self.weight.shape))
        else:  # the same per group: ∂J/∂W_g = δ_g cols_gᵀ
            cols, delta = xp.reshape(cols, (g, -1, cols.shape[1])), xp.reshape(delta, (g, o // g, -1))
            d_w = xp.matrix_transpose(cols @ xp.matrix_transpose(delta))
            self.weight.accumulate_grad(xp.reshape(d_w, self.weight.shape))
        if not input_grad:
            return None
        # The same δ with the batch axis last, (O, OH·OW·N): one small copy that makes col2im's
        # scatter-add several times faster (see col2im's batch_last).
        n, out_hw = grad_output.shape[0], tuple(grad_output.shape[2:])
        delta = xp.reshape(xp.matrix_transpose(xp.reshape(delta, (o, n, -1))), (o, -1))
        if g == 1:
            d_cols = xp.reshape(self.weight.data, (o, -1)).T @ delta                     # ∂J/∂cols = Wᵀ δ
        else:
            w_mat, delta = xp.reshape(self.weight.data, (g, o // g, -1)), xp.reshape(delta, (g, o // g, -1))
            d_cols = xp.reshape(xp.matrix_transpose(w_mat) @ delta, (-1, delta.shape[-1]))  # W_gᵀ δ_g
        padding = self._padding if self.padding_mode == "zeros" else NO_PADDING
        d_x = col2im(d_cols, padded_shape, self._kernel, self._stride, padding, out_hw, self._dilation,
                     batch_last=True)
        if self.padding_mode != "zeros":  # each copied edge value hands its gradient to its source
            d_x = pad_edges_adjoint(d_x, x_shape, self._padding, self.padding_mode)
        return original_layout(d_x, batched, self.spatial)

    def extra_repr(self):
        # PyTorch's format: only what differs from the defaults after kernel_size and stride.
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.spatial:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.spatial:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over an (N, C_in, H, W) batch → (N, C_out, OH, OW);
    an unbatched (C_in, H, W) image gives (C_out, OH, OW).

    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are ints or pairs (height, width).
    ``padding`` may also be ``"valid"`` (none) or ``"same"`` (output as large as the input, for
    stride 1: d·(k − 1) positions per axis, the odd one after). ``padding_mode`` fills the
    padding with zeros or with copies of the input's edges (``"reflect"``, ``"replicate"``,
    ``"circular"``; see ``functional.edge_source``). ``groups`` splits the channels into groups
    convolved separately: ``groups=in_channels`` is a depthwise convolution, one kernel per
    channel.

    ``weight`` (out_channels, in_channels/groups, kh, kw) and ``bias`` (out_channels,) start as
    in PyTorch: W ~ kaiming_uniform_(a=√5), i.e. U(±1/√fan_in), b ~ U(±1/√fan_in) with
    fan_in = (in_channels/groups)·kh·kw.

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

    With groups, each group's W_g, cols_g and δ_g obey the same formulas on their own. Edge
    padding is a copy of input values, so its backward adds the padding's gradient to the
    values copied (``functional.pad_edges_adjoint``).
    """

    spatial = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class Conv1d(_ConvNd):
    """1-D convolution over an (N, C_in, L) batch of signals → (N, C_out, OL); an unbatched
    (C_in, L) signal gives (C_out, OL). For audio features and time series.

    The options mean what they mean for ``Conv2d``, on one axis: ``kernel_size``, ``stride``,
    ``padding`` (an int, ``"valid"`` or ``"same"``) and ``dilation`` are ints (or 1-tuples).
    ``weight`` (out_channels, in_channels/groups, k) and ``bias`` start as in PyTorch.

    Computed as a ``Conv2d`` on images of height 1 (the kernel, too, has height 1), so the
    forward and backward formulas are ``Conv2d``'s.
    """

    spatial = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)
