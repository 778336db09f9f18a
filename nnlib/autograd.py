"""Reverse-mode automatic differentiation on nnlib's arrays: the engine inside PyTorch, small.

Everywhere else in nnlib each layer's backward is written by hand. Here gradients come out of the
forward computation itself. Every operation on a :class:`Tensor` computes its result *and records
how to send a gradient back*: the result's ``grad_fn`` is a :class:`Node` that keeps the
operation's inputs and its vector-Jacobian product (vjp), a function that turns g = ∂J/∂output
into ∂J/∂input for each input without ever forming the Jacobian. The nodes form a graph that every
forward pass builds anew while the Python code runs — a *dynamic* graph ("define-by-run"), as in
PyTorch, so loops and ``if`` statements need nothing special.

``J.backward()`` walks this graph from J back to the leaves in reverse topological order: a tensor
comes only after every tensor computed from it, so that when its turn comes its gradient is
complete. A tensor used twice receives the sum of the gradients of both uses (the chain rule sums
over paths). Leaves — tensors made with ``requires_grad=True`` — add their gradient into ``.grad``.

>>> import numpy as np
>>> from nnlib.autograd import Tensor
>>> x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
>>> J = (x * x).sum()                  # J = Σ x²
>>> J.grad_fn
<sum>
>>> J.backward()
>>> x.grad                             # ∂J/∂x = 2x
array([2., 4., 6.])

**Adding an operation.** An operation is one function decorated with :func:`operation`. It
receives the *arrays* of its Tensor arguments (NumPy arrays or torch tensors; any other argument as
it was passed) and returns its result together with its vjp: ``vjp(g)``, given g = ∂J/∂result,
returns ∂J/∂argument for each positional argument in order (a single array when there is one;
trailing arguments that are not tensors, such as ``dim``, may be left out). The vjp must not
change g in place: the same array may be handed to several inputs. For y = x³:

>>> from nnlib.autograd import operation
>>> @operation
... def cube(x):
...     def vjp(g):                    # ∂J/∂x = ∂J/∂y · dy/dx = g · 3x²
...         return g * 3 * x**2
...     return x**3, vjp
>>> x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
>>> cube(x).sum().backward()
>>> x.grad
array([ 3., 12.])

The engine does the rest: it builds the node (or none, under :func:`no_grad` or when no input
requires grad), and does two things every vjp would otherwise repeat: it sums each gradient over
the axes that broadcasting stretched (:func:`unbroadcast`) and keeps it in its input's dtype.
Array code written with ``xp = backend.namespace(x)``, as in nnlib's layers, runs on both
backends. An operation composed of other operations (``mean``, ``log_softmax``,
``cross_entropy``, ``conv2d`` below) needs no vjp at all.

**What PyTorch adds.** The design is PyTorch's: a dynamic graph of nodes with vjps, walked in
topological order, with ``requires_grad``, ``no_grad``, ``detach``, ``retain_graph`` and
``torch.autograd.grad``. PyTorch adds, among much else: kernels and a graph walk in C++, so that a
node costs no Python; gradients only for the inputs that need them (``needs_input_grad``), where
this engine computes every output of every vjp on the whole graph; version counters that detect
an in-place change of an array saved for backward; higher-order gradients (``create_graph=True``
records the backward pass too — here a gradient is a plain array, never part of a graph); hooks on
tensors and nodes; ``torch.autograd.Function`` for custom operations; forward-mode
differentiation; anomaly detection; checkpointing. PyTorch's ``retain_graph=False`` frees the
arrays the nodes saved, so a second backward through a node that saved nothing (an addition)
still works there; this engine refuses any second pass through a freed node.
"""

import contextlib
import functools
import math
import numbers
import threading

import numpy as np

from . import backend
from .errors import BackwardError, DTypeError, ShapeError, UnsupportedError
from .nn import functional as F
from .nn.functional import keep_array

# This module's ``sum`` and ``pow`` shadow Python's built-ins, as ``torch.sum`` does; it uses neither.

_grad_mode = threading.local()  # per thread, as in PyTorch


def is_grad_enabled():
    """False inside :func:`no_grad` (in this thread), True otherwise."""
    return getattr(_grad_mode, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Record nothing inside: results get no ``grad_fn`` and ``requires_grad=False`` (for
    evaluation and parameter updates). Also works as a decorator, ``@no_grad()``."""
    previous = is_grad_enabled()
    _grad_mode.enabled = False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


# --- tensors and nodes -----------------------------------------------------------------------------
class Tensor:
    """An array of nnlib's backend that records the operations applied to it.

    ``data`` is a NumPy array or a torch tensor, kept without a copy (Python numbers and lists
    become NumPy arrays). ``requires_grad=True`` makes a *leaf* whose gradient ``backward()``
    adds into ``.grad``: an array of the same shape, ``None`` until then (set it back to ``None``
    to start again, as ``zero_grad()`` does). A result of operations on tensors that require grad
    requires grad too and has a ``grad_fn``, the :class:`Node` that made it; only leaves get a
    ``.grad``, as in PyTorch. The operators and methods (``x @ w``, ``x.sum(1)``, ``x.exp()`` …)
    are the functions of this module.
    """

    __array_ufunc__ = None  # array * tensor then calls Tensor.__rmul__, instead of NumPy looping over it

    def __init__(self, data, requires_grad=False):
        if isinstance(data, (numbers.Number, np.generic, list, tuple)):
            data = np.asarray(data)
        if not backend.is_array(data):
            raise DTypeError(f"Tensor: data must be a NumPy array or torch tensor, got {type(data).__name__}")
        if backend.is_torch_array(data) and data.requires_grad:
            raise DTypeError("Tensor: data is a torch tensor that requires grad (it belongs to torch's "
                             "autograd); pass data.detach()")
        if not isinstance(requires_grad, bool):
            raise TypeError(f"Tensor: requires_grad must be True or False, got {requires_grad!r}")
        if requires_grad and backend.dtype_name(data) not in backend.FLOAT_DTYPES:
            raise DTypeError(f"Tensor: only float32 and float64 tensors can require grad, "
                             f"got {backend.dtype_name(data)}")
        self.data, self.requires_grad = data, requires_grad
        self.grad = None
        self.grad_fn = None

    shape = property(lambda self: tuple(self.data.shape), doc="The shape, a tuple of ints.")
    ndim = property(lambda self: self.data.ndim, doc="The number of axes.")
    dtype = property(lambda self: backend.dtype_name(self.data), doc='The dtype name, e.g. "float64".')
    device = property(lambda self: backend.device_of(self.data), doc='The nnlib device, e.g. "numpy".')
    is_leaf = property(lambda self: self.grad_fn is None, doc="True unless an operation recorded it.")
    T = property(lambda self: permute(self, tuple(range(self.ndim))[::-1]), doc="The axes reversed.")

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def detach(self):
        """The same array (shared, not copied) as a new leaf that does not require grad: what is
        computed from it is a constant for the graph."""
        return Tensor(self.data)

    def backward(self, gradient=None, retain_graph=None):
        """Add ∂J/∂leaf into ``.grad`` of every leaf this tensor depends on.

        ``gradient`` is ∂J/∂(this tensor), an array of its shape; it may be left out for a scalar
        J (it is then 1). The graph is freed afterwards unless ``retain_graph=True``.
        """
        _backpropagate([self], [gradient], retain_graph)

    def reshape(self, *shape):
        """``reshape(self, shape)``; the shape as ints or as one tuple, as in PyTorch."""
        return reshape(self, _shape_arguments(shape))

    def permute(self, *dims):
        """``permute(self, dims)``; the dims as ints or as one tuple, as in PyTorch."""
        return permute(self, _shape_arguments(dims))

    def __repr__(self):
        made = f"requires_grad={self.requires_grad}" if self.grad_fn is None else f"grad_fn={self.grad_fn!r}"
        return f"Tensor({self.data!r}, {made})"


def _shape_arguments(values):
    return tuple(values[0]) if len(values) == 1 and isinstance(values[0], (tuple, list)) else values


class Node:
    """One recorded operation, PyTorch's ``grad_fn``: the operation's ``name``, its ``inputs``
    (each positional argument that is a Tensor requiring grad, ``None`` for the others) and its
    ``vjp``."""

    def __init__(self, name, inputs, vjp):
        self.name, self.inputs, self.vjp = name, inputs, vjp

    def input_gradients(self, grad_output):
        """∂J/∂input for each input (``None`` for the ``None`` inputs), from ∂J/∂output."""
        if self.vjp is None:
            raise BackwardError(
                f"backward through {self!r} a second time: the first backward freed the graph (and "
                f"the arrays its vjps saved); pass retain_graph=True to the first backward to go "
                f"through the graph again, or compute the forward pass again")
        grads = self.vjp(grad_output)
        grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
        result = []
        for i, x in enumerate(self.inputs):
            if x is not None and (i >= len(grads) or grads[i] is None):
                raise BackwardError(f"{self.name}: its vjp returned {len(grads)} gradient(s), but "
                                    f"positional argument {i} is a tensor that requires grad and needs one")
            result.append(None if x is None else _fit(grads[i], x, f"{self.name}, argument {i}"))
        return result

    def release(self):
        """Forget the vjp — and with it the arrays it saved — and the inputs."""
        self.vjp, self.inputs = None, ()

    def __repr__(self):
        return f"<{self.name}>"


def unbroadcast(grad, shape):
    """``grad`` summed over the axes that broadcasting added or stretched, back to ``shape``.

    In y = x + b with x of shape (N, D) and b of shape (D,), each b_j is used N times, so
    ∂J/∂b_j = Σ_n ∂J/∂y_nj: the gradient of a broadcast input is summed over the leading axes it
    lacked and over the axes where its size was 1. Forgetting this is the classic bug: the
    gradient then has the output's shape (N, D), which ``b - lr * grad`` silently broadcasts into
    an (N, D) "bias".
    """
    shape, got = tuple(shape), tuple(grad.shape)
    if got == shape:
        return grad
    lead = len(got) - len(shape)
    if lead < 0 or any(n not in (1, m) for n, m in zip(shape, got[lead:])):
        raise ShapeError(f"a gradient of shape {got} cannot be summed back to shape {shape}: expected "
                         f"{shape} or a shape that {shape} broadcasts to")
    xp = backend.namespace(grad)
    axes = (*range(lead), *(lead + i for i, n in enumerate(shape) if n == 1 and got[lead + i] != 1))
    return xp.reshape(xp.sum(grad, axis=axes, keepdims=True), shape)


def _fit(grad, x, who):
    """A vjp's gradient for input x: an array of x's shape (broadcast axes summed) and dtype."""
    grad = keep_array(grad)
    if not backend.is_array(grad):
        raise DTypeError(f"{who}: the vjp must return arrays, got {type(grad).__name__}")
    try:
        grad = unbroadcast(grad, x.shape)
    except ShapeError as exc:
        raise ShapeError(f"{who}: {exc}") from None
    return grad if backend.dtype_name(grad) == x.dtype else backend.namespace(grad).astype(grad, x.data.dtype)


# --- recording: the registration point of operations ------------------------------------------------
OPERATIONS = {}  # name → operation: everything the engine can differentiate (operation() adds to it)


def operation(forward):
    """Turn ``forward(*args) -> (result, vjp)``, written on arrays, into an operation on Tensors
    that records itself (the pattern is in the module's docstring). Registers it in
    ``OPERATIONS`` under its function name."""
    name = forward.__name__

    @functools.wraps(forward)
    def apply(*args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        if tensors:
            backend.namespace(*(t.data for t in tensors))  # DeviceError unless all on one device
        result, vjp = forward(*(a.data if isinstance(a, Tensor) else a for a in args), **kwargs)
        out = Tensor(keep_array(result))
        if is_grad_enabled() and any(t.requires_grad for t in tensors):
            inputs = tuple(a if isinstance(a, Tensor) and a.requires_grad else None for a in args)
            out.requires_grad, out.grad_fn = True, Node(name, inputs, vjp)
        return out  # without a node, the vjp and what it saved are dropped here

    OPERATIONS[name] = apply
    return apply


# --- the backward pass ----------------------------------------------------------------------------
def _topological_order(outputs):
    """Every tensor the outputs depend on, each one before the tensors it was computed from.

    A depth-first search that places a tensor after all its inputs (post-order), reversed. It
    keeps its own stack: a recursive search would exceed Python's recursion limit (1000 frames)
    on a chain of a few thousand operations, such as an RNN unrolled over a long sequence.
    """
    order, visited = [], set()
    stack = [(t, False) for t in outputs]
    while stack:
        tensor, inputs_placed = stack.pop()
        if inputs_placed:
            order.append(tensor)
        elif tensor not in visited:
            visited.add(tensor)
            stack.append((tensor, True))  # popped again once everything above it is placed
            if tensor.grad_fn is not None:
                stack.extend((x, False) for x in tensor.grad_fn.inputs if x is not None and x not in visited)
    return order[::-1]


def _copy(array):
    # .grad gets its own copy: add's vjp hands the same g to both inputs, and the caller's
    # gradient is the caller's; an in-place update of one .grad must not change another array.
    return backend.namespace(array).asarray(array, copy=True)


def _initial_gradient(output, gradient):
    """∂J/∂output for a backward pass from ``output``: ``gradient``, checked, or 1 for a scalar."""
    if not isinstance(output, Tensor):
        raise DTypeError(f"backward: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise BackwardError("backward: this tensor does not require grad and has no grad_fn, so nothing was "
                            "recorded: was it computed inside no_grad(), from detached tensors, or from "
                            "tensors without requires_grad=True?")
    if gradient is None:
        if math.prod(output.shape) != 1:
            raise ShapeError(f"backward: the gradient can be left out only for a scalar output, got an "
                             f"output of shape {output.shape}; pass gradient, ∂J/∂output, an array of "
                             f"that shape (ones to differentiate the sum)")
        return backend.namespace(output.data).ones_like(output.data)
    gradient = gradient.data if isinstance(gradient, Tensor) else gradient
    if not backend.is_array(gradient):
        raise DTypeError(f"backward: gradient must be an array, got {type(gradient).__name__}")
    if tuple(gradient.shape) != output.shape:
        raise ShapeError(f"backward: gradient must have the output's shape {output.shape}, "
                         f"got {tuple(gradient.shape)}")
    backend.namespace(output.data, gradient)  # DeviceError unless on the output's device
    return gradient


def _backpropagate(outputs, grad_outputs, retain_graph, inputs=None):
    """The backward pass from ``outputs``. Without ``inputs``, each leaf's gradient is added into
    its ``.grad``; with, the gradients of ``inputs`` are returned as {tensor: array} and no
    ``.grad`` changes."""
    grads = {}  # tensor → ∂J/∂tensor, summed over the uses seen so far
    for out, g in zip(outputs, grad_outputs):
        g = _initial_gradient(out, g)
        grads[out] = grads[out] + g if out in grads else g
    wanted = None if inputs is None else set(inputs)
    found = {}
    for tensor in _topological_order(outputs):
        g = grads.pop(tensor)  # complete: every tensor computed from this one came before it
        if wanted is not None and tensor in wanted:
            found[tensor] = _copy(g)
        node = tensor.grad_fn
        if node is None:  # a leaf
            if wanted is None:
                tensor.grad = _copy(g) if tensor.grad is None else tensor.grad + g
            continue
        for x, gx in zip(node.inputs, node.input_gradients(g)):
            if x is not None:
                grads[x] = grads[x] + gx if x in grads else gx
        if not retain_graph:
            node.release()
    return found


def _as_list(items):
    return list(items) if isinstance(items, (tuple, list)) else [items]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, *, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``: a
    tuple of arrays, one per input, and no ``.grad`` is touched.

    ``outputs`` and ``inputs`` are Tensors or sequences of them; inputs may be intermediate
    results, not only leaves. ``grad_outputs`` holds ∂J/∂output for each output (``None``: 1,
    for a scalar output); with several outputs, J is the sum of their contributions. An input
    the outputs do not depend on is an error unless ``allow_unused=True``, which gives it
    ``None``. The graph is freed afterwards unless ``retain_graph=True``.
    """
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grad_outputs = [None] * len(outputs) if grad_outputs is None else _as_list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: expected one grad_output per output ({len(outputs)}), "
                         f"got {len(grad_outputs)}")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise DTypeError(f"grad: inputs[{i}] must be a Tensor, got {type(x).__name__}")
        if not x.requires_grad:
            raise BackwardError(f"grad: inputs[{i}] does not require grad, so it has no gradient")
    found = _backpropagate(outputs, grad_outputs, retain_graph, inputs)
    unused = [i for i, x in enumerate(inputs) if x not in found]
    if unused and not allow_unused:
        raise BackwardError(f"grad: the outputs do not depend on inputs{unused}; pass allow_unused=True "
                            f"to get None for them")
    return tuple(found.get(x) for x in inputs)


# --- elementwise arithmetic, with broadcasting ------------------------------------------------------
def _check_broadcast(who, x, y):
    shapes = [tuple(a.shape) for a in (x, y) if backend.is_array(a)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"{who}: shapes {shapes[0]} and {shapes[1]} do not broadcast: aligned at the "
                         f"right, each pair of sizes must be equal or one of them 1") from None


@operation
def add(x, y):
    """x + y, elementwise with broadcasting; ∂/∂x = ∂/∂y = 1."""
    _check_broadcast("add", x, y)
    return x + y, lambda g: (g, g)


@operation
def sub(x, y):
    """x − y, elementwise with broadcasting."""
    _check_broadcast("sub", x, y)
    return x - y, lambda g: (g, -g)


@operation
def mul(x, y):
    """x · y, elementwise with broadcasting; each factor's gradient is g times the other."""
    _check_broadcast("mul", x, y)
    return x * y, lambda g: (g * y, g * x)


@operation
def div(x, y):
    """x / y, elementwise with broadcasting; ∂(x/y)/∂y = −x/y² = −(x/y)/y."""
    _check_broadcast("div", x, y)
    out = x / y
    return out, lambda g: (g / y, -g * out / y)


@operation
def neg(x):
    """−x."""
    return -x, lambda g: -g


@operation
def pow(x, exponent):
    """x ** exponent, elementwise, for a number ``exponent``; ∂/∂x = exponent · x^(exponent − 1)."""
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
        raise UnsupportedError(f"pow: exponent must be a number, got {type(exponent).__name__}; a tensor "
                               f"exponent is not implemented (write exp(y * log(x)) for x > 0)")
    xp = backend.namespace(x)

    def vjp(g):
        if exponent == 0:  # x^(−1) would turn the zero derivative into 0 · ∞ = nan at x = 0
            return xp.zeros_like(g)
        return g * exponent * x ** (exponent - 1)
    return x ** exponent, vjp


# --- elementwise functions ----------------------------------------------------------------------------
@operation
def exp(x):
    """e^x; its derivative is e^x itself, which the vjp takes from the result."""
    y = backend.namespace(x).exp(x)
    return y, lambda g: g * y


@operation
def log(x):
    """The natural logarithm; ∂/∂x = 1/x."""
    return backend.namespace(x).log(x), lambda g: g / x


@operation
def tanh(x):
    """tanh x; ∂/∂x = 1 − tanh² x."""
    y = backend.namespace(x).tanh(x)
    return y, lambda g: g * (1 - y * y)


@operation
def sigmoid(x):
    """σ(x) = 1/(1 + e^(−x)); ∂/∂x = σ(x)(1 − σ(x))."""
    xp = backend.namespace(x)
    z = xp.exp(-xp.abs(x))  # only e^(−|x|) is computed: no overflow for large |x|
    y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return y, lambda g: g * y * (1 - y)


@operation
def relu(x):
    """max(0, x); ∂/∂x = 1 for x > 0, else 0 (0 at x = 0, as in PyTorch)."""
    y = backend.namespace(x).clip(x, min=0)
    return y, lambda g: g * F.step_of(y)


# --- reductions and shapes ------------------------------------------------------------------------------
def _dims(x, dim, who):
    """``dim`` (None, an int or a tuple of ints) as a tuple of axes in [0, ndim)."""
    if dim is None:
        return tuple(range(x.ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or not -x.ndim <= d < x.ndim:
            raise ShapeError(f"{who}: dim must be an int in [{-x.ndim}, {x.ndim - 1}] (or a tuple of them) "
                             f"for an input of shape {tuple(x.shape)}, got {dim!r}")
    dims = tuple(d % x.ndim for d in dims)
    if len(set(dims)) != len(dims):
        raise ShapeError(f"{who}: dim {dim!r} names an axis twice")
    return dims


@operation
def sum(x, dim=None, keepdim=False):
    """The sum over ``dim`` (an int, a tuple of them, or None for all axes), as ``torch.sum``;
    ``keepdim=True`` keeps the summed axes with size 1."""
    dims = _dims(x, dim, "sum")
    xp = backend.namespace(x)
    kept = tuple(1 if i in dims else n for i, n in enumerate(x.shape))
    # Each x_i is in one of the sums, with coefficient 1: its gradient is that sum's gradient,
    # copied back along the summed axes.
    return (xp.sum(x, axis=None if dim is None else dims, keepdims=keepdim),
            lambda g: xp.broadcast_to(xp.reshape(g, kept), x.shape))


def mean(x, dim=None, keepdim=False):
    """The average over ``dim``, as ``torch.mean``: the sum divided by the number of its terms,
    two recorded operations and no vjp of its own."""
    count = math.prod(x.shape[d] for d in _dims(x, dim, "mean"))
    return sum(x, dim, keepdim) / count


@operation
def reshape(x, shape):
    """The same elements in the shape ``shape`` (one size may be −1: inferred), as ``torch.reshape``."""
    xp = backend.namespace(x)
    return xp.reshape(x, tuple(shape)), lambda g: xp.reshape(g, x.shape)


@operation
def permute(x, dims):
    """The axes reordered, as ``torch.permute``: axis i of the result is axis ``dims[i]`` of x.
    The vjp applies the inverse permutation."""
    order = _dims(x, tuple(dims), "permute")
    if len(order) != x.ndim:
        raise ShapeError(f"permute: dims must name each of the {x.ndim} axes once, got {tuple(dims)}")
    xp, inverse = backend.namespace(x), tuple(int(i) for i in np.argsort(order))
    return xp.permute_dims(x, order), lambda g: xp.permute_dims(g, inverse)


def transpose(x, dim0, dim1):
    """x with axes ``dim0`` and ``dim1`` swapped, as ``torch.transpose``."""
    (dim0,), (dim1,) = _dims(x, dim0, "transpose"), _dims(x, dim1, "transpose")
    order = list(range(x.ndim))
    order[dim0], order[dim1] = order[dim1], order[dim0]
    return permute(x, order)


def _check_basic_index(index):
    for key in index if isinstance(index, tuple) else (index,):
        basic = key is None or key is Ellipsis or isinstance(key, slice)
        if not basic and (isinstance(key, bool) or not isinstance(key, (int, np.integer))):
            raise UnsupportedError(f"getitem: only ints, slices, None and ... are implemented as indices, "
                                   f"got {type(key).__name__}; an index array may select an element twice, "
                                   f"and its gradient would be a scatter-add")


@operation
def getitem(x, index):
    """x[index] for basic indices: ints, slices, None, ``...`` and tuples of them. Each element is
    selected at most once, so the gradient is g put back where the elements came from, 0 elsewhere."""
    _check_basic_index(index)
    xp = backend.namespace(x)

    def vjp(g):
        grad = xp.zeros(x.shape, dtype=x.dtype, device=backend.native_device(x))
        grad[index] = g
        return grad
    return x[index], vjp


# --- matrix product -------------------------------------------------------------------------------------
def _check_matmul(x, y):
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least one axis, got shapes {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    inner, rows = x.shape[-1], (y.shape[0] if y.ndim == 1 else y.shape[-2])
    if inner != rows:
        which = "y.shape[0]" if y.ndim == 1 else "y.shape[-2]"
        raise ShapeError(f"matmul: x of shape {tuple(x.shape)} needs {which} = {inner}, got y of shape "
                         f"{tuple(y.shape)} ({which} = {rows})")
    try:
        np.broadcast_shapes(tuple(x.shape[:-2]), tuple(y.shape[:-2]))
    except ValueError:
        raise ShapeError(f"matmul: the batch axes of shapes {tuple(x.shape)} and {tuple(y.shape)} do not "
                         f"broadcast") from None


@operation
def matmul(x, y):
    """x @ y with NumPy's and PyTorch's rules: a 1-D x is a row, a 1-D y a column (the axis is
    dropped from the result), and axes before the last two are batch axes that broadcast."""
    _check_matmul(x, y)

    def vjp(g):
        xp = backend.namespace(g)
        # Give g back the axes the 1-D rules dropped, so that it is (…, n, m).
        if y.ndim == 1:
            g = g[..., None]
        if x.ndim == 1:
            g = g[..., None, :]
        x2 = x[None, :] if x.ndim == 1 else x                    # (1, k)
        y2 = y[:, None] if y.ndim == 1 else y                    # (k, 1)
        gx = g @ xp.matrix_transpose(y2)                          # ∂J/∂x = g yᵀ
        gy = xp.matrix_transpose(x2) @ g                          # ∂J/∂y = xᵀ g
        # Batch axes that broadcasting added are summed by the engine (unbroadcast).
        return gx[..., 0, :] if x.ndim == 1 else gx, gy[..., 0] if y.ndim == 1 else gy
    return x @ y, vjp


# --- composite operations: built from the ones above, no vjp of their own -----------------------------
def _require_tensor(x, name, who):
    if not isinstance(x, Tensor):
        raise DTypeError(f"{who}: {name} must be a Tensor, got {type(x).__name__}")


def log_softmax(x, dim):
    """log softmax(x) along ``dim``, finite for any finite x, as ``torch.log_softmax``.

    With m = max x along ``dim`` (``nnlib.nn.functional.log_softmax`` explains the order):
    (x − m) − log Σ e^(x − m). Here m enters as a constant array, not as a recorded operation.
    That is exact, not an approximation: log softmax(x − c) = log softmax(x) for every c, so the
    result does not depend on m, and neither does its gradient.
    """
    _require_tensor(x, "x", "log_softmax")
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ShapeError(f"log_softmax: dim must be an int, got {dim!r}")
    (axis,) = _dims(x, dim, "log_softmax")
    shifted = x - backend.namespace(x.data).max(x.data, axis=axis, keepdims=True)  # ≤ 0: e^… ≤ 1
    return shifted - log(sum(exp(shifted), axis, keepdim=True))


def cross_entropy(input, target, *, reduction="mean"):
    """Softmax cross-entropy of (N, C) logits z and N integer class indices t, as
    ``torch.nn.functional.cross_entropy`` with its default options: ℓ_n = −log softmax(z_n)_{t_n},
    averaged over the batch (``reduction="mean"``), summed (``"sum"``) or one per example
    (``"none"``). ``nnlib.nn.CrossEntropyLoss`` has the other options.

    Picking the correct class is a product with the one-hot matrix of t, a constant; the engine
    then finds ∂J/∂z = (softmax(z) − onehot(t))/N by itself.
    """
    _require_tensor(input, "input", "cross_entropy")
    if input.ndim != 2:
        raise ShapeError(f"cross_entropy: input must have shape (N, C), got {input.shape}")
    target = target.data if isinstance(target, Tensor) else target
    if not backend.is_array(target) or not backend.dtype_name(target).startswith(("int", "uint")):
        what = backend.dtype_name(target) if backend.is_array(target) else type(target).__name__
        raise DTypeError(f"cross_entropy: target must be an integer array of class indices, got {what}")
    n, c = input.shape
    if tuple(target.shape) != (n,):
        raise ShapeError(f"cross_entropy: target must have shape ({n},), one class per row of the input "
                         f"{input.shape}, got {tuple(target.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    xp = backend.namespace(input.data, target)  # DeviceError unless on one device
    if n and not (0 <= int(xp.min(target)) and int(xp.max(target)) < c):
        raise ValueError(f"cross_entropy: target labels must be in [0, {c - 1}] for {c} classes, got values "
                         f"in [{int(xp.min(target))}, {int(xp.max(target))}]")
    classes = xp.arange(c, device=backend.native_device(target))
    onehot = xp.astype(target[:, None] == classes, input.data.dtype)
    losses = -sum(log_softmax(input, 1) * onehot, 1)
    return mean(losses) if reduction == "mean" else sum(losses) if reduction == "sum" else losses


@operation
def im2col(x, kernel, stride, padding, out_hw, dilation):
    """The windows of an (N, C, H, W) batch as the columns of a (C·kh·kw, N·OH·OW) matrix, with
    ``nnlib.nn.functional.im2col``. The vjp is its adjoint, ``col2im``: each input pixel collects
    the gradients of all the column entries it was copied into."""
    cols = F.im2col(x, kernel, stride, padding, out_hw, dilation)
    return cols, lambda g: F.col2im(g, tuple(x.shape), kernel, stride, padding, out_hw, dilation)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of an (N, C, H, W) batch (or one (C, H, W) image) with an
    (O, C/groups, kh, kw) weight, as ``torch.nn.functional.conv2d``; ``stride``, ``padding`` and
    ``dilation`` are ints or pairs (zero padding).

    Composed as ``nnlib.nn.Conv2d`` computes it — im2col, one matrix product W_mat @ cols (one
    per group), the bias, a reshape — so its gradient comes from theirs: the engine finds
    ``Conv2d.backward``'s ∂J/∂W = δ colsᵀ, ∂J/∂b = Σ δ and ∂J/∂x = col2im(W_matᵀ δ) on its own.
    """
    who = "conv2d"
    if isinstance(padding, str):
        raise UnsupportedError(f"conv2d: padding={padding!r} is not implemented in nnlib.autograd; it "
                               f"supports an int or a pair (nnlib.nn.Conv2d has 'same' and 'valid')")
    if input.ndim == 3:  # one image: a batch of one
        return conv2d(input[None], weight, bias, stride, padding, dilation, groups)[0]
    groups = F.check_positive_int(groups, "groups", who)
    if input.ndim != 4 or weight.ndim != 4:
        raise ShapeError(f"conv2d: input must have shape (N, C, H, W) or (C, H, W) and weight (O, C/groups, "
                         f"kh, kw), got {tuple(input.shape)} and {tuple(weight.shape)}")
    (n, c, h, w), (o, c_group, kh, kw) = input.shape, weight.shape
    if c != c_group * groups or o % groups:
        raise ShapeError(f"conv2d: weight of shape {tuple(weight.shape)} with groups={groups} expects "
                         f"{c_group * groups} input channels (and out_channels divisible by groups), got an "
                         f"input of shape {tuple(input.shape)}")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ShapeError(f"conv2d: bias must have shape ({o},), one per output channel, "
                         f"got {tuple(bias.shape)}")
    stride, dilation = F.pair(stride, "stride", who), F.pair(dilation, "dilation", who)
    padding = tuple((p, p) for p in F.pair(padding, "padding", who, minimum=0))
    oh, ow = (F.output_size(size, k, s, p, d, who=who, axis=axis) for size, k, s, p, d, axis
              in zip((h, w), (kh, kw), stride, padding, dilation, ("height", "width")))
    cols = im2col(input, (kh, kw), stride, padding, (oh, ow), dilation)      # (C·kh·kw, N·OH·OW)
    if groups == 1:
        y = reshape(weight, (o, -1)) @ cols                                   # (O, N·OH·OW)
    else:  # group g's O/groups kernels see only its C/groups channels, a block of rows of cols
        w_mat = reshape(weight, (groups, o // groups, -1))
        y = reshape(w_mat @ reshape(cols, (groups, -1, n * oh * ow)), (o, -1))
    if bias is not None:
        y = y + reshape(bias, (o, 1))
    return permute(reshape(y, (o, n, oh, ow)), (1, 0, 2, 3))                 # (N, O, OH, OW)


# --- operators and methods: x + y is add(x, y), x.sum(1) is sum(x, 1) … -------------------------------
def _reflected(op):
    """The operator for a tensor on the right: 2 - x calls x.__rsub__(2), which is sub(2, x)."""
    def reflected(self, other):
        return op(other, self)
    return reflected


Tensor.__add__, Tensor.__radd__ = add, _reflected(add)
Tensor.__sub__, Tensor.__rsub__ = sub, _reflected(sub)
Tensor.__mul__, Tensor.__rmul__ = mul, _reflected(mul)
Tensor.__truediv__, Tensor.__rtruediv__ = div, _reflected(div)
Tensor.__matmul__, Tensor.__rmatmul__ = matmul, _reflected(matmul)
Tensor.__neg__, Tensor.__pow__, Tensor.__getitem__ = neg, pow, getitem
Tensor.sum, Tensor.mean, Tensor.transpose, Tensor.matmul, Tensor.pow = sum, mean, transpose, matmul, pow
Tensor.exp, Tensor.log, Tensor.tanh, Tensor.sigmoid, Tensor.relu = exp, log, tanh, sigmoid, relu
Tensor.log_softmax = log_softmax
