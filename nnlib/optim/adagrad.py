"""AdaGrad: a per-coordinate step that shrinks with the coordinate's gradient history."""

from .. import backend
from .optimizer import Optimizer, check_initial_accumulator_value, check_lr_decay


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al., 2011): each coordinate's step shrinks with its gradient history.

    s ← s + g²;   θ ← θ − α_t · g / (√s + ε),   α_t = α / (1 + (t−1)·lr_decay).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))

    def _validate(self, group):
        super()._validate(group)
        check_lr_decay(group["lr_decay"])
        check_initial_accumulator_value(group["initial_accumulator_value"])

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = p.data * 0 + group["initial_accumulator_value"]
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        xp = backend.namespace(g)
        p.data -= lr * g / (xp.sqrt(state["sum"]) + group["eps"])
