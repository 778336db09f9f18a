"""nnlib — the companion library of the book: neural networks with hand-written forward and
backward passes, on NumPy (default) or PyTorch tensors (CPU/CUDA/MPS), checked against PyTorch.

>>> import numpy as np, nnlib
>>> from nnlib import nn
>>> nnlib.manual_seed(0)                                   # doctest: +ELLIPSIS
Generator(PCG64) at ...
>>> model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
>>> y = model(np.ones((4, 2), dtype=np.float32))
>>> grad_x = model.backward(np.ones_like(y))             # fills every parameter's .grad
>>> y.shape, grad_x.shape, model[0].weight.grad.shape
((4, 1), (4, 2), (8, 2))
"""

from . import autograd, diagnostics, errors, gradcheck, nn
from ._version import __version__
from .backend import (available_devices, best_device, cpu_threads, device_of, set_cpu_threads, to_device,
                      to_numpy)
from .rng import manual_seed

__all__ = [
    "__version__", "nn", "autograd", "gradcheck", "diagnostics", "errors",
    "manual_seed", "best_device", "available_devices", "device_of", "to_device", "to_numpy",
    "cpu_threads", "set_cpu_threads",
]
