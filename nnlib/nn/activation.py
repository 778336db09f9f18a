"""Element-wise activations σ, Softmax and LogSoftmax, each with its derivative next to it.

The element-wise ones' backward returns δ ⊙ σ'(x): the "⊙ σ'" factor of the book's backprop
formula. Softmax and LogSoftmax mix the entries along ``dim``; their backward multiplies δ by
the transposed Jacobian without building it. Any input shape works, a 0-d array included (the
result is a 0-d array too, on NumPy as on torch).
"""

import math

from .. import backend
from ..errors import ShapeError, UnsupportedError
from .functional import check_bool, check_supported, keep_array, log_softmax, positive_part, step_of
from .module import Module


class Sigmoid(Module):
    """σ(x) = 1/(1+e^(−x)),  σ'(x) = σ(x)(1−σ(x)) (at most 1/4: why deep sigmoid nets fade)."""

    def forward(self, input):
        x = self.check_input(input)
        xp = backend.namespace(x)
        # Only e^(−|x|) is ever computed, so nothing overflows for large |x|.
        z = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return keep_array(grad_output * y * (1 - y))


class Tanh(Module):
    """tanh(x),  tanh'(x) = 1 − tanh²(x)."""

    def forward(self, input):
        x = self.check_input(input)
        y = keep_array(backend.namespace(x).tanh(x))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return keep_array(grad_output * (1 - y * y))


class ReLU(Module):
    """max(0, x),  derivative 1 for x > 0 and 0 otherwise (0 at x = 0, as PyTorch).

    ``inplace=True`` is refused (``UnsupportedError``): overwriting the input would also overwrite
    what the previous layer saved for its backward (Tanh and Sigmoid keep their output), and
    without autograd's version counters nnlib could not notice — the gradients would be silently
    wrong, where PyTorch raises an error.
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = check_supported(check_bool(inplace, "inplace", "ReLU"), (False,), "inplace", "ReLU")

    def forward(self, input):
        x = self.check_input(input)
        y = keep_array(positive_part(x))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        return keep_array(grad_output * step_of(y))



class LeakyReLU(Module):
    """x for x > 0, a·x otherwise (a = ``negative_slope``, any real number); derivative 1 or a.

    ``inplace=True`` is refused, as for ``ReLU``.
    """

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        is_number = isinstance(negative_slope, (int, float)) and not isinstance(negative_slope, bool)
        if not is_number or not math.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU: negative_slope must be a finite number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.inplace = check_supported(check_bool(inplace, "inplace", "LeakyReLU"), (False,), "inplace",
                                       "LeakyReLU")

    def forward(self, input):
        x = self.check_input(input)
        positive = keep_array(positive_part(x))
        self.save_for_backward(positive)
        return keep_array(positive + self.negative_slope * (x - positive))

    def backward(self, grad_output):
        (positive,) = self.saved_for_backward(grad_output)
        is_positive = step_of(positive)  # 1 where x > 0, else 0
        return keep_array(grad_output * (self.negative_slope + (1 - self.negative_slope) * is_positive))

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

    GELU'(x) = Φ(x) + x·φ(x), with φ the normal density.

    ``approximate="tanh"`` uses 0.5·x·(1 + tanh u), u = √(2/π)(x + 0.044715x³), as PyTorch does;
    with t = tanh u and t' = 1 − t², its derivative is 0.5(1 + t) + 0.5·x·(1 − t²)·√(2/π)(1 + 3·0.044715x²).
    """

    def __init__(self, approximate="none"):
        super().__init__()
        if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        x = self.check_input(input)
        xp = backend.namespace(x)
        self.save_for_backward(x)
        if self.approximate == "tanh":
            t = xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            return keep_array(0.5 * x * (1 + t))
        return keep_array(0.5 * x * (1 + erf(x / math.sqrt(2))))

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
        return keep_array(grad_output * slope)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


def _explicit_dim(name, dim):
    """The ``dim`` of Softmax/LogSoftmax: an integer; PyTorch's implicit ``dim=None`` is refused."""
    if dim is None:
        raise UnsupportedError(f"{name}: dim=None (PyTorch's deprecated implicit choice of dimension) is "
                               f"not implemented in nnlib; pass the dimension to normalise over, e.g. "
                               f"{name}(dim=-1)")
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise ValueError(f"{name}: dim must be an integer (e.g. dim=-1), got {dim!r}")
    return dim


def _check_dim_fits(layer, x):
    """``x`` if ``layer.dim`` is one of its dimensions (a 0-d input counts as one entry)."""
    rank = max(x.ndim, 1)
    if not -rank <= layer.dim < rank:
        raise ShapeError(f"{type(layer).__name__}(dim={layer.dim}) does not fit an input with {x.ndim} "
                         f"dimension(s), shape {tuple(x.shape)}: expected dim in [{-rank}, {rank - 1}]")
    return x


class Softmax(Module):
    """softmax(x)_i = e^(x_i) / Σ_j e^(x_j) along ``dim``.

    Its Jacobian is diag(y) − y yᵀ, so backward is y ⊙ (δ − Σ_j δ_j y_j): no matrix is built.
    A 0-d input counts as one entry (dim 0 or −1, as in PyTorch): its softmax is 1.

    ``dim`` must be given: PyTorch's ``dim=None`` picks a dimension from the input's rank (0 for
    0-, 1- and 3-d inputs, else 1 — a deprecated rule that normalises over the batch of an
    (N, T, C) input), and nnlib refuses it rather than guess.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _explicit_dim(type(self).__name__, dim)

    def forward(self, input):
        x = _check_dim_fits(self, self.check_input(input))
        xp = backend.namespace(x)
        z = x if x.ndim else xp.reshape(x, (1,))  # a 0-d input: one entry
        e = xp.exp(z - xp.max(z, axis=self.dim, keepdims=True))  # subtracting the max avoids overflow
        y = e / xp.sum(e, axis=self.dim, keepdims=True)
        self.save_for_backward(y)
        return y if x.ndim else xp.reshape(y, ())

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(y)
        delta = grad_output if grad_output.ndim else xp.reshape(grad_output, (1,))  # 0-d: one entry
        grad = y * (delta - xp.sum(delta * y, axis=self.dim, keepdims=True))
        return grad if grad_output.ndim else xp.reshape(grad, ())

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax(x)_i = x_i − log Σ_j e^(x_j) along ``dim`` (``functional.log_softmax``: no overflow,
    no log 0).

    With y = log softmax(x), ∂y_i/∂x_j = [i = j] − softmax(x)_j, so backward is
    δ − e^y · Σ_i δ_i: the sum of the incoming gradient, handed out in proportion to the
    probabilities. A model that ends in LogSoftmax emits log-probabilities, what ``NLLLoss`` and
    ``CTCLoss`` take. A 0-d input counts as one entry (dim 0 or −1): its log softmax is 0.

    ``dim`` must be given, as for ``Softmax``: PyTorch's implicit ``dim=None`` is deprecated and
    nnlib refuses it.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _explicit_dim(type(self).__name__, dim)

    def forward(self, input):
        x = _check_dim_fits(self, self.check_input(input))
        xp = backend.namespace(x)
        y = log_softmax(x if x.ndim else xp.reshape(x, (1,)), self.dim)  # a 0-d input: one entry
        self.save_for_backward(y)
        return y if x.ndim else xp.reshape(y, ())

    def backward(self, grad_output):
        (y,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(y)
        delta = grad_output if grad_output.ndim else xp.reshape(grad_output, (1,))  # 0-d: one entry
        grad = delta - xp.exp(y) * xp.sum(delta, axis=self.dim, keepdims=True)
        return grad if grad_output.ndim else xp.reshape(grad, ())

    def extra_repr(self):
        return f"dim={self.dim}"
