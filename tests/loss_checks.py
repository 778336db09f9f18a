"""The two checks of every loss test, for any reduction: gradcheck and torch parity.

A *loss case* is an nnlib criterion, its torch.nn twin, an input and the remaining forward
arguments (the target; for CTC also the lengths). ``Bound`` turns the criterion into a module of
its input alone, so that ``nnlib.gradcheck`` takes J = Σ R ⊙ loss with a random R shaped like
the loss: that covers ``reduction="none"`` (one loss per element) and the upstream gradient that
``backward(grad_output)`` multiplies in, for the scalar reductions too.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib_cases import assert_close


class Bound(nn.Module):
    """``criterion(x, *arguments)`` as a module of x."""

    def __init__(self, criterion, arguments):
        super().__init__()
        self.criterion = criterion
        self.arguments = arguments

    def forward(self, x):
        return self.criterion(x, *self.arguments)

    def backward(self, grad_output):
        return self.criterion.backward(grad_output)


class TorchBound(torch.nn.Module):
    def __init__(self, criterion, arguments):
        super().__init__()
        self.criterion = criterion
        self.arguments = arguments

    def forward(self, x):
        return self.criterion(x, *self.arguments)


def on_device(value, device, dtype):
    """A NumPy argument on ``device`` (floats in ``dtype``); tuples and ints stay as they are."""
    if isinstance(value, np.ndarray):
        return to_device(value.astype(dtype) if value.dtype.kind == "f" else value, device)
    return value


def as_torch(value, dtype):
    if isinstance(value, np.ndarray):
        t = torch.as_tensor(value)
        return t.to(getattr(torch, dtype)) if t.is_floating_point() else t
    return value


@dataclass
class LossCase:
    label: str
    make: Callable        # (device, dtype) → nnlib criterion (its weights on that device)
    make_torch: Callable  # dtype → torch criterion
    input: np.ndarray     # float64; cast to the dtype of the check
    arguments: tuple      # target (and lengths): NumPy arrays, tuples or ints

    def bound(self, device, dtype):
        return Bound(self.make(device, dtype), tuple(on_device(a, device, dtype) for a in self.arguments))

    def torch_bound(self, dtype):
        return TorchBound(self.make_torch(dtype), tuple(as_torch(a, dtype) for a in self.arguments))


def weight_maker(weight):
    """(nnlib factory argument, torch factory argument) for an optional NumPy weight."""
    def ours(device, dtype):
        return None if weight is None else to_device(weight.astype(dtype), device)

    def theirs(dtype):
        return None if weight is None else torch.as_tensor(weight).to(getattr(torch, dtype))

    return ours, theirs


def check_gradcheck(case, device, seed):
    x = to_device(case.input, device)
    table = gc.gradcheck(case.bound(device, "float64"), x, seed=seed)
    assert table.passed and table.rows, f"{case.label}\n{table}"


def check_parity(case, device, dtype, seed):
    """Loss and ∂(Σ R ⊙ loss)/∂input equal torch.autograd's; the loss is on ``device`` in ``dtype``."""
    x = case.input.astype(dtype)
    bound = case.bound(device, dtype)
    out = bound(to_device(x, device))
    assert device_of(out) == device and dtype_name(out) == dtype, case.label
    ref = case.torch_bound(dtype)(torch.as_tensor(x))
    assert tuple(out.shape) == tuple(ref.shape), f"{case.label}: {tuple(out.shape)}, torch {tuple(ref.shape)}"
    assert_close({"loss": to_numpy(out)}, {"loss": ref.detach().numpy()}, dtype, case.label)
    ours = gc.analytic_gradients(case.bound(device, dtype), to_device(x, device), seed=seed)
    theirs = gc.autograd_gradients(case.torch_bound(dtype), x, seed=seed)
    assert ours["input"].dtype == np.dtype(dtype), case.label
    assert_close(ours, theirs, dtype, case.label)
