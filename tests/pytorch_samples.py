"""Run PyTorch's own test samples on nnlib (the machinery of ``test_pytorch_samples.py``).

A *sample* is one configuration with which PyTorch's test suite checks a class: constructor
arguments, forward inputs and training or eval mode (``common_modules.module_db`` and the older
``common_nn`` lists), or an optimizer's hyper-parameters (``common_optimizers.optim_db``). Each
sample runs on torch, the reference, and on nnlib with the same weights (copied through
``state_dict``), the same inputs and the same random ∂J/∂output, and ends as exactly one of:

- ``pass``: outputs, every input gradient, every parameter gradient and the buffers after forward
  agree within ``TOLERANCE`` (optimizers: the parameters and the state after each of
  ``OPTIMIZER_STEPS`` steps);
- ``refused``: nnlib declined PyTorch's arguments or inputs, at construction or in forward, by
  one of three clear ways (the *kind*, shown in the tally):
  ``unsupported`` — ``nnlib.errors.UnsupportedError``, the designated refusal, naming the argument;
  ``signature`` — nnlib's signature cannot take the arguments at all (no such keyword, too many
  positional arguments): Python's ``TypeError`` names them, and nothing is computed;
  ``checked`` — a ``ValueError``/``TypeError``/``NotImplementedError`` (nnlib's ``ShapeError``,
  ``DTypeError`` … included) raised by one of nnlib's own ``raise`` statements, i.e. an argument or
  input check whose message says what was expected;
- ``crash``: any other exception, and any exception once forward has accepted the input
  (``load_state_dict``, ``backward``, an optimizer step): that is a bug, not a refusal;
- ``wrong``: a value, shape, dtype or array type differs from PyTorch's.

A sample that PyTorch itself rejects (constructor, forward or backward) is skipped. Targets of
losses are data: nnlib's ``criterion.backward`` returns ∂J/∂prediction only, so that is the
input gradient compared for a loss. For ``CTCLoss`` PyTorch's backward returns the gradient as
it is after a log-softmax (``nnlib/nn/ctc.py`` says why): nnlib's derivative is compared after
the same map.
"""

import inspect
import math
import traceback
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import nnlib
from nnlib import backend, nn, optim
from nnlib.errors import UnsupportedError

TOLERANCE = 1e-10       # |nnlib − torch| ≤ TOLERANCE·(1 + |torch|), float64 throughout
OPTIMIZER_STEPS = 60
RESULTS = ("pass", "refused", "crash", "wrong")  # from best to worst
# What a deliberate check raises (nnlib's ShapeError, DTypeError … subclass the first two).
REFUSAL_TYPES = (ValueError, TypeError, NotImplementedError)
NNLIB_DIR = Path(nnlib.__file__).resolve().parent


# --- which classes -----------------------------------------------------------------------------------
def twin_module_names():
    """nnlib.nn's layers and losses that torch.nn has a class of the same name for."""
    return sorted(name for name in nn.__all__ if _is_subclass(getattr(nn, name), nn.Module)
                  and name != "Module" and hasattr(torch.nn, name))


def twin_optimizer_names():
    """nnlib.optim's optimizers that torch.optim has a class of the same name for."""
    return sorted(name for name, value in vars(optim).items() if _is_subclass(value, optim.Optimizer)
                  and value is not optim.Optimizer and hasattr(torch.optim, name))


def _is_subclass(value, base):
    return isinstance(value, type) and issubclass(value, base)


# --- samples -------------------------------------------------------------------------------------------
@dataclass
class ModuleSample:
    name: str           # the class, e.g. "Conv2d"
    label: str          # where the sample comes from and what it tests
    args: tuple         # constructor arguments (torch tensors where PyTorch passes tensors)
    kwargs: dict
    inputs: tuple       # forward arguments: float64 torch tensors, nested tuples (an LSTM's (h, c))
    input_kwargs: dict
    training: bool


@dataclass
class OptimizerSample:
    name: str
    label: str
    kwargs: dict


def module_samples(names):
    """Every sample of ``common_modules.module_db`` and of ``common_nn``'s module and criterion
    tests whose class is in ``names``; train and eval mode both where PyTorch says they differ."""
    return list(_module_db_samples(names)) + list(_common_nn_samples(names))


def _module_db_samples(names):
    from torch.testing._internal.common_modules import module_db

    for info in module_db:
        name = info.module_cls.__name__
        if name not in names:
            continue
        for training in (True, False) if info.train_and_eval_differ else (True,):
            torch.manual_seed(0)
            inputs = info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True,
                                             training=training)
            for i, s in enumerate(inputs):
                label = f"module_db #{i} {s.desc or 'default'}" + ("" if training else " (eval)")
                yield ModuleSample(name, label, tuple(s.constructor_input.args),
                                   dict(s.constructor_input.kwargs), tuple(s.forward_input.args),
                                   dict(s.forward_input.kwargs), training)


def _common_nn_samples(names):
    from torch.testing._internal import common_nn
    from torch.testing._internal.common_utils import set_default_dtype

    tests = [(common_nn.NewModuleTest, t) for t in common_nn.module_tests + common_nn.get_new_module_tests()]
    tests += [(common_nn.CriterionTest, t) for t in common_nn.criterion_tests]
    for test_class, params in tests:
        params = {k: v for k, v in params.items() if k != "decorator"}
        module_name = params.pop("module_name", None)
        constructor = params.pop("constructor", None) or getattr(torch.nn, module_name)
        torch.manual_seed(0)
        with set_default_dtype(torch.float64):  # what PyTorch's runner does: inputs come out float64
            test = test_class(constructor, **params)
            call = recorded_construction(constructor, test.constructor_args)
            if call is None or call[0] not in names:
                continue
            inputs = test._get_input()
            inputs = inputs if isinstance(inputs, tuple) else (inputs,)
            if test_class is common_nn.CriterionTest:
                inputs += (test._get_target(),) + tuple(test.extra_args)
        name, args, kwargs = call
        label = f"common_nn {test.get_name()[len('test_'):]}"
        yield ModuleSample(name, label, args, kwargs, inputs, {}, training=True)


class _RecordingTorchNN:
    """Stands in for ``torch.nn`` while one of common_nn's constructor lambdas runs
    (``lambda: nn.Conv2d(4, 6, (3, 2), groups=2)``) and notes which class it builds, how."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        cls = getattr(torch.nn, name)

        def build(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return cls(*args, **kwargs)
        return build


def recorded_construction(constructor, constructor_args):
    """``(class name, args, kwargs)`` of the one torch.nn class ``constructor(*constructor_args)``
    builds, or ``None`` (a test-only wrapper module, or a constructor PyTorch rejects)."""
    if isinstance(constructor, type):
        is_torch_class = constructor is getattr(torch.nn, constructor.__name__, None)
        return (constructor.__name__, tuple(constructor_args), {}) if is_torch_class else None
    if not isinstance(constructor, types.FunctionType) or "nn" not in constructor.__code__.co_names:
        return None
    recorder = _RecordingTorchNN()
    rebound = types.FunctionType(constructor.__code__, {**constructor.__globals__, "nn": recorder},
                                 constructor.__name__, constructor.__defaults__, constructor.__closure__)
    rebound.__kwdefaults__ = constructor.__kwdefaults__
    try:
        rebound(*constructor_args)
    except Exception:
        return None
    return recorder.calls[0] if len(recorder.calls) == 1 else None


def optimizer_samples(names):
    """Every CPU sample of ``common_optimizers.optim_db`` whose optimizer is in ``names``."""
    from torch.testing._internal.common_optimizers import optim_db

    for info in optim_db:
        name = info.optim_cls.__name__
        if name not in names:
            continue
        for i, s in enumerate(info.optim_inputs_func(device="cpu", dtype=torch.float64)):
            if s.params is None:  # the others name parameter groups of PyTorch's own test model
                yield OptimizerSample(name, f"optim_db #{i} {s.desc}", dict(s.kwargs))


# --- outcomes -------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    sample: object
    result: str         # one of RESULTS
    kind: str = ""      # for "refused": unsupported, signature or checked
    detail: str = ""    # what went wrong, or the refusal's message
    device: str = ""


def worst(outcomes):
    """One outcome per sample from its per-backend outcomes: the worst one."""
    return max(outcomes, key=lambda o: RESULTS.index(o.result))


class _Refused(Exception):
    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class _Wrong(Exception):
    pass


def _check_binds(fn, args, kwargs, who):
    """Raise a ``signature`` refusal if ``fn`` cannot take these arguments (nothing is called)."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as error:
        raise _Refused("signature", f"{who}: {error}") from None


def _classify(error, stage):
    """The outcome of an exception nnlib raised at ``stage``: a refusal only for a deliberate
    ``raise`` in nnlib's own code during construction or forward."""
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    if isinstance(error, UnsupportedError):
        kind = "unsupported"
    elif stage in ("construct", "forward") and isinstance(error, REFUSAL_TYPES):
        frame = traceback.extract_tb(error.__traceback__)[-1]
        deliberate = Path(frame.filename).resolve().is_relative_to(NNLIB_DIR) and \
            (frame.line or "").lstrip().startswith("raise")
        kind = "checked" if deliberate else None
    else:
        kind = None
    if kind is None:
        where = traceback.extract_tb(error.__traceback__)[-1]
        return "crash", "", f"{stage}: {message} (at {Path(where.filename).name}:{where.lineno})"
    return "refused", kind, f"{stage}: {message}"


def _compare(got, expected, device, what):
    """``got`` (nnlib) must be an array of ``device`` with ``expected``'s (torch) shape, dtype and
    values; raises ``_Wrong`` naming ``what`` otherwise."""
    want_type = np.ndarray if device == backend.NUMPY else torch.Tensor
    if not isinstance(got, want_type):
        raise _Wrong(f"{what}: expected a {want_type.__module__}.{want_type.__name__}, "
                     f"got {type(got).__module__}.{type(got).__name__}")
    if backend.device_of(got) != device:
        raise _Wrong(f"{what}: on {backend.device_of(got)}, expected {device}")
    expected = expected.detach().numpy()
    got = backend.to_numpy(got)
    if got.shape != expected.shape:
        raise _Wrong(f"{what}: shape {got.shape}, expected {expected.shape}")
    if got.dtype != expected.dtype:
        raise _Wrong(f"{what}: dtype {got.dtype}, expected {expected.dtype}")
    if not np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True):
        error = np.max(np.abs(got - expected) / (1 + np.abs(expected)))
        raise _Wrong(f"{what}: values differ (largest |Δ|/(1+|torch|) = {error:.2e})")


# --- trees of arrays (an RNN returns (output, h_n), an LSTM takes (h_0, c_0)) ----------------------------
def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    if isinstance(tree, dict):
        return [leaf for item in tree.values() for leaf in _leaves(item)]
    return [tree]


def _tree_map(fn, tree):
    if isinstance(tree, (tuple, list)):
        return tuple(_tree_map(fn, item) for item in tree)
    if isinstance(tree, dict):
        return {key: _tree_map(fn, item) for key, item in tree.items()}
    return fn(tree)


def _is_float_tensor(value):
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _fresh_torch(tree):
    """New leaf tensors, float ones requiring grad (the reference's own inputs)."""
    def copy(value):
        if not isinstance(value, torch.Tensor):
            return value
        value = value.detach().clone()
        return value.requires_grad_() if value.is_floating_point() else value
    return _tree_map(copy, tree)


def _for_nnlib(tree, device):
    """Tensors become independent arrays of nnlib's ``device``, a torch encoder layer (what PyTorch's
    TransformerEncoder samples pass) nnlib's layer of the same configuration; everything else stays."""
    def convert(value):
        if isinstance(value, torch.nn.TransformerEncoderLayer):
            return _nnlib_encoder_layer(value)
        if not isinstance(value, torch.Tensor):
            return value
        value = value.detach().clone()
        return backend.to_device(value.numpy() if device == backend.NUMPY else value, device)
    return _tree_map(convert, tree)


def _nnlib_encoder_layer(layer):
    """nnlib's TransformerEncoderLayer configured as torch's ``layer``; its weights come with the
    encoder's state_dict. PyTorch's activation functions become the names nnlib takes."""
    functions = {torch.nn.functional.relu: "relu", torch.nn.functional.gelu: "gelu"}
    attention = layer.self_attn
    return nn.TransformerEncoderLayer(
        attention.embed_dim, attention.num_heads, layer.linear1.out_features, layer.dropout.p,
        functions.get(layer.activation, layer.activation), layer.norm1.eps, attention.batch_first,
        layer.norm_first, layer.linear1.bias is not None)


# --- modules and losses ----------------------------------------------------------------------------------
@dataclass
class _Reference:
    """What torch computed for one sample."""
    state: dict          # state_dict before forward (what nnlib loads)
    inputs: tuple        # the forward arguments torch used (their leaves key the input gradients)
    input_kwargs: dict
    output: object       # the output tree
    grad_output: list    # one random ∂J/∂output per float output leaf (None for integer ones)
    input_grads: dict    # id(torch input leaf) → its gradient
    param_grads: dict    # parameter name → gradient (None where unused)
    state_after: dict    # state_dict after forward (BatchNorm's running statistics …)
    is_loss: bool


def torch_reference(sample, seed):
    """Run ``sample`` on torch, or return ``None`` if PyTorch itself rejects it."""
    torch.manual_seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = getattr(torch.nn, sample.name)(*sample.args, **sample.kwargs).to(torch.float64)
            module.train(sample.training)
            state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            inputs, input_kwargs = _fresh_torch(sample.inputs), _fresh_torch(sample.input_kwargs)
            output = module(*inputs, **input_kwargs)
            rng = np.random.default_rng(seed)
            grad_output = [torch.from_numpy(rng.standard_normal(tuple(o.shape))) if _is_float_tensor(o)
                           else None for o in _leaves(output)]
            in_leaves = [t for t in _leaves((inputs, input_kwargs)) if _is_float_tensor(t)]
            params = list(module.named_parameters())
            differentiable = [(o, g) for o, g in zip(_leaves(output), grad_output)
                              if g is not None and o.requires_grad]
            grads = [None] * (len(in_leaves) + len(params))
            if differentiable:
                grads = torch.autograd.grad([o for o, _ in differentiable],
                                            in_leaves + [p for _, p in params],
                                            [g for _, g in differentiable], allow_unused=True)
    except Exception:
        return None
    return _Reference(
        state=state, inputs=inputs, input_kwargs=input_kwargs, output=output, grad_output=grad_output,
        input_grads={id(t): g for t, g in zip(in_leaves, grads)},
        param_grads={name: g for (name, _), g in zip(params, grads[len(in_leaves):])},
        state_after={k: v.detach().clone() for k, v in module.state_dict().items()},
        is_loss=isinstance(module, torch.nn.modules.loss._Loss),
    )


def run_module_sample(sample, reference, device):
    """Run ``sample`` on nnlib's ``device`` and compare with ``reference``: an ``Outcome``."""
    stage = "construct"
    try:
        cls = getattr(nn, sample.name)
        args, kwargs = _for_nnlib(sample.args, device), _for_nnlib(sample.kwargs, device)
        _check_binds(cls, args, kwargs, f"nn.{sample.name}")
        module = cls(*args, **kwargs)
        stage = "load_state_dict"
        module.to(device=device, dtype="float64")
        module.load_state_dict(reference.state)
        module.train(sample.training)
        stage = "forward"
        inputs, input_kwargs = _for_nnlib(sample.inputs, device), _for_nnlib(sample.input_kwargs, device)
        _check_binds(module.forward, inputs, input_kwargs, f"nn.{sample.name}.forward")
        output = module(*inputs, **input_kwargs)
        stage = "outputs"
        _compare_outputs(output, reference, device)
        stage = "backward"
        grad_output = iter(_for_nnlib(reference.grad_output, device))
        input_grads = module.backward(_tree_map(lambda _: next(grad_output), output))
        stage = "gradients"
        _compare_input_grads(module, input_grads, reference, device)
        for name, param in module.named_parameters():
            expected = reference.param_grads[name]
            if expected is None:
                if param.grad is not None and backend.to_numpy(param.grad).any():
                    raise _Wrong(f"∂J/∂{name}: nonzero, but PyTorch's output does not depend on it")
            elif param.grad is None:
                raise _Wrong(f"∂J/∂{name}: missing (.grad is None)")
            else:
                _compare(param.grad, expected, device, f"∂J/∂{name}")
        after = module.state_dict()
        for key, expected in reference.state_after.items():
            _compare(after[key], expected, device, f"state_dict()[{key!r}] after forward")
    except _Refused as refusal:
        return Outcome(sample, "refused", refusal.kind, refusal.detail, device)
    except _Wrong as wrong:
        return Outcome(sample, "wrong", "", f"{stage}: {wrong}", device)
    except Exception as error:
        return Outcome(sample, *_classify(error, stage), device)
    return Outcome(sample, "pass", device=device)


def _compare_outputs(output, reference, device):
    got, expected = _leaves(output), _leaves(reference.output)
    if len(got) != len(expected):
        raise _Wrong(f"{len(got)} output array(s), PyTorch returns {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        _compare(g, e, device, "output" if len(got) == 1 else f"output {i}")


def _compare_input_grads(module, input_grads, reference, device):
    """nnlib's backward returns ∂J/∂prediction for a loss; for a layer, one gradient per forward
    parameter (a bare array if forward has one), shaped like that argument, ``None`` for none."""
    if reference.is_loss:
        if isinstance(module, nn.CTCLoss):
            input_grads = _through_log_softmax(input_grads, reference.inputs[0])
        pairs = [(input_grads, reference.inputs[0])]
    else:
        bound = inspect.signature(module.forward).bind(*reference.inputs, **reference.input_kwargs)
        bound.apply_defaults()
        arguments = tuple(bound.arguments.values())
        if len(arguments) == 1:
            pairs = [(input_grads, arguments[0])]
        elif not isinstance(input_grads, tuple) or len(input_grads) != len(arguments):
            raise _Wrong(f"backward returned {type(input_grads).__name__}, expected a tuple of "
                         f"{len(arguments)} gradients (one per forward argument)")
        else:
            pairs = list(zip(input_grads, arguments))
    for k, (got, argument) in enumerate(pairs):
        for j, leaf in enumerate(_leaves(argument)):
            expected = reference.input_grads.get(id(leaf))
            what = f"∂J/∂(input {k}" + (f", part {j})" if len(_leaves(argument)) > 1 else ")")
            part = got if not isinstance(got, (tuple, list)) else (got[j] if j < len(got) else None)
            if expected is None:
                continue  # integer ids/labels, or an input the output does not depend on
            if part is None:
                raise _Wrong(f"{what}: missing (backward returned None)")
            _compare(part, expected, device, what)


def _through_log_softmax(grad, log_probs):
    """g ↦ g − exp(u) Σ_k g_k with u = log_probs: PyTorch's CTC backward returns exp(u) − γ, where
    the derivative of the loss with respect to u (nnlib's) is −γ; this map takes one to the other
    when u is a log-softmax (every sample's log_probs are)."""
    if not backend.is_array(grad):
        return grad  # compared (and reported) as it is
    u = backend.to_device(log_probs.detach().numpy(), backend.device_of(grad))
    xp = backend.namespace(grad)
    return grad - xp.exp(u) * xp.sum(grad, axis=-1, keepdims=True)


# --- optimizers -----------------------------------------------------------------------------------------
# The objective: J(θ) = Σ ½cθ² + dₜθ, so ∂J/∂θ = c ⊙ θ + dₜ, with fixed curvatures c > 0 and a fixed
# sequence of offsets dₜ: the gradient depends on the parameters (an error in one step feeds into
# the next ones) and changes from step to step (as a mini-batch gradient does).
_SHAPES = ((4, 3), (3,))


def _objective(seed):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s) for s in _SHAPES]
    curvature = [rng.uniform(0.5, 2.0, s) for s in _SHAPES]
    offsets = [[rng.standard_normal(s) for s in _SHAPES] for _ in range(OPTIMIZER_STEPS)]
    return start, curvature, offsets


def _state_snapshot(state):
    return {key: (value.detach().clone() if isinstance(value, torch.Tensor) else value)
            for key, value in state.items() if value is not None}


def optimizer_reference(sample, seed):
    """Parameters and state after every step on torch, or ``None`` if PyTorch rejects the sample."""
    start, curvature, offsets = _objective(seed)
    params = [torch.tensor(s, requires_grad=True) for s in start]
    try:
        optimizer = getattr(torch.optim, sample.name)(params, **sample.kwargs)
        history = []
        for step in range(OPTIMIZER_STEPS):
            for p, c, d in zip(params, curvature, offsets[step]):
                p.grad = torch.from_numpy(c) * p.detach() + torch.from_numpy(d)
            optimizer.step()
            history.append([(p.detach().clone(), _state_snapshot(optimizer.state[p])) for p in params])
    except Exception:
        return None
    return history


def run_optimizer_sample(sample, history, seed, device):
    start, curvature, offsets = _objective(seed)
    to_dev = lambda a: backend.to_device(a, device)  # noqa: E731
    params = [nn.Parameter(to_dev(s.copy())) for s in start]
    curvature, offsets = [to_dev(c) for c in curvature], [[to_dev(d) for d in ds] for ds in offsets]
    stage = "construct"
    try:
        cls = getattr(optim, sample.name)
        kwargs = _for_nnlib(sample.kwargs, device)
        _check_binds(cls, (params,), kwargs, f"optim.{sample.name}")
        optimizer = cls(params, **kwargs)
        for step in range(OPTIMIZER_STEPS):
            stage = f"step {step + 1}"
            for p, c, d in zip(params, curvature, offsets[step]):
                p.grad = c * p.data + d
            optimizer.step()
            for k, (p, (expected, expected_state)) in enumerate(zip(params, history[step])):
                _compare(p.data, expected, device, f"parameter {k}")
                state = optimizer.state.get(p, {})
                if set(state) != set(expected_state):
                    raise _Wrong(f"state keys of parameter {k}: {sorted(state)}, PyTorch has "
                                 f"{sorted(expected_state)}")
                for key, value in expected_state.items():
                    if isinstance(value, torch.Tensor) and value.ndim > 0:
                        _compare(state[key], value, device, f"state[{key!r}] of parameter {k}")
                    elif not math.isclose(float(state[key]), float(value), rel_tol=TOLERANCE):
                        raise _Wrong(f"state[{key!r}] of parameter {k}: {state[key]}, "
                                     f"expected {float(value)}")
    except _Refused as refusal:
        return Outcome(sample, "refused", refusal.kind, refusal.detail, device)
    except _Wrong as wrong:
        return Outcome(sample, "wrong", "", f"{stage}: {wrong}", device)
    except Exception as error:
        return Outcome(sample, *_classify(error, stage), device)
    return Outcome(sample, "pass", device=device)


# --- the tally ------------------------------------------------------------------------------------------
def tally_lines(outcomes, skipped):
    """A table: per class, how many samples passed, were refused (by kind), crashed, were wrong."""
    names = sorted({o.sample.name for o in outcomes} | set(skipped))
    width = max(len(name) for name in names + ["class"]) + 2
    head = f"{'class':<{width}}{'samples':>8}{'pass':>6}{'refused':>9}  " \
           f"{'(unsupported/signature/checked)':<31}{'crash':>6}{'wrong':>6}{'skipped':>8}"
    lines = [head]
    for name in names + ["total"]:
        mine = [o for o in outcomes if name in ("total", o.sample.name)]
        count = {r: sum(o.result == r for o in mine) for r in RESULTS}
        kinds = "/".join(str(sum(o.kind == k for o in mine)) for k in ("unsupported", "signature", "checked"))
        n_skipped = sum(skipped.values()) if name == "total" else skipped.get(name, 0)
        lines.append(f"{name:<{width}}{len(mine):>8}{count['pass']:>6}{count['refused']:>9}  {kinds:<31}"
                     f"{count['crash']:>6}{count['wrong']:>6}{n_skipped:>8}")
    passed = sum(o.result == "pass" for o in outcomes)
    lines.append(f"pass rate {passed}/{len(outcomes)} = {passed / max(len(outcomes), 1):.1%} "
                 f"(each sample on NumPy and torch CPU in float64; its worse result counts)")
    return lines
