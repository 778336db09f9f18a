"""Adam: momentum on g and on g², both bias-corrected (and AdamW's decoupled weight decay)."""

from .. import backend
from ..nn.functional import check_bool
from .optimizer import Optimizer, check_betas


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on g and on g², both bias-corrected.

    m ← β₁m + (1−β₁)g;   v ← β₂v + (1−β₂)g²;   m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ);
    θ ← θ − α·m̂/(√v̂ + ε).   ``amsgrad`` uses the running maximum of v instead of v.
    ``weight_decay`` λ adds λθ to g (L2 regularisation); with ``decoupled_weight_decay=True``
    it shrinks θ ← θ(1 − αλ) outside the adaptive step instead, which is :class:`AdamW`.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if isinstance(betas, list):
            betas = tuple(betas)  # PyTorch keeps a tuple in the group
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _validate(self, group):
        super()._validate(group)
        check_betas(group["betas"])
        who = type(self).__name__
        check_bool(group["amsgrad"], "amsgrad", who)
        check_bool(group["decoupled_weight_decay"], "decoupled_weight_decay", who)

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = p.data * 0
            state["exp_avg_sq"] = p.data * 0
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = p.data * 0
        state["step"] += 1
        t = state["step"]
        if group["weight_decay"]:
            if group["decoupled_weight_decay"]:  # AdamW: θ shrinks by itself, outside the adaptive step
                p.data *= 1 - group["lr"] * group["weight_decay"]
            else:  # L2 regularisation: λθ joins the gradient (and is divided by √v̂ with it)
                g = g + group["weight_decay"] * p.data
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]  # updated in place: fewer temporaries
        m *= beta1
        m += (1 - beta1) * g       # m_t = β₁m_{t−1} + (1−β₁)g
        v *= beta2
        v += (1 - beta2) * g * g   # v_t = β₂v_{t−1} + (1−β₂)g²
        xp = backend.namespace(g)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
            v = state["max_exp_avg_sq"]
        # α·m̂/(√v̂+ε) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), the corrections folded into scalars:
        step_size = group["lr"] / (1 - beta1**t)
        denominator = xp.sqrt(v) / (1 - beta2**t) ** 0.5 + group["eps"]
        p.data -= step_size * m / denominator
