"""Losses J(prediction, target) with PyTorch's signatures: ``loss = criterion(input, target)``
returns a 0-d array for ``reduction="mean"`` or ``"sum"`` (use ``loss.item()`` for a Python
float) and one loss per element for ``reduction="none"``; ``criterion.backward()`` returns
∂J/∂input (for ``"none"``: ``criterion.backward(grad_output)``, shaped like the losses).

``CTCLoss``, the sequence loss of speech recognition, has its own module (``nnlib.nn.ctc``).
"""

import math

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError, UnsupportedError
from .functional import keep_array, log_softmax
from .module import Module

_REDUCTIONS = ("none", "mean", "sum")


def _numel(array):
    # Not array.size: on a torch tensor that is a method, not the element count.
    return math.prod(array.shape)


def _is_integer(dtype):
    return dtype.startswith(("int", "uint"))


def _is_float(array):
    return backend.dtype_name(array) in backend.FLOAT_DTYPES


class _Loss(Module):
    """What every loss shares: the ``reduction`` and the upstream gradient of ``backward``."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        who = type(self).__name__
        for name, value in (("size_average", size_average), ("reduce", reduce)):
            if value is not None:
                raise UnsupportedError(f"{who}: {name}={value!r} is not implemented in nnlib (PyTorch "
                                       f"deprecated it); it supports {name}=None: say reduction='mean', "
                                       f"'sum' or 'none'")
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _upstream(self, grad_output):
        """∂(final objective)/∂J: 1 when J is the objective itself.

        With ``reduction="none"`` J is an array of losses, and ``grad_output`` must be an array of
        the same shape, as for ``loss.backward(gradient)`` in PyTorch (unless J is one loss, of an
        unbatched input: then a number will do, as for a scalar). Call it before ``pop_saved``.
        """
        if self.reduction == "none" and self._output_shapes != ():
            return self._upstream_per_loss(grad_output)
        if backend.is_array(grad_output):
            if tuple(grad_output.shape) != ():
                raise ShapeError(f"{type(self).__name__}.backward(): grad_output must be a scalar, "
                                 f"got shape {tuple(grad_output.shape)}")
            return grad_output
        if isinstance(grad_output, bool) or not isinstance(grad_output, (int, float)):
            raise DTypeError(f"{type(self).__name__}.backward(): grad_output must be a number, "
                             f"got {type(grad_output).__name__}")
        return grad_output

    def _upstream_per_loss(self, grad_output):
        if self._saved is None:  # no forward pass: pop_saved says so
            return grad_output
        if not backend.is_array(grad_output):
            raise DTypeError(
                f"{type(self).__name__}.backward(): with reduction='none' the loss has one value per "
                f"element, shape {self._output_shapes!r}: pass grad_output, an array of that shape (e.g. "
                f"ones to differentiate their sum), got {type(grad_output).__name__}")
        self._check_like_output(grad_output)
        saved = next(a for a in self._saved if backend.is_array(a) and _is_float(a))
        self.check_device_and_dtype(grad_output, "grad_output", like={"the input": saved})
        return grad_output

    def _reduce(self, losses, count):
        """Σ losses / count, Σ losses, or the losses themselves."""
        if self.reduction == "none":
            return keep_array(losses)
        total = backend.namespace(losses).sum(losses)
        return keep_array(total / count if self.reduction == "mean" else total)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _set_weight(loss, value, name, *, ndim=None):
    """A weight given to a loss: ``None``, or a float array, kept as a buffer (as in PyTorch: it
    moves with ``loss.to(...)`` and is saved in ``state_dict``). ``None`` stays a plain attribute,
    so that a loss without weights has nothing for ``check_input`` to compare an input with."""
    who = type(loss).__name__
    if value is None:
        setattr(loss, name, None)
        return
    if not backend.is_array(value):
        raise DTypeError(f"{who}: {name} must be a NumPy array or torch tensor, got {type(value).__name__}")
    if backend.dtype_name(value) not in backend.FLOAT_DTYPES:
        raise DTypeError(f"{who}: {name} must be float32 or float64, got {backend.dtype_name(value)}")
    if ndim is not None and value.ndim != ndim:
        raise ShapeError(f"{who}: {name} must be 1-D, one weight per class, got shape {tuple(value.shape)}")
    loss.register_buffer(name, value)


class MSELoss(_Loss):
    """Mean squared error: the losses (ŷ_i − y_i)², averaged over all n elements (``"mean"``),
    summed (``"sum"``) or returned as they are (``"none"``).

    ∂J/∂ŷ = (2/n)(ŷ − y) for the mean. Prediction and target must have exactly the same shape:
    a (N, 1) prediction against an (N,) target would broadcast into an (N, N) mistake (PyTorch
    warns and broadcasts; nnlib refuses).
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)

    def forward(self, input, target):
        self.check_input(input, name="prediction")
        self.check_input(target, name="target")
        if tuple(input.shape) != tuple(target.shape):
            raise ShapeError(
                f"MSELoss: prediction and target must have the same shape, got {tuple(input.shape)} and "
                f"{tuple(target.shape)} (reshape one of them; nnlib does not broadcast here)"
            )
        self.check_device_and_dtype(target, "target", like={"the prediction": input})
        diff = keep_array(input - target)
        self.save_for_backward(diff)
        if self.reduction == "none":
            return keep_array(diff * diff)
        total = backend.namespace(diff).sum(diff * diff)
        return keep_array(total / _numel(diff) if self.reduction == "mean" else total)

    def backward(self, grad_output=1.0):
        scale = self._upstream(grad_output)
        (diff,) = self.pop_saved()
        n = _numel(diff) if self.reduction == "mean" else 1
        return keep_array((2.0 / n) * scale * diff)


# --- classification: class scores of shape (C), (N, C) or (N, C, d1, …) ------------------------------
def _class_rows(x):
    """One row of C class scores per example: (C,) → (1, C); (N, C) as it is; (N, C, d1, …) →
    (N·d1·…, C), the class axis moved last (row order: n, then d1, d2 …)."""
    xp = backend.namespace(x)
    if x.ndim == 1:
        return xp.reshape(x, (1, x.shape[0]))
    if x.ndim == 2:
        return x
    return xp.reshape(xp.permute_dims(x, (0, *range(2, x.ndim), 1)), (-1, x.shape[1]))


def _unrows(rows, shape):
    """The inverse of ``_class_rows``: rows back into the layout of an input of ``shape``."""
    xp = backend.namespace(rows)
    if len(shape) <= 2:
        return xp.reshape(rows, shape)
    moved = xp.reshape(rows, (shape[0], *shape[2:], shape[1]))
    return xp.permute_dims(moved, (0, len(shape) - 1, *range(1, len(shape) - 1)))


def _per_row(upstream):
    """The upstream gradient of ``reduction="none"`` as a column, one entry per row (a number for
    the one loss of an unbatched input)."""
    return backend.namespace(upstream).reshape(upstream, (-1, 1)) if backend.is_array(upstream) else upstream


def _divide(numerator, denominator):
    # A mean over no example is 0/0 = nan, as in PyTorch: no warning for NumPy's 0-d arrays.
    with np.errstate(invalid="ignore", divide="ignore"):
        return numerator / denominator


class _ClassLoss(_Loss):
    """``weight`` (one per class) and ``ignore_index``, shared by NLLLoss and CrossEntropyLoss.

    With class-index targets t_n, each example n has the weight w_{t_n} (0 when t_n equals
    ``ignore_index``), and ``reduction="mean"`` divides the summed losses by Σ_n w_{t_n}, not by
    the number of examples: a weighted average, PyTorch's definition. Without ``weight`` every
    w_c = 1, and the mean is over the examples not ignored.
    """

    def __init__(self, weight, size_average, ignore_index, reduce, reduction):
        super().__init__(size_average, reduce, reduction)
        who = type(self).__name__
        _set_weight(self, weight, "weight", ndim=1)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"{who}: ignore_index must be an integer, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)

    def _class_indices(self, x, target, dtype, xp):
        """Validate integer class-index targets for scores ``x``. Returns (t, valid): t of shape (M,)
        in int64, one per row of ``_class_rows(x)`` with ignored entries replaced by 0, and the
        boolean mask of the entries not ignored, or ``None`` when no entry equals ignore_index."""
        c = x.shape[1] if x.ndim > 1 else x.shape[0]
        expected = (x.shape[0], *x.shape[2:]) if x.ndim > 1 else ()
        who = type(self).__name__
        if tuple(target.shape) != expected:
            raise ShapeError(
                f"{who}: target must have shape {tuple(expected)} (one class index per example) to match "
                f"the input {tuple(x.shape)}, got {tuple(target.shape)}")
        if not _is_integer(dtype):
            raise DTypeError(
                f"{who}: target must hold integer class indices, got dtype {dtype} "
                f"(use labels.astype(np.int64) if they are whole numbers)")
        if self.weight is not None and tuple(self.weight.shape) != (c,):
            raise ShapeError(f"{who}: weight must have one entry per class, shape ({c},) for the input "
                             f"{tuple(x.shape)}, got {tuple(self.weight.shape)}")
        self.check_device_and_dtype(target, "target", like={"the logits": x})  # integers: the device
        if target.ndim != 1:
            target = xp.reshape(target, (-1,))
        lo, hi = int(xp.min(target)), int(xp.max(target))
        valid = target != self.ignore_index if lo <= self.ignore_index <= hi else None
        if lo < 0 or hi >= c:
            kept = target if valid is None else target[valid]
            lo, hi = (int(xp.min(kept)), int(xp.max(kept))) if kept.shape[0] else (0, 0)
            if lo < 0 or hi >= c:
                raise ValueError(
                    f"{who}: target labels must be in [0, {c - 1}] for {c} classes (or equal "
                    f"ignore_index={self.ignore_index}), got values in [{lo}, {hi}]")
        target = xp.astype(target, xp.int64)
        if valid is not None:
            target = xp.where(valid, target, xp.zeros_like(target))
        return target, valid

    def _target_weights(self, t, valid, like):
        """w_{t_n}, the weight of each example (0 where ignored), in the dtype of ``like``."""
        xp = backend.namespace(like)
        if self.weight is not None:
            w_t = xp.take(self.weight, t, axis=0)
            return w_t if valid is None else w_t * xp.astype(valid, like.dtype)
        if valid is None:
            return xp.ones(t.shape, dtype=like.dtype, device=backend.native_device(like))
        return xp.astype(valid, like.dtype)

    def _weighted_reduce(self, losses, total_weight):
        """Σ_n ℓ_n / Σ_n w_{t_n} for the mean, Σ_n ℓ_n for the sum."""
        total = backend.namespace(losses).sum(losses)
        return keep_array(_divide(total, total_weight) if self.reduction == "mean" else total)

    def _row_scale(self, upstream, total_weight, valid, rows):
        """What multiplies each row's gradient: the upstream gradient, per row for "none", divided
        by Σ w_{t_n} for the mean. Where that sum is 0 (everything ignored), ignored rows get 0, as
        in PyTorch, and rows of weight 0 get 0/0 = nan."""
        xp = backend.namespace(rows)
        if self.reduction == "none":
            return _per_row(upstream)
        if self.reduction == "sum":
            return upstream
        if float(total_weight) != 0.0:
            return upstream / total_weight
        nan = xp.full((rows.shape[0], 1), math.nan, dtype=rows.dtype, device=backend.native_device(rows))
        return nan if valid is None else xp.where(valid[:, None], nan, xp.zeros_like(nan))

    def extra_repr(self):
        parts = [super().extra_repr()]
        if self.weight is not None:
            parts.append(f"weight shape={tuple(self.weight.shape)}")
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        return ", ".join(parts)


class NLLLoss(_ClassLoss):
    """Negative log-likelihood of the correct class, for inputs that already are log-probabilities
    (the output of a log-softmax): for x of shape (N, C) and class indices t of shape (N,),

        ℓ_n = −w_{t_n} x_{n, t_n},   J = Σ_n ℓ_n / Σ_n w_{t_n}  (``reduction="mean"``),

    with w_c = ``weight[c]`` (1 without it) and w_{t_n} = 0 where t_n equals ``ignore_index``.
    Inputs (C,) with a 0-d target (one example), or (N, C, d1, …) with targets (N, d1, …) (one
    class per position, e.g. per pixel or per token), are handled as rows of C scores.
    ∂J/∂x_{n,c} = −w_{t_n} [c = t_n] / Σ_m w_{t_m}: only the correct class gets a gradient.
    ``CrossEntropyLoss`` is this loss after a log-softmax.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    def forward(self, input, target):
        x = self.check_input(input, min_ndim=1, name="input", describe="(C), (N, C) or (N, C, d1, …)")
        if not backend.is_array(target):
            raise DTypeError(f"NLLLoss: target must be an integer array of class indices, "
                             f"got {type(target).__name__}")
        xp = backend.namespace(x)
        t, valid = self._class_indices(x, target, backend.dtype_name(target), xp)
        rows = _class_rows(x)
        w_t = self._target_weights(t, valid, rows)
        losses = -w_t * xp.take_along_axis(rows, t[:, None], axis=1)[:, 0]   # −w_{t_n} x_{n,t_n}
        total_weight = xp.sum(w_t)
        self.save_for_backward(t, valid, w_t, total_weight, rows, tuple(x.shape))
        if self.reduction == "none":
            return xp.reshape(losses, target.shape)
        return self._weighted_reduce(losses, total_weight)

    def backward(self, grad_output=1.0):
        upstream = self._upstream(grad_output)
        t, valid, w_t, total_weight, rows, shape = self.pop_saved()
        xp = backend.namespace(rows)
        scale = self._row_scale(upstream, total_weight, valid, rows)
        classes = xp.arange(rows.shape[1], device=backend.native_device(rows))
        onehot = xp.astype(t[:, None] == classes[None, :], rows.dtype)
        return _unrows(-(w_t[:, None] * onehot) * scale, shape)


class CrossEntropyLoss(_ClassLoss):
    """Softmax followed by the negative log-likelihood of the correct class.

    For logits z of shape (N, C) and integer targets t of shape (N,) with 0 ≤ t_n < C:
    J = (1/N) Σ_n [log Σ_c e^(z_nc) − z_{n,t_n}] = −(1/N) Σ_n log softmax(z_n)_{t_n}, with
    ``functional.log_softmax`` (max_c z_nc subtracted first), so large logits do not overflow.
    ∂J/∂z_nc = (softmax(z_n)_c − [c = t_n]) / N.

    The options, with p_n = softmax(z_n) and a target distribution q_n over the C classes:

    - every option is the loss ℓ_n = −Σ_c q_nc log p_nc with ∂ℓ_n/∂z_n = (Σ_c q_nc) p_n − q_n;
      for a plain class index, q_n is the one-hot vector of t_n;
    - ``weight`` w (one per class) and ``ignore_index`` as in ``NLLLoss``: q_n = w_{t_n} · onehot(t_n),
      and the mean divides by Σ_n w_{t_n} (0 for ignored examples, e.g. padding tokens);
    - ``label_smoothing`` ε: the target becomes (1 − ε) onehot(t_n) + ε/C, every class weighted
      by its own weight: q_nc = (1 − ε) w_{t_n} [c = t_n] + (ε/C) w_c, still divided by Σ_n w_{t_n};
    - probability targets (a float target shaped like the input, rows y_n of class
      probabilities): q_nc = w_c y_nc (smoothed as above), and the mean divides by the number
      of rows, not by a sum of weights (PyTorch's definition);
    - (C,) logits are one example (target 0-d, or C probabilities), (N, C, d1, …) logits one
      distribution per position (targets (N, d1, …), or probabilities of the logits' shape).
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number in [0, 1], "
                             f"got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        logits = self.check_input(input, min_ndim=1, name="logits", describe="(C), (N, C) or (N, C, d1, …)")
        if not backend.is_array(target):
            raise DTypeError(f"CrossEntropyLoss: target must be an integer array of class indices, "
                             f"got {type(target).__name__}")
        dtype = backend.dtype_name(target)
        if dtype in backend.FLOAT_DTYPES:
            return self._probabilities(logits, target)
        xp = backend.namespace(logits)
        target, valid = self._class_indices(logits, target, dtype, xp)
        if valid is None and self.weight is None and not self.label_smoothing and self.reduction != "none" \
                and logits.ndim == 2:
            # The book's training loops: plain class indices, nothing weighted, ignored or smoothed.
            n = logits.shape[0]
            log_probs = log_softmax(logits, dim=1)
            picked = xp.take_along_axis(log_probs, target[:, None], axis=1)                 # log p(t_n)
            self.save_for_backward("plain", log_probs, target)
            total = -xp.sum(picked)
            return keep_array(total / n if self.reduction == "mean" else total)  # 0-d, as torch's
        return self._class_index_options(logits, target, valid)

    def _class_index_options(self, logits, t, valid):
        xp = backend.namespace(logits)
        log_probs = log_softmax(_class_rows(logits), dim=1)
        w_t = self._target_weights(t, valid, log_probs)                        # w_{t_n}, 0 if ignored
        eps, c = self.label_smoothing, log_probs.shape[1]
        losses = -(1.0 - eps) * w_t * xp.take_along_axis(log_probs, t[:, None], axis=1)[:, 0]
        if eps:
            # Only here every class enters ℓ_n; the weights of the classes multiply their terms.
            weighted = log_probs if self.weight is None else log_probs * self.weight[None, :]
            spread = xp.sum(weighted, axis=1)
            if valid is not None:
                spread = spread * xp.astype(valid, spread.dtype)
            losses = losses - (eps / c) * spread
        total_weight = xp.sum(w_t)
        self.save_for_backward("indices", log_probs, t, valid, w_t, total_weight, tuple(logits.shape))
        if self.reduction == "none":
            return xp.reshape(losses, (logits.shape[0], *logits.shape[2:]) if logits.ndim > 1 else ())
        return self._weighted_reduce(losses, total_weight)

    def _probabilities(self, logits, target):
        if tuple(target.shape) != tuple(logits.shape):
            expected = (logits.shape[0], *logits.shape[2:]) if logits.ndim > 1 else ()
            if tuple(target.shape) == expected:  # shaped like class indices: whole numbers as floats?
                raise DTypeError(
                    f"CrossEntropyLoss: target must hold integer class indices, got dtype "
                    f"{backend.dtype_name(target)} (use labels.astype(np.int64) if they are whole numbers; "
                    f"class probabilities would have the logits' shape {tuple(logits.shape)})")
            raise ShapeError(
                f"CrossEntropyLoss: target must be integer class indices of shape {tuple(expected)}, or "
                f"class probabilities of the logits' shape {tuple(logits.shape)}; got a float target of "
                f"shape {tuple(target.shape)} (dtype {backend.dtype_name(target)})")
        if self.ignore_index >= 0:
            raise ValueError(f"CrossEntropyLoss: ignore_index={self.ignore_index} is not supported for "
                             f"probability (float) targets: it names a class index, and these targets "
                             f"hold none")
        self.check_device_and_dtype(target, "target", like={"the logits": logits})
        xp = backend.namespace(logits)
        log_probs = log_softmax(_class_rows(logits), dim=1)
        q = _class_rows(target)
        if self.label_smoothing:
            q = (1.0 - self.label_smoothing) * q + self.label_smoothing / log_probs.shape[1]
        if self.weight is not None:
            if tuple(self.weight.shape) != (log_probs.shape[1],):
                raise ShapeError(f"CrossEntropyLoss: weight must have one entry per class, shape "
                                 f"({log_probs.shape[1]},), got {tuple(self.weight.shape)}")
            q = q * self.weight[None, :]
        losses = -xp.sum(q * log_probs, axis=1)
        self.save_for_backward("probabilities", log_probs, q, tuple(logits.shape))
        if self.reduction == "none":
            return xp.reshape(losses, (logits.shape[0], *logits.shape[2:]) if logits.ndim > 1 else ())
        return self._reduce(losses, log_probs.shape[0])

    def backward(self, grad_output=1.0):
        scale = self._upstream(grad_output)
        saved = self.pop_saved()
        if saved[0] != "plain":
            return self._backward_with_options(saved, scale)
        _, log_probs, target = saved
        xp = backend.namespace(log_probs)
        n = log_probs.shape[0]
        grad = xp.exp(log_probs)                                     # softmax(z)
        grad[xp.arange(n, device=backend.native_device(target)), target] -= 1
        return grad * (scale / n if self.reduction == "mean" else scale)

    def _backward_with_options(self, saved, upstream):
        """(Σ_c q_nc) p_n − q_n per row, times the upstream gradient and the reduction's scale."""
        kind, log_probs, *saved = saved
        xp = backend.namespace(log_probs)
        grad = xp.exp(log_probs)
        if kind == "probabilities":
            q, shape = saved
            grad = xp.sum(q, axis=1, keepdims=True) * grad - q
            if self.reduction == "none":
                return _unrows(grad * _per_row(upstream), shape)
            scale = upstream / log_probs.shape[0] if self.reduction == "mean" else upstream
            return _unrows(grad * scale, shape)
        t, valid, w_t, total_weight, shape = saved
        eps, c = self.label_smoothing, log_probs.shape[1]
        weight_sum = float(c) if self.weight is None else xp.sum(self.weight)
        is_valid = 1.0 if valid is None else xp.astype(valid, log_probs.dtype)
        mass = (1.0 - eps) * w_t + (eps / c) * weight_sum * is_valid  # Σ_c q_nc
        grad = mass[:, None] * grad
        grad[xp.arange(grad.shape[0], device=backend.native_device(t)), t] -= (1.0 - eps) * w_t
        if eps:
            spread = self.weight[None, :] if self.weight is not None \
                else xp.ones((1, c), dtype=grad.dtype, device=backend.native_device(grad))
            grad = grad - (eps / c) * (spread if valid is None else spread * is_valid[:, None])
        return _unrows(grad * self._row_scale(upstream, total_weight, valid, grad), shape)

    def extra_repr(self):
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return super().extra_repr() + smoothing


# --- binary classification: one logit per yes/no question --------------------------------------------
def _softplus(x):
    """log(1 + e^x) = max(x, 0) + log(1 + e^(−|x|)): e^(−|x|) ≤ 1 never overflows, and log1p keeps
    the tiny terms that log(1 + …) would round away."""
    xp = backend.namespace(x)
    return xp.clip(x, min=0) + xp.log1p(xp.exp(-xp.abs(x)))


def _broadcasts_to(shape, target_shape):
    """``shape`` broadcasts to ``target_shape`` without growing it."""
    if len(shape) > len(target_shape):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target_shape)))


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits: a sigmoid and the cross-entropy of a yes/no label in one
    numerically stable step. For logit x, label y ∈ [0, 1], σ = sigmoid(x) and ``pos_weight`` p,

        ℓ = −w [p y log σ(x) + (1 − y) log(1 − σ(x))] = w [p y s(−x) + (1 − y) s(x)],

    with s(x) = log(1 + eᵡ) the softplus: log σ(x) = −s(−x) and log(1 − σ(x)) = −s(x). Computed
    as (1 − y) x + (1 + (p − 1) y) s(−x), since s(x) = x + s(−x), and s stays finite for any x,
    where log(sigmoid(x)) would give −inf once σ(x) rounds to 0. The mean is over all elements.

    ∂ℓ/∂x = w [(1 + (p − 1) y) σ(x) − p y], which is w (σ(x) − y) without ``pos_weight``.
    ``weight`` (any shape that broadcasts to the input's, e.g. one per example or a scalar) scales
    each loss; ``pos_weight`` (e.g. one per class, shape (C,) for inputs (N, C)) weighs the
    positive examples: p = n_negative / n_positive balances a rare diagnosis.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        _set_weight(self, weight, "weight")
        _set_weight(self, pos_weight, "pos_weight")

    def forward(self, input, target):
        x = self.check_input(input, name="input")
        if not backend.is_array(target):
            raise DTypeError(f"BCEWithLogitsLoss: target must be a float array of labels in [0, 1], "
                             f"got {type(target).__name__}")
        if tuple(target.shape) != tuple(x.shape):
            raise ShapeError(f"BCEWithLogitsLoss: target must have the input's shape {tuple(x.shape)}, "
                             f"got {tuple(target.shape)}")
        if backend.dtype_name(target) not in backend.FLOAT_DTYPES:
            raise DTypeError(f"BCEWithLogitsLoss: target must hold float labels (0.0 or 1.0, or a "
                             f"probability), got dtype {backend.dtype_name(target)} "
                             f"(use labels.astype(np.float32))")
        self.check_device_and_dtype(target, "target", like={"the input": x})
        for name, w in (("weight", self.weight), ("pos_weight", self.pos_weight)):
            if w is not None and not _broadcasts_to(tuple(w.shape), tuple(x.shape)):
                raise ShapeError(
                    f"BCEWithLogitsLoss: {name} of shape {tuple(w.shape)} does not broadcast to the input's "
                    f"shape {tuple(x.shape)}: it must have that shape, or one that broadcasts to it")
        softplus_neg = keep_array(_softplus(-x))                      # −log σ(x)
        coef = 1.0 if self.pos_weight is None else 1.0 + (self.pos_weight - 1.0) * target
        losses = (1.0 - target) * x + coef * softplus_neg
        if self.weight is not None:
            losses = losses * self.weight
        self.save_for_backward(softplus_neg, target, coef)
        return self._reduce(losses, _numel(x))

    def backward(self, grad_output=1.0):
        upstream = self._upstream(grad_output)
        softplus_neg, target, coef = self.pop_saved()
        xp = backend.namespace(softplus_neg)
        sigma = xp.exp(-softplus_neg)                                 # σ(x) = e^(−s(−x))
        positive = target if self.pos_weight is None else self.pos_weight * target
        grad = coef * sigma - positive
        if self.weight is not None:
            grad = grad * self.weight
        if self.reduction == "mean":
            upstream = upstream / _numel(softplus_neg)
        return keep_array(grad * upstream)
