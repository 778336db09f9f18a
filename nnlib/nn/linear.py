"""Fully connected layers: ``Linear``, plus the shape helpers ``Identity`` and ``Flatten``."""

import math

from .. import backend
from ..errors import ShapeError
from . import init
from .functional import check_positive_int
from .module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b, for x of shape ``(*, in_features)``.

    In the book's column-vector notation h = σ(W h_prev + b); with a batch stored as rows
    (N, in_features) the same map is X Wᵀ + b. ``weight`` has shape (out_features,
    in_features) and ``bias`` (out_features,), as in PyTorch; both start U(−1/√in, 1/√in).
    """

    def __init__(self, in_features, out_features, bias=True, *, device=None, dtype=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        dtype = backend.resolve_dtype(dtype)
        device = backend.normalize_device(device)
        self.weight = Parameter(backend.zeros((out_features, in_features), dtype, device))
        self.bias = Parameter(backend.zeros((out_features,), dtype, device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=√5) makes the bound exactly 1/√fan_in.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        self.check_input(x, min_ndim=1, last_dim=self.in_features)
        self.save_for_backward(x)
        y = x @ self.weight.data.T
        return y if self.bias is None else y + self.bias.data

    can_skip_input_grad = True

    def backward(self, grad_output, *, input_grad=True):
        (x,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(x)
        # Fold any leading dimensions into one batch dimension N.
        delta = xp.reshape(grad_output, (-1, self.out_features))  # δ: (N, out)
        h = xp.reshape(x, (-1, self.in_features))                  # h: (N, in)
        self.weight.accumulate_grad(delta.T @ h)                   # ∂J/∂W = δᵀ h
        if self.bias is not None:
            self.bias.accumulate_grad(xp.sum(delta, axis=0))       # ∂J/∂b = Σ_n δ_n
        if not input_grad:                                         # x is data: no ∂J/∂x needed
            return None
        return grad_output @ self.weight.data                      # ∂J/∂x = δ W

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x (a placeholder layer, e.g. to switch a block off)."""

    def forward(self, x):
        self.check_input(x)
        self.save_for_backward()
        return x

    def backward(self, grad_output):
        self.saved_for_backward(grad_output)
        return grad_output


class Flatten(Module):
    """Reshape dimensions ``start_dim..end_dim`` into one (default: all but the batch dimension)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        if not isinstance(start_dim, int) or not isinstance(end_dim, int):
            raise ValueError(f"Flatten: start_dim and end_dim must be integers, got {start_dim!r}, {end_dim!r}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        self.check_input(x)
        # Range-check before taking the remainder: % would wrap e.g. start_dim=-5 onto a 3-D input.
        in_range = all(-x.ndim <= d < x.ndim for d in (self.start_dim, self.end_dim))
        if not in_range or self.start_dim % x.ndim > self.end_dim % x.ndim:
            raise ShapeError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an input of "
                f"shape {tuple(x.shape)}: expected dims in [{-x.ndim}, {x.ndim - 1}] with start_dim "
                f"not after end_dim"
            )
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        shape = tuple(x.shape)
        self.save_for_backward(shape)
        flat = 1
        for d in shape[start:end + 1]:
            flat *= d
        return backend.namespace(x).reshape(x, shape[:start] + (flat,) + shape[end + 1:])

    def backward(self, grad_output):
        (shape,) = self.saved_for_backward(grad_output)
        return backend.namespace(grad_output).reshape(grad_output, shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
