"""``Parameter`` and ``Module``: the skeleton every layer hangs on.

A module's ``forward`` computes the output and saves what ``backward`` will need; ``backward``
receives ∂J/∂(output) — written δ in the book — adds ∂J/∂θ into each parameter's ``.grad``
and returns ∂J/∂(input). There is no autograd: every layer writes its own backward next to
its forward, with the formulas the chapters derive.
"""

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..errors import BackwardError, DeviceError, DTypeError, ShapeError, StateDictError


class Parameter:
    """A trainable array: ``.data`` holds the values, ``.grad`` the accumulated ∂J/∂data.

    ``.grad`` is ``None`` until a backward pass writes it, and is reset to ``None`` by
    ``zero_grad()``, as in PyTorch.
    """

    def __init__(self, data):
        if not backend.is_array(data):
            raise DTypeError("Parameter data must be a NumPy array or torch tensor, "
                             f"got {type(data).__name__}")
        self.data = data
        self.grad = None

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return backend.dtype_name(self.data)

    @property
    def device(self):
        return backend.device_of(self.data)

    def numel(self):
        return int(np.prod(self.shape))

    def accumulate_grad(self, grad):
        """``.grad += grad`` (or ``.grad = grad`` the first time), as PyTorch accumulates."""
        if tuple(grad.shape) != self.shape:
            raise ShapeError(f"gradient of shape {tuple(grad.shape)} does not match "
                             f"parameter shape {self.shape}")
        self.grad = grad if self.grad is None else self.grad + grad

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype}, device={self.device!r})"


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        """Unregister the hook (a second call does nothing)."""
        self._hooks.pop(self.id, None)


class Module:
    """Base class of every layer and loss, with PyTorch's names and ``state_dict`` keys.

    Subclasses assign ``Parameter``s and sub-``Module``s as attributes in ``__init__`` (after
    ``super().__init__()``), and implement ``forward(*inputs)`` and
    ``backward(grad_output) -> grad_input``. Call the module (``y = m(x)``), not ``forward``.
    A module instance takes part once in each forward pass: ``forward`` overwrites what the
    previous call saved for ``backward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_saved", None)
        object.__setattr__(self, "_output_shapes", None)
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration -------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__(): call super().__init__() first "
                f"in {type(self).__name__}.__init__"
            )
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only reached when normal lookup fails; without _parameters, Module.__init__ never ran.
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}: Module.__init__() was not run; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name, array):
        """A non-trainable array saved in ``state_dict`` (e.g. BatchNorm's running mean)."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # --- calling -----------------------------------------------------------------------------
    def __call__(self, *inputs, **kwargs):
        output = self.forward(*inputs, **kwargs)
        # Remember the output's shapes so backward can check the gradient it receives.
        object.__setattr__(self, "_output_shapes", _tree_map(_shape_of, output))
        for hook in list(self._forward_hooks.values()):  # a copy: a hook may remove itself
            if hook(self, inputs, output) is not None:
                raise TypeError(
                    f"a forward hook of {type(self).__name__} returned a value; nnlib's forward hooks "
                    f"may only look at the output (return None). A replaced output would receive its "
                    f"gradient from {type(self).__name__}.backward, which knows nothing of the "
                    f"replacement: there is no autograd to differentiate what the hook computed"
                )
        return output

    def register_forward_hook(self, hook):
        """Call ``hook(module, args, output)`` after every forward pass of this module, as PyTorch.

        ``args`` is the tuple of positional inputs. Hooks run in the order they were registered.
        Unlike PyTorch, a hook may not replace the output (a returned value raises ``TypeError``):
        backward is written by hand for the module's own output. Returns a handle whose
        ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook: hook must be callable as hook(module, args, output), "
                            f"got {type(hook).__name__}")
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    #: True for layers whose ``backward(grad_output, input_grad=False)`` skips computing
    #: ∂J/∂input (and returns ``None``): the first layer of a network, whose input is the
    #: data, needs only its parameter gradients — PyTorch skips that work the same way.
    can_skip_input_grad = False

    # --- what forward leaves for backward -------------------------------------------------
    def save_for_backward(self, *arrays):
        """Keep the arrays ``backward`` needs (the layer's cache)."""
        object.__setattr__(self, "_saved", arrays)

    def saved_for_backward(self, grad_output):
        """Check ``grad_output`` against the last output, then hand back (and forget) the cache.

        Raises ``ShapeError`` if ``grad_output`` is not shaped like the forward output (for a
        module with several outputs, a ``None`` entry means no gradient flows into that output).
        """
        self._check_like_output(grad_output)
        return self.pop_saved()

    def pop_saved(self):
        """Hand back (and forget) what ``forward`` saved; ``BackwardError`` if there is nothing."""
        if self._saved is None:
            raise BackwardError(
                f"{type(self).__name__}.backward() called without a forward pass: call the module on an "
                f"input first (each forward pass allows one backward pass)"
            )
        saved = self._saved
        object.__setattr__(self, "_saved", None)
        return saved

    def _check_like_output(self, grad_output):
        expected = self._output_shapes
        if expected is None:
            if self._saved is not None:  # forward() ran, but not through __call__
                raise BackwardError(
                    f"{type(self).__name__}: call the module, y = m(x), rather than m.forward(x): "
                    f"backward needs what the call records about the output"
                )
            self.pop_saved()  # raises the "no forward pass" error
        got = _tree_map(_shape_of, grad_output)
        if got is None or not _matches(got, expected):
            raise ShapeError(
                f"{type(self).__name__}.backward(): grad_output must be shaped like the forward output "
                f"{_fmt(expected)}, got {_fmt(got)}"
            )

    # --- input checks shared by the layers ----------------------------------------------------
    def check_input(self, x, *, ndim=None, min_ndim=None, last_dim=None, name="input", describe=None):
        """Validate a float input array: type, rank, last dimension, non-empty, float dtype, and
        the device and dtype of the module's parameters and buffers (``check_device_and_dtype``).
        Returns ``x`` unchanged."""
        who = type(self).__name__
        if not backend.is_array(x):
            raise DTypeError(
                f"{who}: {name} must be a NumPy array or torch tensor, got {type(x).__name__} "
                f"(convert with np.asarray(..., dtype=np.float32) or torch.as_tensor)"
            )
        expected = describe or _describe_shape(ndim, min_ndim, last_dim)
        if ndim is not None and x.ndim != ndim or min_ndim is not None and x.ndim < min_ndim:
            raise ShapeError(f"{who}: {name} must have shape {expected}, got {tuple(x.shape)}")
        if last_dim is not None and x.shape[-1] != last_dim:
            raise ShapeError(f"{who}: {name} must have shape {expected}, got {tuple(x.shape)}")
        if 0 in tuple(x.shape):
            raise ShapeError(f"{who}: {name} is empty (shape {tuple(x.shape)}); "
                             "a batch needs at least one example")
        dtype = backend.dtype_name(x)
        if dtype not in backend.FLOAT_DTYPES:
            raise DTypeError(f"{who}: {name} must be float32 or float64, got {dtype}")
        return self.check_device_and_dtype(x, name)

    def check_device_and_dtype(self, x, name="input", *, like=None):
        """``x`` must be on the device of every parameter and buffer of this module and, if it
        holds floats, have their float dtype. Integer arrays (token ids, class labels) are
        checked for the device only, and so are integer buffers.

        A module without parameters or buffers, such as a loss, says what ``x`` must agree with
        instead: ``like={"the prediction": pred}``. Raises ``DeviceError`` / ``DTypeError``
        naming the expected and the actual device or dtype. Returns ``x`` unchanged.
        """
        if like is None:
            if not self._parameters and not self._buffers:  # e.g. an activation: nothing to agree with
                return x
            references = [(("parameter", n), p.data) for n, p in self._parameters.items()]
            references += [(("buffer", n), b) for n, b in self._buffers.items() if b is not None]
        else:
            references = like.items()
        got_device = backend.device_of(x)
        for what, ref in references:
            device = backend.device_of(ref)
            if device != got_device:
                self._raise_mismatch(DeviceError, "device", name, what, repr(got_device), repr(device))
            # Same device, so same backend: the dtype objects compare directly (their names are
            # slow to get, so only looked up when they differ).
            if ref.dtype != x.dtype:
                dtype, got_dtype = backend.dtype_name(ref), backend.dtype_name(x)
                if dtype in backend.FLOAT_DTYPES and got_dtype in backend.FLOAT_DTYPES:
                    self._raise_mismatch(DTypeError, "dtype", name, what, got_dtype, dtype)
        return x

    def _raise_mismatch(self, error, kind, name, what, got, expected):
        # Formatted only on failure: check_device_and_dtype runs in every forward pass.
        if isinstance(what, tuple):  # the module's own parameter or buffer: either side can move
            what = f"the module's {what[0]} {what[1]!r}"
            fix = (f"move one of them: nnlib.to_device({name}, {expected}) or model.to({got})"
                   if kind == "device" else f"convert the {name}, or the model with model.to(dtype={got!r})")
        else:
            fix = (f"move the {name} with nnlib.to_device({name}, {expected})" if kind == "device"
                   else f"convert the {name} to {expected}")
        raise error(f"{type(self).__name__}: {name} has {kind} {got}, expected {expected} "
                    f"(the {kind} of {what}); {fix}")

    # --- traversal -----------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        yield from self._modules.items()

    def children(self):
        yield from self._modules.values()

    def named_parameters(self, prefix=""):
        """``(name, Parameter)`` pairs, named like PyTorch's (``"0.weight"``, ``"fc1.bias"`` …)."""
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix=""):
        for mod_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module and on ``self`` (children first). Returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- training state --------------------------------------------------------------------
    def zero_grad(self):
        """Forget accumulated gradients (sets every ``.grad`` to ``None``)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    # --- device and dtype ----------------------------------------------------------------------
    @property
    def device(self):
        """Device of the parameters (``None`` for a module without any)."""
        p = next(self.parameters(), None)
        return None if p is None else p.device

    @property
    def dtype(self):
        p = next(self.parameters(), None)
        return None if p is None else p.dtype

    def to(self, device=None, dtype=None):
        """Move every parameter, gradient and buffer to ``device`` and/or float ``dtype``.

        ``model.to("cuda")``, ``model.to("numpy")``, ``model.to(dtype="float64")``. Returns self.
        Integer buffers keep their dtype.
        """
        target = self.device if device is None else backend.normalize_device(device)
        dtype = None if dtype is None else backend.resolve_dtype(dtype)
        for module in self.modules():
            for p in module._parameters.values():
                p.data = backend.to_device(p.data, target, dtype)
                if p.grad is not None:
                    p.grad = backend.to_device(p.grad, target, dtype)
            for name, buf in module._buffers.items():
                if buf is None:
                    continue
                float_buf = backend.dtype_name(buf) in backend.FLOAT_DTYPES
                moved = backend.to_device(buf, target or backend.device_of(buf), dtype if float_buf else None)
                module.register_buffer(name, moved)
        return self

    def double(self):
        return self.to(dtype="float64")

    def float(self):
        return self.to(dtype="float32")

    # --- saving and loading ------------------------------------------------------------------
    def state_dict(self):
        """An ordered ``{name: array}`` of parameters and buffers, with PyTorch's keys and order.

        The arrays are the module's own (not copies), as in PyTorch: use ``copy.deepcopy`` for a
        snapshot that later training does not change.
        """
        out = OrderedDict()
        self._save_to(out, "")
        return out

    def _save_to(self, out, prefix):
        for name, p in self._parameters.items():
            out[prefix + name] = p.data
        for name, b in self._buffers.items():
            if b is not None:
                out[prefix + name] = b
        for name, child in self._modules.items():
            child._save_to(out, f"{prefix}{name}.")

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Values may be NumPy arrays or torch tensors (e.g. straight from a PyTorch model's
        ``state_dict()``); each is converted to this module's device and to the dtype of the
        entry it replaces (float to float, integer to integer), as ``torch`` does. Raises
        ``StateDictError`` on wrong shapes, and — when ``strict`` — on missing or unexpected
        keys. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict()
        for mod_name, module in self.named_modules():
            for name in list(module._parameters) + [b for b, v in module._buffers.items() if v is not None]:
                own[f"{mod_name}.{name}" if mod_name else name] = (module, name)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise StateDictError(
                f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        updates = []
        for key, (module, name) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not backend.is_array(value):
                raise StateDictError(f"state_dict[{key!r}] must be a NumPy array or torch tensor, "
                                     f"got {type(value).__name__}")
            current = module._parameters[name].data if name in module._parameters else module._buffers[name]
            if tuple(value.shape) != tuple(current.shape):
                raise StateDictError(
                    f"size mismatch for {key}: the state_dict has shape {tuple(value.shape)}, "
                    f"the model expects {tuple(current.shape)}"
                )
            src_float = backend.dtype_name(value).startswith(("float", "bfloat"))
            dst_float = backend.dtype_name(current) in backend.FLOAT_DTYPES
            if src_float != dst_float:
                raise StateDictError(
                    f"dtype mismatch for {key}: the state_dict has {backend.dtype_name(value)}, "
                    f"the model has {backend.dtype_name(current)}"
                )
            value = backend.to_device(value, backend.NUMPY)  # via host memory: any device → any device
            value = value.astype(backend.dtype_name(current), copy=True)
            updates.append((module, name, backend.to_device(value, backend.device_of(current))))
        for module, name, value in updates:  # all checks passed: now write
            if name in module._parameters:
                module._parameters[name].data = value
            else:
                module.register_buffer(name, value)
        return IncompatibleKeys(missing, unexpected)

    # --- printing ------------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        body = "\n  ".join(([self.extra_repr()] if self.extra_repr() else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"


def _tree_map(fn, tree):
    """Apply ``fn`` to the leaves of nested tuples/lists (``None`` leaves stay ``None``)."""
    if isinstance(tree, (tuple, list)):
        return tuple(_tree_map(fn, t) for t in tree)
    return None if tree is None else fn(tree)


class _Shape(tuple):
    """The shape of one array (a leaf), told apart from a tuple of several outputs."""

    def __repr__(self):
        return str(tuple(self)).replace(",)", ")")


def _shape_of(a):
    return _Shape(a.shape) if backend.is_array(a) else type(a).__name__


def _matches(got, expected):
    """Same nesting and shapes; a ``None`` inside a tuple stands for "no gradient flows here"."""
    if isinstance(expected, _Shape):
        return isinstance(got, _Shape) and got == expected
    if isinstance(expected, tuple) and isinstance(got, tuple) and not isinstance(got, _Shape):
        return len(got) == len(expected) and all(g is None or _matches(g, e) for g, e in zip(got, expected))
    return False


def _fmt(shapes):
    return repr(shapes)


def _describe_shape(ndim, min_ndim, last_dim):
    if ndim is not None:
        dims = ["N"] + [f"d{i}" for i in range(1, ndim)]
        if last_dim is not None:
            dims[-1] = str(last_dim)
        return "(" + ", ".join(dims) + ")"
    if last_dim is not None:
        return f"(*, {last_dim})"
    return f"with at least {min_ndim} dimension(s)" if min_ndim else "any shape"
