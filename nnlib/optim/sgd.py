"""Stochastic gradient descent, with (Nesterov) momentum."""

from ..nn.functional import check_bool
from .optimizer import Optimizer, _check, check_dampening, check_momentum


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    g ← g + λθ;   v ← μv + (1−τ)g (v = g at the first step);
    θ ← θ − α·(g + μv) with Nesterov, else θ − α·v;  without momentum θ ← θ − α·g.
    (μ = ``momentum``, τ = ``dampening``, λ = ``weight_decay``.)
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))

    def _validate(self, group):
        super()._validate(group)
        check_momentum(group["momentum"])
        check_dampening(group["dampening"])
        check_bool(group["nesterov"], "nesterov", type(self).__name__)
        _check(not group["nesterov"] or (group["momentum"] > 0 and group["dampening"] == 0),
               "Nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        mu = group["momentum"]
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g * 1  # a copy: the buffer is updated in place below
            else:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * state["momentum_buffer"] if group["nesterov"] else state["momentum_buffer"]
        p.data -= group["lr"] * g
