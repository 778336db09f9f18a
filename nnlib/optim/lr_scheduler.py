"""Learning-rate schedules, with torch.optim.lr_scheduler's names, signatures and ``state_dict``.

A scheduler writes ``group["lr"]`` of every parameter group of its optimizer: call
``scheduler.step()`` once per epoch, after that epoch's ``optimizer.step()`` calls (per batch
for :class:`OneCycleLR`, and with the validation loss for :class:`ReduceLROnPlateau`)::

    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        ...                      # optimizer.step() for every batch
        scheduler.step()

In the formulas, e is the epoch (``last_epoch``, 0 while the first epoch runs) and α₀ the
rate the schedule starts from (``group["initial_lr"]``, recorded by the first scheduler).
"""

import math
import numbers
import types
from bisect import bisect_right
from collections import Counter

from ..errors import StateDictError, UnsupportedError
from ..nn.functional import check_bool
from .optimizer import Optimizer, _check, _is_number


def _check_optimizer(optimizer, who):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{who} needs an nnlib Optimizer, got {type(optimizer).__name__}")


def _check_int(value, name, minimum):
    kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    _check(isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum,
           f"{name} must be {kind}, got {value!r}")


def _check_number(value, name, condition="", test=lambda value: True):
    _check(_is_number(value) and test(value), f"{name} must be a finite number{condition}, got {value!r}")


def _per_group(value, name, optimizer):
    """One value per parameter group: a list of them, or one value for every group."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        _check(len(value) == n, f"{name} must have one value per parameter group: {n}, got {len(value)}")
        return list(value)
    return [value] * n


def _check_keys(scheduler, state_dict):
    own, given = set(scheduler.state_dict()), set(state_dict)
    if own != given:
        raise StateDictError(f"{type(scheduler).__name__}.load_state_dict: missing keys "
                             f"{sorted(own - given)}, unexpected keys {sorted(given - own)} "
                             "(the state of another kind of scheduler?)")


class LRScheduler:
    """Base class of the schedules: sets ``group["lr"]`` of every group at each ``step()``;
    ``get_last_lr()`` returns the rates the last step set.

    Each step computes the next rate from the group's current ``lr`` (as
    ``torch.optim.lr_scheduler`` does), so the rate lives in one place: a value written into the
    group by hand (or by a widget's slider) is kept, and the schedule goes on from it. The
    formulas in the subclasses are what the steps add up to when nothing else changes ``lr``.

    Construction takes the first step, to epoch 0 (most schedules keep the current rate for it).
    ``last_epoch=k`` resumes after epoch k: every group needs its ``initial_lr`` then, which
    loading the optimizer's ``state_dict`` restores. A new schedule subclasses this one and
    defines ``get_lr()``: the rates for epoch ``self.last_epoch``, one per group.
    """

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer, type(self).__name__)
        _check_int(last_epoch, "last_epoch", -1)
        self.optimizer = optimizer
        if last_epoch == -1:
            # The scheduler, not the optimizer, records the starting rate: the group's lr now, so a
            # change made after the optimizer was built counts. A first scheduler's record is kept.
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when "
                                   f"resuming a scheduler with last_epoch={last_epoch}: load the "
                                   "optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """The step construction takes; ``_is_initial`` lets ``get_lr`` keep the current rates."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The rates for epoch ``last_epoch``, one per parameter group."""
        raise NotImplementedError

    def step(self, epoch=None):
        """Go on to the next epoch: ``last_epoch += 1``, and every group's lr becomes its rate.
        (``epoch``, deprecated in PyTorch, is not implemented: only ``None`` is accepted.)"""
        if epoch is not None:
            raise UnsupportedError(f"{type(self).__name__}.step: epoch={epoch!r} (deprecated in PyTorch) "
                                   "is not implemented in nnlib; call step() once per epoch, it counts "
                                   "them in last_epoch")
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch=None):
        """Set the rates of the next epoch, or of ``epoch`` from the closed form where the schedule
        has one (how :class:`SequentialLR` starts a schedule at its milestone)."""
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self._get_closed_form_lr() if hasattr(self, "_get_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The rates the last step set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer, as in PyTorch: ``last_epoch``, ``base_lrs``, the settings …
        The current rates live in the optimizer's groups: save its ``state_dict`` too."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Continue from a ``state_dict()`` of a scheduler of the same kind."""
        _check_keys(self, state_dict)
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """α_e = α₀ · λ(e), with λ = ``lr_lambda``: one function for every group, or a list of one
    per group. A warm-up over 5 epochs, for instance: ``lr_lambda=lambda e: min(1.0, (e + 1) / 5)``."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer, type(self).__name__)
        self.lr_lambdas = _per_group(lr_lambda, "lr_lambda", optimizer)
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"lr_lambda should be a function, but got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * f(self.last_epoch)
                for f, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self):
        """As the base class's; a function cannot be saved, so ``lr_lambdas`` holds ``None`` for a
        function or lambda and the attributes of a callable object, as in PyTorch."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else f.__dict__.copy()
                               for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        _check_keys(self, state_dict)
        state = dict(state_dict)
        saved = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for f, attributes in zip(self.lr_lambdas, saved, strict=True):
            if attributes is not None:
                f.__dict__.update(attributes)


class StepLR(LRScheduler):
    """α_e = α₀ · γ^⌊e / step_size⌋: multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_int(step_size, "step_size", 1)
        _check_number(gamma, "gamma", " > 0", lambda v: v > 0)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """α_e = α₀ · γ^(number of milestones ≤ e): multiply the rate by ``gamma`` at each epoch in
    ``milestones`` (an epoch listed twice multiplies by γ²)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        milestones = list(milestones)
        for m in milestones:
            _check_int(m, "each milestone", 0)
        _check_number(gamma, "gamma", " > 0", lambda v: v > 0)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """α_e = α₀ · (s + (f − s) · min(e, n) / n): the factor goes in a straight line from
    ``start_factor`` s to ``end_factor`` f over ``total_iters`` n epochs, then stays. With the
    defaults (s = 1/3, f = 1) a warm-up: the rate climbs to α₀ in n epochs."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        _check_number(start_factor, "start_factor", " in (0, 1]", lambda v: 0 < v <= 1)
        _check_number(end_factor, "end_factor", " in [0, 1]", lambda v: 0 <= v <= 1)
        _check_int(total_iters, "total_iters", 1)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        # The ratio of the factors of epochs e and e − 1, applied to the current rate.
        s, f, n, e = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        ratio = 1.0 + (f - s) / (n * s + (e - 1) * (f - s))
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        s, f, n = self.start_factor, self.end_factor, self.total_iters
        return [base_lr * (s + (f - s) * min(n, self.last_epoch) / n) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """α_e = α₀ · γ^e."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        _check_number(gamma, "gamma", " > 0", lambda v: v > 0)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """α_e = η_min + (α₀ − η_min)(1 + cos(π e / T_max))/2: a half cosine from α₀ down to η_min
    (and, past ``T_max``, back up again, as in PyTorch)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check_int(T_max, "T_max", 1)
        _check_number(eta_min, "eta_min", " >= 0", lambda v: v >= 0)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (e - 1 - T) % (2 * T) == 0:
            # Leaving the bottom of the cosine, where lr − η_min = 0 and the ratio below is 0/0.
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups, strict=True)]
        # The ratio of two consecutive values of the formula, applied to the distance above η_min.
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (group["lr"] - eta_min) + eta_min for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base_lr - self.eta_min) * cosine / 2 for base_lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2019), stepped once per batch for ``total_steps`` steps
    (or ``epochs * steps_per_epoch``): the rate climbs from α_max/``div_factor`` to α_max
    (``max_lr``) over the first ``pct_start`` of the steps, then falls to
    α_max/(``div_factor``·``final_div_factor``). Each phase follows a half cosine,
    a(start, end, p) = end + (start − end)(1 + cos πp)/2 at the fraction p of the phase
    (``anneal_strategy="linear"``: start + (end − start)·p). With ``three_phase`` the rate climbs,
    comes back down to where it started in as many steps, then falls to the minimum.

    With ``cycle_momentum`` the momentum (Adam's β₁) moves the other way, between
    ``max_momentum`` and ``base_momentum``. This schedule sets the rate, it does not scale it: a
    value written into the group by hand is overwritten at the next step.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        self.optimizer = optimizer
        if total_steps is not None:
            _check_int(total_steps, "total_steps", 1)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            _check_int(epochs, "epochs", 1)
            _check_int(steps_per_epoch, "steps_per_epoch", 1)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        _check_number(pct_start, "pct_start", " in [0, 1]", lambda v: 0 <= v <= 1)
        _check(anneal_strategy in ("cos", "linear"),
               f"anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}")
        check_bool(cycle_momentum, "cycle_momentum", who)
        check_bool(three_phase, "three_phase", who)
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            _check_number(value, name, " > 0", lambda v: v > 0)
        # The phases: up to the step end_step, from the group's start key to its end key.
        up = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if three_phase:
            phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                      (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                       "max_momentum"),
                      (last, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                      (last, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        keys = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")
        self._schedule_phases = [dict(zip(keys, phase)) for phase in phases]
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group(max_lr, "max_lr", optimizer)
        for value in max_lrs:
            _check_number(value, "max_lr", " > 0", lambda v: v > 0)
        if last_epoch == -1:
            for group, value in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = value / div_factor
                group["max_lr"] = value
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            _check("momentum" in optimizer.defaults or "betas" in optimizer.defaults,
                   f"cycle_momentum=True needs an optimizer with momentum or betas; "
                   f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momentums = _per_group(max_momentum, "max_momentum", optimizer)
            base_momentums = _per_group(base_momentum, "base_momentum", optimizer)
            if last_epoch == -1:
                for high, low, group in zip(max_momentums, base_momentums, optimizer.param_groups):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is "
                             f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        start, end = group[phase["start_momentum"]], group[phase["end_momentum"]]
                        self._set_momentum(group, self._anneal(start, end, pct))
                    break
                start_step = end_step
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after the other: the k-th from epoch ``milestones[k − 1]`` on,
    which starts it afresh (its epoch 0) from the initial rates. A warm-up then a cosine::

        warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(optimizer, T_max=95)
        scheduler = SequentialLR(optimizer, schedulers=[warmup, cosine], milestones=[5])
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        schedulers, milestones = list(schedulers), list(milestones)
        _check(len(schedulers) >= 1, f"{who} expects at least one scheduler, got none")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"{who}: schedulers[{i}] is a {type(scheduler).__name__}, "
                                "not an nnlib LRScheduler")
            _check(not isinstance(scheduler, ReduceLROnPlateau),
                   f"{who} does not support ReduceLROnPlateau (schedulers[{i}]): its step needs the metric")
            _check(scheduler.optimizer is optimizer,
                   f"{who} expects all schedulers to belong to the same optimizer, but schedulers[{i}] "
                   "has another one")
        _check(len(milestones) == len(schedulers) - 1,
               f"{who} needs one milestone fewer than schedulers: {len(schedulers)} schedulers, "
               f"{len(milestones)} milestones")
        for m in milestones:
            _check_int(m, "each milestone", 0)
        _check(all(a < b for a, b in zip(milestones, milestones[1:])),
               f"milestones must increase, got {milestones}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # Building each scheduler took a step; undo them and start the first one afresh.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo_steps(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    @classmethod
    def _undo_steps(cls, scheduler):
        if isinstance(scheduler, SequentialLR):
            for inner in scheduler._schedulers:
                cls._undo_steps(inner)
        else:
            scheduler.last_epoch -= 1

    def step(self):
        """Go on to the next epoch, with the scheduler whose part of the schedule it is."""
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            scheduler._update_lr(0)  # its first epoch: the closed form at e = 0, from the initial rates
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        """As the base class's, with the state of each scheduler in ``_schedulers``."""
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        _check_keys(self, state_dict)
        state = dict(state_dict)
        saved = state.pop("_schedulers")
        _check(len(saved) == len(self._schedulers),
               f"{type(self).__name__}.load_state_dict: {len(saved)} schedulers saved, this one has "
               f"{len(self._schedulers)}")
        self.__dict__.update(state)
        for scheduler, inner in zip(self._schedulers, saved):
            scheduler.load_state_dict(inner)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when a metric has stopped improving: ``step(metric)``
    once per epoch, e.g. with the validation loss.

    The metric improves when it beats the best so far by more than ``threshold``: below
    best·(1 − threshold) in ``mode="min"`` (``threshold_mode="rel"``), below best − threshold with
    ``"abs"``; above best·(1 + threshold) or best + threshold in ``mode="max"``. After more than
    ``patience`` epochs without improvement the rate is reduced (never below ``min_lr``, and not
    at all if it would change by less than ``eps``); then ``cooldown`` epochs pass before
    epochs without improvement count again.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        _check_optimizer(optimizer, type(self).__name__)
        _check(_is_number(factor) and 0 <= factor < 1, f"Factor should be < 1.0 (and >= 0), got {factor!r}")
        _check_int(patience, "patience", 0)
        _check_int(cooldown, "cooldown", 0)
        _check_number(eps, "eps", " >= 0", lambda v: v >= 0)
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(min_lr, "min_lr", optimizer)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        for value in self.min_lrs:
            _check_number(value, "min_lr", " >= 0", lambda v: v >= 0)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode):
        _check(mode in ("min", "max"), f"mode must be 'min' or 'max', got {mode!r}")
        _check(threshold_mode in ("rel", "abs"),
               f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        _check_number(threshold, "threshold")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, metric, best):
        relative = self.threshold_mode == "rel"
        if self.mode == "min":
            return metric < (best * (1.0 - self.threshold) if relative else best - self.threshold)
        return metric > (best * (self.threshold + 1.0) if relative else best + self.threshold)

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def step(self, metrics, epoch=None):
        """Record this epoch's metric (a number, or a one-element array) and reduce the rate if
        it has not improved for more than ``patience`` epochs."""
        if epoch is not None:
            raise UnsupportedError(f"{type(self).__name__}.step: epoch={epoch!r} (deprecated in PyTorch) "
                                   "is not implemented in nnlib; call step(metric) once per epoch")
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"the optimizer has {len(groups)} parameter groups, but min_lr has "
                                   f"{len(self.min_lrs)} values (a group was added?): set min_lrs to match")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
