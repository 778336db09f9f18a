"""The base class of nnlib's optimizers: parameter groups, per-parameter state, ``step``,
``zero_grad`` and ``state_dict`` — and one check per hyper-parameter.

The constructors call the checks, and so does ``Optimizer.set_hyperparameter`` (what the
widgets' sliders use to change a running optimizer), so a value is refused with the same
message wherever it comes from.
"""

import copy
import math
import numbers
import warnings

from .. import backend
from ..errors import DeviceError, DTypeError, ShapeError, StateDictError, UnsupportedError
from ..nn.functional import check_bool, check_supported
from ..nn.module import Parameter


def _check(condition, message):
    if not condition:
        raise ValueError(message)


def _is_number(value):
    """A finite real number, Python's or NumPy's; not a bool (``True`` is no learning rate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _refuse_tensor(value, name):
    if backend.is_array(value):
        raise UnsupportedError(f"{name} as a tensor is not implemented in nnlib (PyTorch takes one for its "
                               f"capturable and fused kernels); pass a float, e.g. {name}=float(value)")


# --- hyper-parameter checks --------------------------------------------------------------------
def check_lr(lr):
    # A one-element tensor is a learning rate in PyTorch too; step() reads its value every time.
    if backend.is_array(lr):
        _check(math.prod(lr.shape) == 1, f"Tensor lr must be 1-element, got shape {tuple(lr.shape)}")
        lr = lr.item()
    _check(_is_number(lr) and lr >= 0, f"Invalid learning rate: {lr!r} (expected lr >= 0)")


def check_weight_decay(weight_decay):
    _refuse_tensor(weight_decay, "weight_decay")
    _check(_is_number(weight_decay) and weight_decay >= 0,
           f"Invalid weight_decay value: {weight_decay!r} (expected >= 0)")


def check_eps(eps):
    _check(_is_number(eps) and eps >= 0, f"Invalid epsilon value: {eps!r} (expected eps >= 0)")


def check_momentum(momentum):
    _check(_is_number(momentum) and momentum >= 0, f"Invalid momentum value: {momentum!r} (expected >= 0)")


def check_dampening(dampening):
    _check(_is_number(dampening), f"Invalid dampening value: {dampening!r} (expected a finite number)")


def check_alpha(alpha):
    _check(_is_number(alpha) and 0 <= alpha < 1, f"Invalid alpha value: {alpha!r} (expected 0 <= alpha < 1)")


def check_lr_decay(lr_decay):
    _check(_is_number(lr_decay) and lr_decay >= 0, f"Invalid lr_decay value: {lr_decay!r} (expected >= 0)")


def check_initial_accumulator_value(value):
    _check(_is_number(value) and value >= 0, f"Invalid initial_accumulator_value: {value!r} (expected >= 0)")


def check_betas(betas):
    _check(isinstance(betas, (tuple, list)) and len(betas) == 2,
           f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        _refuse_tensor(beta, f"betas[{i}]")
        _check(_is_number(beta) and 0 <= beta < 1,
               f"Invalid beta parameter at index {i}: {beta!r} (expected 0 <= beta < 1)")


# PyTorch's switches between implementations of one and the same update: ``foreach`` (many
# parameters per kernel), ``fused`` (one kernel for all), ``capturable`` (CUDA graphs) and
# ``differentiable`` (autograd through the step). nnlib has one implementation, a loop over the
# parameters: what ``foreach=False`` and ``fused=False`` select in PyTorch. So each switch takes
# its default and the value that selects the loop; any other value is refused by name.
IMPLEMENTATION_SWITCHES = {
    "foreach": (None, False),
    "fused": (None, False),
    "capturable": (False,),
    "differentiable": (False,),
}


def check_implementation_switch(value, name, who):
    supported = IMPLEMENTATION_SWITCHES[name]
    if value is not None or None not in supported:
        value = check_bool(value, name, who)
    check_supported(value, supported, name, who)


class Optimizer:
    """Base class: parameter groups, ``state``, ``zero_grad()``, ``step()`` and ``state_dict()``.

    ``params`` is an iterable of ``Parameter``s, of ``(name, Parameter)`` pairs (what
    ``model.named_parameters()`` yields; the names go to ``group["param_names"]``), or of dicts
    ``{"params": [...], "lr": ...}`` for per-group options, as in PyTorch. A group's missing
    options take the constructor's values (``defaults``).

    ``maximize=True`` (every optimizer has it) climbs instead of descending: the update uses
    −g where it would use g, negated first, before weight decay, as in PyTorch.

    A new optimizer subclasses this one: its ``__init__`` passes its options as ``defaults``, and
    ``_update(p, g, state, group)`` updates one parameter ``p`` from its gradient ``g``, with its
    ``state`` dict and its group's options.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Parameter) or backend.is_array(params):
            raise TypeError("params argument given to the optimizer should be an iterable of Parameters or "
                            f"dicts, but got a single {type(params).__name__}; wrap it in a list: [p]")
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        _check_ordered(params)
        groups = list(params)
        _check(len(groups) > 0, f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group ``{"params": [...], option: value, ...}`` (e.g. layers being unfrozen).

        Options the group does not give take the constructor's values; any other key is kept as
        it is, as in PyTorch (schedulers keep ``initial_lr`` there, for instance).
        """
        who = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        _check("params" in param_group,
               f"a parameter group needs a 'params' entry, got keys {sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        _check_ordered(params)
        params = [params] if isinstance(params, Parameter) else list(params)
        named = [isinstance(p, tuple) for p in params]
        if any(named):  # (name, parameter) pairs, from model.named_parameters()
            _check(all(named),
                   "all optimizer params should be with names or without; some param names are missing")
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        group["params"] = params
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{who} can only optimize nnlib Parameters, got {type(p).__name__}")
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{who}: a parameter group contains a parameter more than once, so step() "
                          "updates it once per occurrence (PyTorch warns too, and plans to refuse it)",
                          UserWarning, stacklevel=2)
        for other in self.param_groups:
            _check(("param_names" in other) == ("param_names" in group),
                   "all optimizer param groups should be with names or without: cannot add a group "
                   f"{'with' if 'param_names' in group else 'without'} names to groups "
                   f"{'with' if 'param_names' in other else 'without'} them")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        _check(not any(id(p) in seen for p in params),
               "some parameters appear in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group):
        """Check a group's options, as the constructor does (subclasses add their own)."""
        who = type(self).__name__
        if "lr" in group:
            check_lr(group["lr"])
        if "maximize" in group:
            check_bool(group["maximize"], "maximize", who)
        for name in IMPLEMENTATION_SWITCHES:
            if name in group:
                check_implementation_switch(group[name], name, who)
        if "weight_decay" in group:
            check_weight_decay(group["weight_decay"])
        if "eps" in group:
            check_eps(group["eps"])

    def set_hyperparameter(self, name, value):
        """Set option ``name`` (``"lr"``, ``"betas"``, ``"momentum"`` …) of every parameter group
        to ``value``, refusing with the constructor's ``ValueError`` a value the constructor would
        refuse (``group[name] = value``, as in PyTorch, takes anything). The next ``step()`` uses it;
        the state (moments, buffers) is kept."""
        _check(name in self.defaults,
               f"{type(self).__name__} has no option {name!r}; its options are {sorted(self.defaults)}")
        for group in self.param_groups:  # every group first: a refused value changes none of them
            self._validate({**group, name: value})
        for group in self.param_groups:
            group[name] = value

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad``: to ``None`` (the default), or, with
        ``set_to_none=False``, to zeros in place, as in PyTorch."""
        check_bool(set_to_none, "set_to_none", f"{type(self).__name__}.zero_grad")
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional)
        re-evaluates the model and returns the loss, which ``step`` returns."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            if backend.is_array(group.get("lr")):  # a one-element tensor: its value now, as PyTorch reads it
                group = {**group, "lr": group["lr"].item()}
            for p in group["params"]:
                if p.grad is not None:
                    _check_gradient(p)
                    g = -p.grad if group.get("maximize") else p.grad  # climbing f is descending on −f
                    self._update(p, g, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p, g, state, group):
        raise NotImplementedError

    # --- checkpoints -------------------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``, PyTorch's
        layout: parameters are numbered in the order of the groups, so the dict holds no
        ``Parameter`` and loads into an optimizer over another copy of the model.

        The state arrays are the optimizer's own (not copies), as in PyTorch: use ``copy.deepcopy``
        for a snapshot that later steps do not change.
        """
        index, start, groups = {}, 0, []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            index.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in index})
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take the options of every group and the state of every parameter from ``state_dict``
        (from ``state_dict()``, of this optimizer or one built the same way; PyTorch's loads too).

        The groups must have as many parameters as this optimizer's. State arrays are copied to
        each parameter's device and dtype; PyTorch's tensor ``step`` becomes an int.
        """
        who = type(self).__name__
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise StateDictError(f"{who}.load_state_dict: the state_dict has {len(saved_groups)} parameter "
                                 f"groups, this optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise StateDictError(f"{who}.load_state_dict: parameter group {i} of the state_dict has "
                                     f"{len(saved['params'])} parameters, this optimizer's has "
                                     f"{len(group['params'])}")
        by_index = {i: p for group, saved in zip(self.param_groups, saved_groups)
                    for i, p in zip(saved["params"], group["params"])}
        state = {}
        for i, saved_state in state_dict["state"].items():
            if i not in by_index:
                raise StateDictError(f"{who}.load_state_dict: state for parameter {i}, which no group holds")
            p = by_index[i]
            state[p] = {key: _state_value(key, value, p, f"state[{i}][{key!r}]")
                        for key, value in saved_state.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            self._validate(saved)
        self.param_groups = saved_groups
        self.state = state

    def __repr__(self):
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({opts})"


def _check_ordered(params):
    if isinstance(params, (set, frozenset)):
        raise TypeError("optimizer parameters must be in an ordered collection such as a list, not a set: "
                        "a set's order changes from run to run, and with it the order of the state")


def _check_gradient(p):
    if backend.device_of(p.grad) != p.device:
        raise DeviceError(f"gradient on {backend.device_of(p.grad)!r} but parameter on {p.device!r}")
    # A gradient set by hand must fit exactly: otherwise the update would broadcast or cast silently.
    if tuple(p.grad.shape) != p.shape:
        raise ShapeError(f"gradient has shape {tuple(p.grad.shape)} but the parameter has shape {p.shape}")
    if backend.dtype_name(p.grad) != p.dtype:
        raise DTypeError(f"gradient has dtype {backend.dtype_name(p.grad)} but the parameter has {p.dtype}")


def _state_value(key, value, p, what):
    """A loaded state entry: arrays copied to ``p``'s device and dtype, a tensor ``step`` an int."""
    if not backend.is_array(value):
        return copy.deepcopy(value)
    if key == "step":  # a 0-d tensor in PyTorch, an int in nnlib
        return int(value.item())
    if tuple(value.shape) != p.shape:
        raise StateDictError(f"size mismatch for {what}: the state_dict has shape {tuple(value.shape)}, "
                             f"the parameter has {p.shape}")
    value = backend.to_device(value, backend.NUMPY).astype(p.dtype, copy=True)  # via host memory: a copy
    return backend.to_device(value, p.device)
