"""Catch divergence early: stop at the first NaN/Inf and say at which step and in which layer.

A diverging run rarely fails loudly: the loss becomes ``nan`` and stays there, and the reader
is left guessing. ``DivergenceGuard`` checks, in the order they were computed, every layer's
output, the loss, and every parameter's gradient, and raises ``DivergenceError`` naming the
first non-finite one::

    guard = DivergenceGuard(model)
    for step in range(steps):
        loss = criterion(model(x), y)
        model.backward(criterion.backward())
        guard.check(step, loss)          # raises DivergenceError at the first NaN/Inf
        ...update the parameters...
"""

import math

from . import backend
from .errors import DivergenceError


def count_nonfinite(array):
    """How many entries of ``array`` are NaN or ±Inf (works on NumPy and torch)."""
    xp = backend.namespace(array)
    return int(xp.sum(xp.astype(~xp.isfinite(array), xp.int64)))


def _describe(array):
    xp = backend.namespace(array)
    nan = int(xp.sum(xp.astype(xp.isnan(array), xp.int64)))
    inf = count_nonfinite(array) - nan
    return f"{nan} NaN and {inf} Inf of {math.prod(array.shape)} entries"  # torch's .size is a method


class DivergenceGuard:
    """Watches a model during training; ``check(step, loss)`` raises ``DivergenceError``.

    ``every`` checks only every k-th step (each check reads every activation and gradient
    once; on a GPU it also waits for the GPU). The layer outputs are seen through a forward
    hook on every module of the model; ``close()`` (or leaving a ``with`` block) removes them.
    """

    def __init__(self, model, every=1):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"DivergenceGuard: every must be a positive integer, got {every!r}")
        self.model, self.every = model, every
        self._outputs = {}  # module → its output in the last forward pass
        self._handles = [module.register_forward_hook(self._record) for module in model.modules()]

    def _record(self, module, args, output):
        self._outputs[module] = output

    def close(self):
        """Stop recording layer outputs (removes the hooks) and forget the recorded ones."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._outputs.clear()

    def check(self, step, loss=None):
        """Raise ``DivergenceError`` if the last forward/backward produced NaN/Inf."""
        if step % self.every:
            return
        advice = "lower the learning rate, check the inputs for NaN/Inf, or clip the gradients"
        for name, module in _children_first(self.model):
            for output in _arrays(self._outputs.get(module)):
                if count_nonfinite(output):
                    where = f"output of layer '{name or type(module).__name__}' ({type(module).__name__})"
                    raise DivergenceError(f"step {step}: {where} has {_describe(output)}; {advice}",
                                          step=step, where=name, kind="activation")
        if loss is not None and not _finite_scalar(loss):
            raise DivergenceError(f"step {step}: the loss is {float(loss)}; {advice}",
                                  step=step, where="loss", kind="loss")
        # Gradients are computed from the last layer back, so report the last one first.
        for name, p in reversed(list(self.model.named_parameters())):
            if p.grad is not None and count_nonfinite(p.grad):
                raise DivergenceError(f"step {step}: gradient of '{name}' has {_describe(p.grad)}; {advice}",
                                      step=step, where=name, kind="gradient")
        for name, p in self.model.named_parameters():
            if count_nonfinite(p.data):
                raise DivergenceError(f"step {step}: parameter '{name}' has {_describe(p.data)}; {advice}",
                                      step=step, where=name, kind="parameter")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _children_first(module, prefix=""):
    """``(name, module)`` with each module after its children: the order their outputs are
    computed in, so a nested container is not blamed for what its first layer produced."""
    for name, child in module.named_children():
        yield from _children_first(child, f"{prefix}.{name}" if prefix else name)
    yield prefix, module


def _arrays(tree):
    if isinstance(tree, (tuple, list)):
        return [a for t in tree for a in _arrays(t)]
    return [tree] if backend.is_array(tree) else []


def _finite_scalar(value):
    return math.isfinite(float(value))
