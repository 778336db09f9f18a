"""Fully connected layers: ``Linear``, plus the shape helpers ``Identity`` and ``Flatten``."""

import math

from .. import backend
from ..errors import ShapeError
from . import init
from .functional import check_bool, check_positive_int
from .module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b, for x of shape ``(*, in_features)``.

    In the book's column-vector notation h = σ(W h_prev + b); with a batch stored as rows
    (N, in_features) the same map is X Wᵀ + b. ``weight`` has shape (out_features,
    in_features) and ``bias`` (out_features,), as in PyTorch; both start U(−1/√in, 1/√in).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        bias = check_bool(bias, "bias", "Linear")
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

    def forward(self, input):
        x = self.check_input(input, min_ndim=1, last_dim=self.in_features)
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
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """y = x (a placeholder layer, e.g. to switch a block off).

    As in PyTorch it takes any constructor arguments and ignores them, so that it can stand in
    for the layer it replaces without changing the call: ``Identity(54, bias=False)``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        x = self.check_input(input)
        self.save_for_backward()
        return x

    def backward(self, grad_output):
        self.saved_for_backward(grad_output)
        return grad_output


class Flatten(Module):
    """Reshape dimensions ``start_dim..end_dim`` into one (default: all but the batch dimension)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        if any(not isinstance(d, int) or isinstance(d, bool) for d in (start_dim, end_dim)):
            raise ValueError(f"Flatten: start_dim and end_dim must be integers, got {start_dim!r}, "
                             f"{end_dim!r}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        x = self.check_input(input)
        shape = tuple(x.shape)
        dims = shape or (1,)  # a 0-d input counts as shape (1,), as in PyTorch
        rank = len(dims)
        # Range-check before taking the remainder: % would wrap e.g. start_dim=-5 onto a 3-D input.
        in_range = all(-rank <= d < rank for d in (self.start_dim, self.end_dim))
        if not in_range or self.start_dim % rank > self.end_dim % rank:
            raise ShapeError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an input of "
                f"shape {shape}: expected dims in [{-rank}, {rank - 1}] with start_dim "
                f"not after end_dim"
            )
        start, end = self.start_dim % rank, self.end_dim % rank
        self.save_for_backward(shape)
        flat = 1
        for d in dims[start:end + 1]:
            flat *= d
        return backend.namespace(x).reshape(x, dims[:start] + (flat,) + dims[end + 1:])

    def backward(self, grad_output):
        (shape,) = self.saved_for_backward(grad_output)
        return backend.namespace(grad_output).reshape(grad_output, shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
