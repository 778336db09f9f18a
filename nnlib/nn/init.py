"""Weight initialisation, with ``torch.nn.init``'s names and formulas.

Every function fills a ``Parameter`` in place (new values, same shape, dtype and device) from
nnlib's seeded generator (``nnlib.manual_seed``) and returns it.

fan_in / fan_out of a weight of shape ``(out, in, *kernel)`` are ``in·k`` and ``out·k`` with
``k`` the kernel size (1 for ``Linear``).
"""

import math

import numpy as np

from .. import backend
from ..rng import generator
from .module import Parameter

_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
          "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0,
          "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 3.0 / 4.0}


def calculate_gain(nonlinearity, param=None):
    """The recommended std multiplier for a nonlinearity (PyTorch's table).

    ``leaky_relu`` uses ``param`` as its negative slope (default 0.01): gain = √(2/(1+a²)).
    """
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in _GAINS:
        expected = sorted(_GAINS) + ["leaky_relu"]
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of {expected}")
    return _GAINS[nonlinearity]


def fan_in_and_fan_out(shape):
    """(fan_in, fan_out) of a weight with ``shape = (out, in, *kernel)``."""
    if len(shape) < 2:
        raise ValueError(f"fan-in and fan-out need a weight with at least 2 dimensions, "
                         f"got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(param, values):
    if not isinstance(param, Parameter):
        raise TypeError(f"expected a Parameter, got {type(param).__name__}")
    param.data = backend.to_device(values.astype(param.dtype), param.device)
    return param


def uniform_(param, a=0.0, b=1.0):
    """U(a, b)."""
    if not a < b:
        raise ValueError(f"uniform_ needs a < b, got a={a}, b={b}")
    return _fill(param, generator().uniform(a, b, size=param.shape))


def normal_(param, mean=0.0, std=1.0):
    """N(mean, std²)."""
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}")
    return _fill(param, generator().normal(mean, std, size=param.shape))


def constant_(param, value):
    return _fill(param, np.full(param.shape, value))


def zeros_(param):
    return constant_(param, 0.0)


def ones_(param):
    return constant_(param, 1.0)


def xavier_uniform_(param, gain=1.0):
    """Glorot & Bengio (2010): U(−a, a) with a = gain·√(6/(fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(param.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound)


def xavier_normal_(param, gain=1.0):
    """Glorot & Bengio (2010): N(0, σ²) with σ = gain·√(2/(fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(param.shape)
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(param, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(param.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(param, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): U(−b, b) with b = √3 · gain/√fan (gain from ``nonlinearity`` and ``a``)."""
    bound = math.sqrt(3.0) * _kaiming_std(param, a, mode, nonlinearity)
    return uniform_(param, -bound, bound)


def kaiming_normal_(param, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): N(0, σ²) with σ = gain/√fan."""
    return normal_(param, 0.0, _kaiming_std(param, a, mode, nonlinearity))
