"""Gradient clipping by the joint norm of all gradients (``torch.nn.utils.clip_grad_norm_``)."""

import math

from .. import backend
from ..nn.module import Parameter
from .optimizer import _check, _is_number, check_implementation_switch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as one long vector. Returns that norm (before
    clipping), as ``torch.nn.utils.clip_grad_norm_`` does. ``foreach`` chooses an implementation
    in PyTorch; nnlib has the loop, ``foreach=None`` or ``False``.
    """
    check_implementation_switch(foreach, "foreach", "clip_grad_norm_")
    _check(_is_number(max_norm) and max_norm > 0, f"max_norm must be positive, got {max_norm!r}")
    _check(norm_type == math.inf or (_is_number(norm_type) and norm_type > 0),
           f"norm_type must be positive or inf, got {norm_type!r}")
    # A list, once: model.parameters() is a generator, and both the norm and the scaling read it.
    parameters = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    xp = backend.namespace(*grads)
    if norm_type == math.inf:
        total = max(xp.max(xp.abs(g)) for g in grads)
    else:
        total = sum(xp.sum(xp.abs(g) ** norm_type) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise FloatingPointError(f"the total norm of the gradients is {float(total)}; cannot clip")
    coef = max_norm / (float(total) + 1e-6)
    if coef < 1:
        for p in parameters:
            if p.grad is not None:
                p.grad = p.grad * coef
    return total
