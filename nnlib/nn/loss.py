"""Losses J(prediction, target). ``loss = criterion(pred, target)`` returns a 0-d array (use
``loss.item()`` for a Python float); ``criterion.backward()`` returns ∂J/∂pred."""

import math

from .. import backend
from ..errors import DTypeError, ShapeError
from .functional import log_softmax
from .module import Module

_REDUCTIONS = ("mean", "sum")


def _numel(array):
    # Not array.size: on a torch tensor that is a method, not the element count.
    return math.prod(array.shape)


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _upstream(self, grad_output):
        """∂(final objective)/∂J: 1 when J is the objective itself."""
        if backend.is_array(grad_output):
            if tuple(grad_output.shape) != ():
                raise ShapeError(f"{type(self).__name__}.backward(): grad_output must be a scalar, got shape {tuple(grad_output.shape)}")
            return grad_output
        if isinstance(grad_output, bool) or not isinstance(grad_output, (int, float)):
            raise DTypeError(f"{type(self).__name__}.backward(): grad_output must be a number, got {type(grad_output).__name__}")
        return grad_output

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """J = (1/n) Σ_i (ŷ_i − y_i)² over all n elements (``reduction="sum"`` drops the 1/n).

    ∂J/∂ŷ = (2/n)(ŷ − y). Prediction and target must have exactly the same shape: a (N, 1)
    prediction against an (N,) target would otherwise broadcast into an (N, N) mistake.
    """

    def forward(self, pred, target):
        self.check_input(pred, name="prediction")
        self.check_input(target, name="target")
        if tuple(pred.shape) != tuple(target.shape):
            raise ShapeError(
                f"MSELoss: prediction and target must have the same shape, got {tuple(pred.shape)} and "
                f"{tuple(target.shape)} (reshape one of them; nnlib does not broadcast here)"
            )
        self.check_device_and_dtype(target, "target", like={"the prediction": pred})
        diff = pred - target
        self.save_for_backward(diff)
        total = backend.namespace(diff).sum(diff * diff)
        return total / _numel(diff) if self.reduction == "mean" else total

    def backward(self, grad_output=1.0):
        scale = self._upstream(grad_output)
        (diff,) = self.pop_saved()
        n = _numel(diff) if self.reduction == "mean" else 1
        return (2.0 / n) * scale * diff


class CrossEntropyLoss(_Loss):
    """Softmax followed by the negative log-likelihood of the correct class.

    For logits z of shape (N, C) and integer targets t of shape (N,) with 0 ≤ t_n < C:
    J = (1/N) Σ_n [log Σ_c e^(z_nc) − z_{n,t_n}] = −(1/N) Σ_n log softmax(z_n)_{t_n}, with
    ``functional.log_softmax`` (max_c z_nc subtracted first), so large logits do not overflow.
    ∂J/∂z_nc = (softmax(z_n)_c − [c = t_n]) / N.
    """

    def forward(self, logits, target):
        self.check_input(logits, ndim=2, name="logits", describe="(N, C)")
        if not backend.is_array(target):
            raise DTypeError(f"CrossEntropyLoss: target must be an integer array of class indices, got {type(target).__name__}")
        n, c = logits.shape
        if tuple(target.shape) != (n,):
            raise ShapeError(f"CrossEntropyLoss: target must have shape ({n},) to match logits {tuple(logits.shape)}, got {tuple(target.shape)}")
        if not backend.dtype_name(target).startswith(("int", "uint")):
            raise DTypeError(
                f"CrossEntropyLoss: target must hold integer class indices, got dtype {backend.dtype_name(target)} "
                f"(use labels.astype(np.int64) if they are whole numbers)"
            )
        self.check_device_and_dtype(target, "target", like={"the logits": logits})  # integers: the device
        xp = backend.namespace(logits)
        lo, hi = int(xp.min(target)), int(xp.max(target))
        if lo < 0 or hi >= c:
            raise ValueError(f"CrossEntropyLoss: target labels must be in [0, {c - 1}] for {c} classes, got values in [{lo}, {hi}]")
        target = xp.astype(target, xp.int64)
        log_probs = log_softmax(logits, dim=1)
        picked = xp.take_along_axis(log_probs, target[:, None], axis=1)                 # log p(t_n)
        self.save_for_backward(log_probs, target)
        total = -xp.sum(picked)
        return total / n if self.reduction == "mean" else total

    def backward(self, grad_output=1.0):
        scale = self._upstream(grad_output)
        log_probs, target = self.pop_saved()
        xp = backend.namespace(log_probs)
        n = log_probs.shape[0]
        grad = xp.exp(log_probs)                                     # softmax(z)
        grad[xp.arange(n, device=backend.native_device(target)), target] -= 1
        return grad * (scale / n if self.reduction == "mean" else scale)
