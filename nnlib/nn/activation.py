"""Element-wise activations σ and Softmax, each with its derivative σ' next to it.

backward returns δ ⊙ σ'(x): the "⊙ σ'" factor of the book's backprop formula.
"""

import math

from .. import backend
from ..errors import ShapeError
from .functional import step_of
from .module import Module


class Sigmoid(Module):
    """σ(x) = 1/(1+e^(−x)),  σ'(x) = σ(x)(1−σ(x)) (at most 1/4: why deep sigmoid nets fade)."""

    def forward(self, x):
        self.check_input(x)
        xp = backend.namespace(x)
        # Only e^(−|x|) is ever computed, so nothing overflows for large |x|.
        z = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return grad_output * y * (1 - y)


class Tanh(Module):
    """tanh(x),  tanh'(x) = 1 − tanh²(x)."""

    def forward(self, x):
        self.check_input(x)
        y = backend.namespace(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return grad_output * (1 - y * y)


class ReLU(Module):
    """max(0, x),  derivative 1 for x > 0 and 0 otherwise (0 at x = 0, as PyTorch)."""

    def forward(self, x):
        self.check_input(x)
        y = backend.namespace(x).clip(x, min=0)
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return grad_output * step_of(y)


class LeakyReLU(Module):
    """x for x > 0, a·x otherwise (a = ``negative_slope``); derivative 1 or a."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        if not isinstance(negative_slope, (int, float)) or isinstance(negative_slope, bool) or negative_slope < 0:
            raise ValueError(f"LeakyReLU: negative_slope must be a non-negative number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self.check_input(x)
        xp = backend.namespace(x)
        positive_part = xp.clip(x, min=0)
        self.save_for_backward(positive_part)
        return positive_part + self.negative_slope * (x - positive_part)

    def backward(self, grad_output):
        (positive_part,) = self.saved_for_backward(grad_output)
        is_positive = step_of(positive_part)  # 1 where x > 0, else 0
        return grad_output * (self.negative_slope + (1 - self.negative_slope) * is_positive)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


def erf(x):
    """The error function on either backend (not part of the array API standard)."""
    if backend.is_torch_array(x):
        import torch  # already imported: x is a tensor

        return torch.special.erf(x)
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:  # NumPy alone has no erf; math.erf is exact but element by element
        import numpy as np
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return scipy_erf(x)


class GELU(Module):
    """GELU(x) = x·Φ(x), with Φ the standard normal CDF (Hendrycks & Gimpel, 2016).

    ``approximate="tanh"`` uses 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), as PyTorch does.
    """

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.check_input(x)
        xp = backend.namespace(x)
        self.save_for_backward(x)
        if self.approximate == "tanh":
            t = xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + t)
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))

    def backward(self, grad_output):
        (x,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(x)
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = xp.tanh(k * (x + 0.044715 * x**3))
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + erf(x / math.sqrt(2)))                   # Φ(x)
            pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)       # φ(x)
            slope = cdf + x * pdf                                     # d/dx [x Φ(x)]
        return grad_output * slope

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """softmax(x)_i = e^(x_i) / Σ_j e^(x_j) along ``dim``.

    Its Jacobian is diag(y) − y yᵀ, so backward is y ⊙ (δ − Σ_j δ_j y_j): no matrix is built.
    """

    def __init__(self, dim):
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise ValueError(f"Softmax: dim must be an integer (e.g. dim=-1), got {dim!r}")
        self.dim = dim

    def forward(self, x):
        self.check_input(x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ShapeError(f"Softmax(dim={self.dim}) does not fit an input with {x.ndim} dimension(s), "
                             f"shape {tuple(x.shape)}: expected dim in [{-x.ndim}, {x.ndim - 1}]")
        xp = backend.namespace(x)
        e = xp.exp(x - xp.max(x, axis=self.dim, keepdims=True))  # subtracting the max avoids overflow
        y = e / xp.sum(e, axis=self.dim, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(y)
        return y * (grad_output - xp.sum(grad_output * y, axis=self.dim, keepdims=True))

    def extra_repr(self):
        return f"dim={self.dim}"
