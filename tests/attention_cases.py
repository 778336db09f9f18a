"""Shared by test_attention.py and test_transformer.py: an nnlib module and its torch twin with the
same weights, and one run of each on the same inputs that returns every output and every gradient
(of each float forward argument and each parameter) by name, for ``assert_close``.

The objective is J = Σ R ⊙ output over every output array (attention weights included), with
fixed random R: ∂J/∂output = R on both sides.
"""

import inspect

import numpy as np
import torch

import nnlib
from nnlib import backend
from nnlib_cases import torch_device_of


def paired(make_ours, make_theirs, *, device="numpy", dtype="float64", seed=0):
    """``make_ours(dtype name)`` and ``make_theirs(torch dtype)`` built, the 1-D parameters (biases,
    LayerNorm's γ and β, which start at 0 or 1) and bias_k/bias_v set to random values, and the
    weights copied from nnlib's module to torch's. Returns (nnlib module on ``device``, torch module)."""
    nnlib.manual_seed(seed)
    ours = make_ours(dtype)
    rng = np.random.default_rng(seed + 1)
    for name, p in ours.named_parameters():
        if p.data.ndim == 1 or name.endswith(("bias_k", "bias_v")):
            offset = 1.0 if name.endswith("norm1.weight") or name.endswith("norm2.weight") else 0.0
            p.data = (offset + 0.5 * rng.standard_normal(p.shape)).astype(dtype)
    theirs = make_theirs(getattr(torch, dtype))
    theirs.load_state_dict({k: torch.as_tensor(backend.to_numpy(v)) for k, v in ours.state_dict().items()})
    return ours.to(device), theirs.to(torch_device_of(device))


def _is_float_array(value):
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def _projections(outputs, seed):
    rng = np.random.default_rng(seed + 7)
    return [None if o is None else rng.standard_normal(tuple(o.shape)) for o in outputs]


def run_nnlib(module, args, kwargs, *, device="numpy", seed=0):
    """{"output 0": …, "∂query": …, "∂in_proj_weight": …} from nnlib (NumPy arrays); the arguments are
    NumPy arrays (moved to ``device``) and plain values."""
    move = lambda v: backend.to_device(v, device) if isinstance(v, np.ndarray) else v  # noqa: E731
    out = module(*[move(a) for a in args], **{k: move(v) for k, v in kwargs.items()})
    outputs = out if isinstance(out, tuple) else (out,)
    r = _projections(outputs, seed)
    grad = tuple(None if g is None else backend.to_device(g.astype(backend.dtype_name(o)), device)
                 for g, o in zip(r, outputs))
    grads = module.backward(grad if isinstance(out, tuple) else grad[0])
    grads = grads if isinstance(grads, tuple) else (grads,)
    bound = inspect.signature(module.forward).bind(*args, **kwargs)
    bound.apply_defaults()
    assert len(grads) == len(bound.arguments), "backward returns one gradient per forward argument"
    result = {f"output {i}": backend.to_numpy(o) for i, o in enumerate(outputs) if o is not None}
    for (name, value), g in zip(bound.arguments.items(), grads):
        if _is_float_array(value):
            assert g is not None, f"no gradient for the float argument {name}"
            result[f"∂{name}"] = backend.to_numpy(g)
        else:
            assert g is None, f"a gradient for {name}, which is not a float array"
    for name, p in module.named_parameters():
        result[f"∂{name}"] = np.zeros(p.shape) if p.grad is None else backend.to_numpy(p.grad)
    return result


def run_torch(module, args, kwargs, *, seed=0):
    """The same as ``run_nnlib`` from torch.autograd."""
    device = next(module.parameters()).device

    def convert(value):
        if not isinstance(value, np.ndarray):
            return value
        t = torch.as_tensor(value).to(device)
        return t.requires_grad_() if t.is_floating_point() else t

    t_args, t_kwargs = [convert(a) for a in args], {k: convert(v) for k, v in kwargs.items()}
    out = module(*t_args, **t_kwargs)
    outputs = out if isinstance(out, tuple) else (out,)
    r = _projections(outputs, seed)
    objective = sum((o * torch.as_tensor(g, dtype=o.dtype, device=o.device)).sum()
                    for o, g in zip(outputs, r) if o is not None)
    bound = inspect.signature(module.forward).bind(*t_args, **t_kwargs)
    leaves = {f"∂{n}": v for n, v in bound.arguments.items()
              if isinstance(v, torch.Tensor) and v.requires_grad}
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(objective, list(leaves.values()) + list(params.values()), allow_unused=True)
    result = {f"output {i}": o.detach().cpu().numpy() for i, o in enumerate(outputs) if o is not None}
    for name, g in zip(list(leaves) + [f"∂{n}" for n in params], grads):
        shape = (leaves.get(name) if name in leaves else params[name[1:]]).shape
        result[name] = np.zeros(tuple(shape)) if g is None else g.detach().cpu().numpy()
    return result
