"""Optimizers, learning-rate schedulers and gradient clipping, with torch.optim's names,
signatures, defaults and state keys.

Every optimizer updates ``p.data`` in place from ``p.grad`` (parameters whose ``.grad`` is
``None`` are skipped), and keeps its per-parameter state in ``optimizer.state[p]`` under
PyTorch's key names (``momentum_buffer``, ``sum``, ``square_avg``, ``exp_avg``, ``exp_avg_sq``,
``step`` …), so the book and the widgets can read and plot it. Symbols in the comments:
g = gradient, θ = parameter, α = learning rate.
"""

import math

from . import backend
from .errors import DeviceError, DTypeError, ShapeError
from .nn.module import Parameter


def _check(condition, message):
    if not condition:
        raise ValueError(message)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- hyper-parameter checks --------------------------------------------------------------
# One function per hyper-parameter. The constructors call them, and so does
# Optimizer.set_hyperparameter (what the widgets' sliders use to change a running optimizer),
# so a value is refused with the same message wherever it comes from.
def check_lr(lr):
    _check(_number(lr) and lr >= 0, f"Invalid learning rate: {lr!r} (expected lr >= 0)")


def check_weight_decay(weight_decay):
    _check(_number(weight_decay) and weight_decay >= 0, f"Invalid weight_decay value: {weight_decay!r} (expected >= 0)")


def check_eps(eps):
    _check(_number(eps) and eps > 0, f"Invalid epsilon value: {eps!r} (expected eps > 0)")


def check_momentum(momentum):
    _check(_number(momentum) and momentum >= 0, f"Invalid momentum value: {momentum!r} (expected >= 0)")


def check_dampening(dampening):
    _check(_number(dampening), f"Invalid dampening value: {dampening!r} (expected a finite number)")


def check_alpha(alpha):
    _check(_number(alpha) and 0 <= alpha < 1, f"Invalid alpha value: {alpha!r} (expected 0 <= alpha < 1)")


def check_lr_decay(lr_decay):
    _check(_number(lr_decay) and lr_decay >= 0, f"Invalid lr_decay value: {lr_decay!r} (expected >= 0)")


def check_initial_accumulator_value(value):
    _check(_number(value) and value >= 0, f"Invalid initial_accumulator_value: {value!r} (expected >= 0)")


def check_betas(betas):
    _check(isinstance(betas, (tuple, list)) and len(betas) == 2, f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        _check(_number(beta) and 0 <= beta < 1, f"Invalid beta parameter at index {i}: {beta!r} (expected 0 <= beta < 1)")


class Optimizer:
    """Base class: parameter groups, ``state``, ``zero_grad()`` and ``step()``.

    ``params`` is an iterable of ``Parameter``s, or of dicts ``{"params": [...], "lr": ...}``
    for per-group options (as in PyTorch); missing options take the constructor's defaults.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        params = list(params)
        _check(len(params) > 0, f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        group["params"] = list(group["params"])
        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__} can only optimize nnlib Parameters, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        _check(not any(id(p) in seen for p in group["params"]), "some parameters appear in more than one group")
        unknown = set(group) - set(self.defaults) - {"params"}
        _check(not unknown, f"{type(self).__name__}: unknown options {sorted(unknown)}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group):
        """Check a group's options, as the constructor does (subclasses add their own)."""
        check_lr(group["lr"])
        if "weight_decay" in group:
            check_weight_decay(group["weight_decay"])
        if "eps" in group:
            check_eps(group["eps"])

    def set_hyperparameter(self, name, value):
        """Set option ``name`` (``"lr"``, ``"betas"``, ``"momentum"`` …) of every parameter group
        to ``value``, refusing with the constructor's ``ValueError`` a value the constructor would
        refuse (``group[name] = value``, as in PyTorch, takes anything). The next ``step()`` uses it;
        the state (moments, buffers) is kept."""
        _check(name in self.defaults, f"{type(self).__name__} has no option {name!r}; its options are {sorted(self.defaults)}")
        for group in self.param_groups:  # every group first: a refused value changes none of them
            self._validate({**group, name: value})
        for group in self.param_groups:
            group[name] = value

    def zero_grad(self):
        """Set every parameter's ``.grad`` to ``None``."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional)
        re-evaluates the model and returns the loss, which ``step`` returns."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if backend.device_of(p.grad) != p.device:
                    raise DeviceError(f"gradient on {backend.device_of(p.grad)!r} but parameter on {p.device!r}")
                # A gradient set by hand must fit exactly: otherwise the update would broadcast or cast silently.
                if tuple(p.grad.shape) != p.shape:
                    raise ShapeError(f"gradient has shape {tuple(p.grad.shape)} but the parameter has shape {p.shape}")
                if backend.dtype_name(p.grad) != p.dtype:
                    raise DTypeError(f"gradient has dtype {backend.dtype_name(p.grad)} but the parameter has {p.dtype}")
                state = self.state.setdefault(p, {})
                self._update(p, p.grad, state, group)
        return loss

    def _update(self, p, g, state, group):
        raise NotImplementedError

    def __repr__(self):
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({opts})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    g ← g + λθ;   v ← μv + (1−τ)g (v = g at the first step);
    θ ← θ − α·(g + μv) with Nesterov, else θ − α·v;  without momentum θ ← θ − α·g.
    (μ = ``momentum``, τ = ``dampening``, λ = ``weight_decay``.)
    """

    def __init__(self, params, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def _validate(self, group):
        super()._validate(group)
        check_momentum(group["momentum"])
        check_dampening(group["dampening"])
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


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al., 2011): each coordinate's step shrinks with its gradient history.

    s ← s + g²;   θ ← θ − α_t · g / (√s + ε),   α_t = α / (1 + (t−1)·lr_decay).
    """

    def __init__(self, params, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

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


class RMSprop(Optimizer):
    """RMSProp (Hinton, 2012): divide by a moving root-mean-square of recent gradients.

    r ← ρr + (1−ρ)g²  (ρ = ``alpha``);  centered: also ḡ ← ρḡ + (1−ρ)g and use r − ḡ²;
    θ ← θ − α·g/(√r + ε), or with momentum μ: b ← μb + g/(√r + ε), θ ← θ − α·b.
    """

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate(self, group):
        super()._validate(group)
        check_alpha(group["alpha"])
        check_momentum(group["momentum"])

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


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on g and on g², both bias-corrected.

    m ← β₁m + (1−β₁)g;   v ← β₂v + (1−β₂)g²;   m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ);
    θ ← θ − α·m̂/(√v̂ + ε).   ``amsgrad`` uses the running maximum of v instead of v.
    (``weight_decay`` adds λθ to g: L2 regularisation, not AdamW's decoupled decay.)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _validate(self, group):
        super()._validate(group)
        check_betas(group["betas"])

    def _decay(self, p, g, group):
        return g + group["weight_decay"] * p.data if group["weight_decay"] else g

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = p.data * 0
            state["exp_avg_sq"] = p.data * 0
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = p.data * 0
        state["step"] += 1
        t = state["step"]
        g = self._decay(p, g, group)
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


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay θ ← θ(1 − αλ)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _decay(self, p, g, group):
        p.data *= 1 - group["lr"] * group["weight_decay"]
        return g


# --- learning-rate schedules -------------------------------------------------------------
class LRScheduler:
    """Sets ``group["lr"]`` of every group once per epoch: call ``step()`` after the epoch's
    ``optimizer.step()`` calls. ``get_last_lr()`` returns the rates the last ``step()`` set.

    Each ``step()`` computes the next rate from the group's current ``lr`` (as
    ``torch.optim.lr_scheduler`` does), so the rate lives in one place: a value written into
    the group by hand (or by a widget's slider) is kept, and the schedule goes on from it.
    The formulas in the subclasses are what the steps add up to when nothing else changes
    ``lr``; α₀ is ``group["initial_lr"]``.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an nnlib Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        # The scheduler, not the optimizer, records the starting rate: the group's lr now, so a
        # change made after the optimizer was built counts. A first scheduler's record is kept.
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0  # epoch 0 runs at the groups' current rates
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def next_lr(self, lr, base_lr):
        """The rate for epoch ``self.last_epoch``, from the rate ``lr`` of the epoch before."""
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.next_lr(group["lr"], base_lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)


class StepLR(LRScheduler):
    """α_e = α₀ · γ^⌊e / step_size⌋: multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check(isinstance(step_size, int) and step_size > 0, f"step_size must be a positive integer, got {step_size!r}")
        _check(_number(gamma) and gamma > 0, f"gamma must be positive, got {gamma!r}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def next_lr(self, lr, base_lr):
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class ExponentialLR(LRScheduler):
    """α_e = α₀ · γ^e."""

    def __init__(self, optimizer, gamma):
        _check(_number(gamma) and gamma > 0, f"gamma must be positive, got {gamma!r}")
        self.gamma = gamma
        super().__init__(optimizer)

    def next_lr(self, lr, base_lr):
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """α_e = η_min + (α₀ − η_min)(1 + cos(π e / T_max))/2: a half cosine from α₀ down to η_min
    (and, past ``T_max``, back up again, as in PyTorch)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        _check(isinstance(T_max, int) and T_max > 0, f"T_max must be a positive integer, got {T_max!r}")
        _check(_number(eta_min) and eta_min >= 0, f"eta_min must be >= 0, got {eta_min!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def next_lr(self, lr, base_lr):
        e, T = self.last_epoch, self.T_max
        if (e - 1 - T) % (2 * T) == 0:
            # Leaving the bottom of the cosine, where lr − η_min = 0 and the ratio below is 0/0.
            return lr + (base_lr - self.eta_min) * (1 - math.cos(math.pi / T)) / 2
        # The ratio of two consecutive values of the formula, applied to the distance above η_min.
        return self.eta_min + (lr - self.eta_min) * (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))


# --- gradient clipping -------------------------------------------------------------------
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as one long vector. Returns that norm (before
    clipping), as ``torch.nn.utils.clip_grad_norm_`` does.
    """
    _check(_number(max_norm) and max_norm > 0, f"max_norm must be positive, got {max_norm!r}")
    _check(norm_type == math.inf or (_number(norm_type) and norm_type > 0), f"norm_type must be positive or inf, got {norm_type!r}")
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
