"""Is a hand-written backward right? Compare it with central differences and with PyTorch.

Every check reduces the module to one scalar objective J of its inputs and parameters:

- with ``loss=(criterion, target)``: ``J = criterion(module(*inputs), target)``;
- otherwise: ``J = Σ R ⊙ module(*inputs)``, with R a fixed random array shaped like the output, so
  every output element enters J with its own weight (and ∂J/∂output = R).

The central difference (J(θ + ε) − J(θ − ε)) / 2ε has error O(ε²); in float64 with ε = 1e-6
it agrees with an exact gradient to about 1e-8 relative. Random layers (``Dropout``) are made
repeatable by reseeding nnlib's generator before every evaluation.
"""

import numpy as np

from . import backend
from .errors import DTypeError
from .rng import seed_nnlib


# --- the objective ----------------------------------------------------------------------------
def _as_tuple(inputs):
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [] if tree is None else [tree]


def _projection(output, seed):
    """R: random weights shaped like the output (same nesting), in float64 NumPy."""
    rng = np.random.default_rng(seed + 12345)

    def build(tree):
        if isinstance(tree, (tuple, list)):
            return tuple(build(t) for t in tree)
        return None if tree is None else rng.standard_normal(tuple(tree.shape))

    return build(output)


def _tree_to(tree, device):
    if isinstance(tree, (tuple, list)):
        return tuple(_tree_to(t, device) for t in tree)
    return None if tree is None else backend.to_device(tree, device)


def _objective(module, inputs, loss, projection, seed):
    seed_nnlib(seed)
    out = module(*inputs)
    if loss is not None:
        criterion, target = loss
        return float(criterion(out, target)), out
    total = sum(float(np.sum(backend.to_numpy(o).astype(np.float64) * r))
                for o, r in zip(_leaves(out), _leaves(projection)))
    return total, out


def _is_float(x):
    return backend.is_array(x) and backend.dtype_name(x) in backend.FLOAT_DTYPES


def _input_names(inputs):
    return ["input"] if len(inputs) == 1 else [f"input[{i}]" for i in range(len(inputs))]


def _require_float64(module, inputs):
    dtypes = {p.dtype for p in module.parameters()} | {backend.dtype_name(x) for x in inputs if _is_float(x)}
    if dtypes - {"float64"}:
        raise DTypeError(
            f"gradient checks need float64 (float32 round-off swamps the finite differences), "
            f"got {sorted(dtypes)}; "
            f"use model.to(dtype='float64') and float64 inputs"
        )


def analytic_gradients(module, inputs, *, loss=None, seed=0):
    """nnlib's own gradients of J: ``{"input": ∂J/∂x, "<param name>": ∂J/∂θ, …}`` as NumPy arrays.

    Only floating-point inputs get an entry (integer inputs such as class labels or token ids
    have no gradient). A module whose ``backward`` returns one array gives the gradient of its
    first input.
    """
    inputs = _as_tuple(inputs)
    module.zero_grad()
    seed_nnlib(seed)
    out = module(*inputs)
    if loss is not None:
        criterion, target = loss
        criterion(out, target)
        grad_out = criterion.backward()
    else:
        device = backend.device_of(_leaves(out)[0])
        grad_out = _tree_to(_cast_like(_projection(out, seed), out), device)
    grad_in = module.backward(grad_out)
    grad_in = grad_in if isinstance(grad_in, tuple) else (grad_in,)
    grads = {}
    for name, x, g in zip(_input_names(inputs), inputs, grad_in):
        if _is_float(x) and g is not None:
            grads[name] = backend.to_numpy(g)
    for name, p in module.named_parameters():
        grads[name] = backend.to_numpy(p.grad) if p.grad is not None else np.zeros(p.shape)
    return grads


def _cast_like(proj, out):
    if isinstance(proj, tuple):
        return tuple(_cast_like(p, o) for p, o in zip(proj, out))
    return None if proj is None else proj.astype(backend.dtype_name(out))


def numerical_gradients(module, inputs, *, loss=None, eps=1e-6, seed=0):
    """Central-difference gradients of J, keyed like ``analytic_gradients``.

    Each element of each float input and parameter is nudged by ±ε in turn: 2 forward passes
    per element, which is why backprop (one backward pass for all of them) matters.
    """
    inputs = list(_as_tuple(inputs))
    _require_float64(module, inputs)
    seed_nnlib(seed)
    projection = _projection(module(*inputs), seed)  # R depends only on the output's shape

    def evaluate():
        value, _ = _objective(module, tuple(inputs), loss, projection, seed)
        return value

    def differentiate(get, put):
        base = backend.to_numpy(get()).astype(np.float64).copy()
        device = backend.device_of(get())
        grad = np.zeros_like(base)
        flat, gflat = base.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            put(backend.to_device(base, device))
            plus = evaluate()
            flat[i] = original - eps
            put(backend.to_device(base, device))
            minus = evaluate()
            flat[i] = original
            gflat[i] = (plus - minus) / (2 * eps)
        put(backend.to_device(base, device))
        return grad

    grads = {}
    for k, name in enumerate(_input_names(inputs)):
        if _is_float(inputs[k]):
            def put(value, k=k):
                inputs[k] = value
            grads[name] = differentiate(lambda k=k: inputs[k], put)
    for name, p in module.named_parameters():
        def put(value, p=p):
            p.data = value
        grads[name] = differentiate(lambda p=p: p.data, put)
    return grads


def autograd_gradients(torch_module, inputs, *, loss=None, seed=0):
    """The same J computed by a PyTorch module with torch.autograd (the reference).

    ``inputs`` are NumPy arrays or tensors; ``loss`` is ``(torch criterion, target)``. Use the
    same ``seed`` as for the nnlib side so both use the same projection R.
    """
    import torch

    params = dict(torch_module.named_parameters())
    tensors = []
    for x in _as_tuple(inputs):
        t = torch.as_tensor(backend.to_numpy(x) if backend.is_array(x) else x)
        if next(iter(params.values()), None) is not None:
            t = t.to(next(iter(params.values())).device)
        tensors.append(t.detach().clone().requires_grad_(t.is_floating_point()))
    torch_module.zero_grad()
    out = torch_module(*tensors)
    if loss is not None:
        criterion, target = loss
        target = torch.as_tensor(backend.to_numpy(target) if backend.is_array(target) else target)
        objective = criterion(out, target.to(_leaves(out)[0].device))
    else:
        proj = _projection(out, seed)
        objective = sum((o * torch.as_tensor(r, dtype=o.dtype, device=o.device)).sum()
                        for o, r in zip(_leaves(out), _leaves(proj)))
    objective.backward()
    grads = {}
    for name, t in zip(_input_names(tensors), tensors):
        if t.grad is not None:
            grads[name] = t.grad.detach().cpu().numpy()
    for name, p in params.items():
        grads[name] = p.grad.detach().cpu().numpy() if p.grad is not None else np.zeros(tuple(p.shape))
    return grads


# --- comparing ---------------------------------------------------------------------------
def relative_error(a, b):
    """max|a − b| / max(max|a|, max|b|): 0 for identical arrays, ~1e-16 for float64 round-off."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    diff = np.max(np.abs(a - b), initial=0.0)
    return 0.0 if diff == 0 else float(diff / scale) if scale > 0 else float("inf")


class GradientTable:
    """Per named array (gradients, or any outputs): does each candidate match the reference —
    exactly? closely? by how much?

    Built by :func:`compare`. ``passed`` is True when every row is close (``|a − b| ≤ atol + rtol·|b|``
    element-wise). Prints as text and renders as an HTML table in notebooks.
    """

    def __init__(self, rows, rtol, atol, what="gradient"):
        self.rows, self.rtol, self.atol = rows, rtol, atol
        self.columns = (what, "compared", "exact", "close", "max abs diff", "relative error")

    @property
    def passed(self):
        return all(row[3] for row in self.rows)

    @property
    def max_relative_error(self):
        return max((row[5] for row in self.rows), default=0.0)

    def _cells(self):
        return [(n, c, "yes" if e else "no", "yes" if ok else "NO", f"{d:.2e}", f"{r:.2e}")
                for n, c, e, ok, d, r in self.rows]

    def __str__(self):
        cells = [self.columns] + self._cells()
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compare(gradients, *, rtol=1e-6, atol=1e-9, what="gradient"):
    """Compare named array sets against the first one.

    ``gradients`` maps a label to a ``{name: array}`` dict, e.g.
    ``{"nnlib": analytic, "finite differences": numeric, "torch.autograd": reference}``.
    Returns a :class:`GradientTable` with one row per (array name, other label); ``what``
    heads the first column (e.g. ``"output"`` when comparing forward passes).
    """
    labels = list(gradients)
    if len(labels) < 2:
        raise ValueError("compare needs at least two gradient sets")
    ref_label, reference = labels[0], gradients[labels[0]]
    rows = []
    for name, a in reference.items():
        for label in labels[1:]:
            other = gradients[label]
            if name not in other:
                raise KeyError(f"{label!r} has no gradient named {name!r}; it has {sorted(other)}")
            a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(other[name], dtype=np.float64)
            if a64.shape != b64.shape:
                raise ValueError(f"{name}: {ref_label} has shape {a64.shape} but {label} has {b64.shape}")
            rows.append((name, f"{ref_label} vs {label}", bool(np.array_equal(a64, b64)),
                         bool(np.allclose(a64, b64, rtol=rtol, atol=atol)),
                         float(np.max(np.abs(a64 - b64), initial=0.0)), relative_error(a64, b64)))
    return GradientTable(rows, rtol, atol, what)


def gradcheck(module, inputs, *, loss=None, eps=1e-6, rtol=1e-6, atol=1e-8, seed=0, raise_on_failure=True):
    """Check ``module.backward`` against central differences (float64 only).

    Returns the :class:`GradientTable` ("nnlib vs finite differences"); raises ``AssertionError``
    with that table if a gradient is off and ``raise_on_failure``.
    """
    inputs = _as_tuple(inputs)
    _require_float64(module, inputs)
    analytic = analytic_gradients(module, inputs, loss=loss, seed=seed)
    numerical = numerical_gradients(module, inputs, loss=loss, eps=eps, seed=seed)
    table = compare({"nnlib": analytic, "finite differences": numerical}, rtol=rtol, atol=atol)
    if raise_on_failure and not table.passed:
        raise AssertionError(f"{type(module).__name__}: backward disagrees with central differences\n{table}")
    return table
