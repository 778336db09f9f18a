"""RMSProp: divide each coordinate's step by a moving root-mean-square of its gradients."""

from .. import backend
from ..nn.functional import check_bool
from .optimizer import Optimizer, check_alpha, check_momentum


class RMSprop(Optimizer):
    """RMSProp (Hinton, 2012): divide by a moving root-mean-square of recent gradients.

    r ← ρr + (1−ρ)g²  (ρ = ``alpha``);  centered: also ḡ ← ρḡ + (1−ρ)g and use r − ḡ²;
    θ ← θ − α·g/(√r + ε), or with momentum μ: b ← μb + g/(√r + ε), θ ← θ − α·b.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        check_alpha(group["alpha"])
        check_momentum(group["momentum"])
        check_bool(group["centered"], "centered", type(self).__name__)

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["square_avg"] = p.data * 0
            if group["momentum"] > 0:
                state["momentum_buffer"] = p.data * 0
            if group["centered"]:
                state["grad_avg"] = p.data * 0
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        rho = group["alpha"]
        # State arrays are updated in place (fewer temporaries; as torch.optim does).
        mean_square = state["square_avg"]
        mean_square *= rho
        mean_square += (1 - rho) * g * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= rho
            grad_avg += (1 - rho) * g
            mean_square = mean_square - grad_avg * grad_avg  # variance estimate
        xp = backend.namespace(g)
        scaled = g / (xp.sqrt(mean_square) + group["eps"])
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += scaled
            scaled = buf
        p.data -= group["lr"] * scaled
