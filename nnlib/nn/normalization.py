"""Normalisation layers: batch normalisation (Ioffe & Szegedy, 2015) for feature vectors and
sequences (``BatchNorm1d``) and for image batches (``BatchNorm2d``), and layer normalisation
(Ba, Kiros & Hinton, 2016), ``LayerNorm``.

All three standardise x over some axes, x̂ = (x − μ)/√(σ² + ε) with μ and σ² the mean and the
biased (1/m) variance of the m values there, and then scale and shift, y = γ x̂ + β. Only the
axes differ: batch normalisation pools, for each channel, the batch (and the positions or
pixels); layer normalisation pools, for each example, its last dimensions. So one pair of
functions, ``_standardize`` and ``_standardize_backward``, holds the mathematics of all three.
"""

import math

import numpy as np

from .. import backend
from ..errors import ShapeError
from .functional import check_bool, check_image_batch, check_positive_int
from .module import Module, Parameter


def _standardize(xp, x, axes, eps):
    """x̂ = (x − μ)/√(σ² + ε) with μ and σ² = ⟨(x − μ)²⟩ the mean and the biased variance of x
    over ``axes``. Returns x̂, μ, σ² and 1/√(σ² + ε), the statistics with the reduced axes kept
    (size 1), so that they broadcast against x. (``xp``: x's array namespace, which the caller has.)"""
    mu = xp.mean(x, axis=axes, keepdims=True)
    xc = x - mu
    var = xp.mean(xc * xc, axis=axes, keepdims=True)           # biased: divides by m
    inv_std = 1 / xp.sqrt(var + eps)
    return xc * inv_std, mu, var, inv_std


def _standardize_backward(xp, delta_hat, x_hat, inv_std, axes):
    """∂J/∂x from δ̂ = ∂J/∂x̂, when μ and σ² are the statistics over ``axes`` of x itself.

    With s = 1/√(σ² + ε), ∂μ/∂x_i = 1/m and ∂σ²/∂x_i = 2(x_i − μ)/m, so that
    ∂x̂_j/∂x_i = s (1[i = j] − 1/m − x̂_i x̂_j/m), and summed against δ̂_j, with ⟨·⟩ the mean
    over the m values:

        ∂J/∂x = s (δ̂ − ⟨δ̂⟩ − x̂ ⟨δ̂ x̂⟩).

    The two subtracted terms are what flows through μ and through σ²: the gradient has zero mean
    and is orthogonal to x̂ over the m values.
    """
    mean_delta = xp.mean(delta_hat, axis=axes, keepdims=True)
    mean_delta_xhat = xp.mean(delta_hat * x_hat, axis=axes, keepdims=True)
    return (delta_hat - mean_delta - x_hat * mean_delta_xhat) * inv_std


def _check_eps(eps, who, *, zero_allowed):
    number = not isinstance(eps, bool) and isinstance(eps, (int, float))
    if not number or not (eps >= 0 if zero_allowed else eps > 0):
        raise ValueError(f"{who}: eps must be {'non-negative' if zero_allowed else 'positive'}, got {eps!r}")
    return float(eps)


class _BatchNorm(Module):
    """Batch normalisation over every axis but the channel axis 1; ``BatchNorm1d`` and
    ``BatchNorm2d`` add only the input shapes they accept (``_check_shape``)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        who = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", who)
        self.eps = _check_eps(eps, who, zero_allowed=False)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{who}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.momentum = momentum
        self.affine = check_bool(affine, "affine", who)
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats", who)
        check_bool(bias, "bias", who)
        dtype = backend.resolve_dtype(dtype)
        device = backend.normalize_device(device)
        c = num_features
        # As PyTorch: γ only if affine, β only if affine and bias; a missing one is None.
        self.weight = Parameter(backend.to_device(np.ones(c, dtype=dtype), device)) if affine else None
        self.bias = Parameter(backend.zeros((c,), dtype, device)) if affine and bias else None
        if self.track_running_stats:
            self.register_buffer("running_mean", backend.zeros((c,), dtype, device))
            self.register_buffer("running_var", backend.to_device(np.ones(c, dtype=dtype), device))
            counter = np.array(0, dtype=np.int64)
            self.register_buffer("num_batches_tracked", backend.to_device(counter, device))
        else:  # as PyTorch: the attributes exist but are None and not in state_dict
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """running_mean ← 0, running_var ← 1, num_batches_tracked ← 0 (if tracked)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        """The running statistics as ``reset_running_stats``, and γ ← 1, β ← 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _check_shape(self, x):
        """Raise ``ShapeError`` (naming expected and got) unless x is an input this layer takes;
        return x."""
        raise NotImplementedError

    def forward(self, input):
        x = self._check_shape(input)  # also the device and dtype: of γ, β and the running statistics
        xp = backend.namespace(x)
        axes = (0, *range(2, x.ndim))               # a channel pools the batch and every position
        stat_shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        # As PyTorch: batch statistics in training, and in eval mode when there are no running ones.
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats:
            m = x.shape[0] * math.prod(x.shape[2:])  # values per channel
            if m == 1:
                raise ShapeError(f"{type(self).__name__}: expected more than 1 value per channel when "
                                 f"training, got input of shape {tuple(x.shape)} (one value has no variance)")
            x_hat, mu, var, inv_std = _standardize(xp, x, axes, self.eps)
            if self.training and self.track_running_stats and self.running_mean is not None:
                # Unbiased, σ²·m/(m − 1), for the estimate of the population's variance.
                self._update_running_stats(mu.reshape(-1), var.reshape(-1) * (m / (m - 1)))
        else:
            inv_std = 1 / xp.sqrt(self.running_var.reshape(stat_shape) + self.eps)
            x_hat = (x - self.running_mean.reshape(stat_shape)) * inv_std
        self.save_for_backward(x_hat, inv_std, axes, use_batch_stats)
        if self.weight is None:
            return x_hat
        y = x_hat * self.weight.data.reshape(stat_shape)
        return y if self.bias is None else y + self.bias.data.reshape(stat_shape)

    def _update_running_stats(self, mu, unbiased_var):
        # In place, as PyTorch: a state_dict taken earlier holds these same arrays. (In place also
        # keeps a NumPy 0-d counter an array: np.array(0) + 1 would be a NumPy scalar.)
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative moving average: factor 1/t at batch t
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        self.running_mean *= 1 - factor
        self.running_mean += factor * mu
        self.running_var *= 1 - factor
        self.running_var += factor * unbiased_var

    def backward(self, grad_output):
        x_hat, inv_std, axes, used_batch_stats = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = grad_output
        if self.weight is not None:
            self.weight.accumulate_grad(xp.sum(delta * x_hat, axis=axes))  # ∂J/∂γ = Σ δ x̂
            if self.bias is not None:
                self.bias.accumulate_grad(xp.sum(delta, axis=axes))        # ∂J/∂β = Σ δ
            delta = delta * self.weight.data.reshape(inv_std.shape)        # δ̂ = γ δ
        if not used_batch_stats:  # running statistics are constants: ∂x̂/∂x = 1/√(σ² + ε)
            return delta * inv_std
        return _standardize_backward(xp, delta, x_hat, inv_std, axes)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """y = γ · x̂ + β with x̂ = (x − μ)/√(σ² + ε), per feature of an (N, C) batch, or per channel
    of an (N, C, L) batch of sequences, its statistics pooling the N·L values there.

    The same layer as ``BatchNorm2d`` (training and eval mode, running statistics, parameters,
    buffers, ``state_dict`` keys and backward pass), for inputs with one axis, or none, after the
    channel axis instead of two.
    """

    def _check_shape(self, x):
        c = self.num_features
        expected = f"(N, {c}) or (N, {c}, L)"
        self.check_input(x, min_ndim=2, describe=expected)
        if x.ndim > 3:
            raise ShapeError(f"BatchNorm1d: input must have shape {expected}, got {tuple(x.shape)}")
        if x.shape[1] != c:
            raise ShapeError(f"BatchNorm1d: input must have shape {expected} ({c} features), "
                             f"got {tuple(x.shape)} with {x.shape[1]} feature(s)")
        return x


class BatchNorm2d(_BatchNorm):
    """y = γ · x̂ + β with x̂ = (x − μ)/√(σ² + ε), per channel of an (N, C, H, W) batch.

    In training, μ and σ² are the mean and the (biased, 1/m) variance of the current batch over
    its m = N·H·W values per channel, and the running estimates are updated as in PyTorch:
    running ← (1 − momentum)·running + momentum·batch statistic, with the *unbiased* variance
    σ²·m/(m − 1) for ``running_var`` (``momentum=None``: the plain average of all batches so far).
    In ``eval()`` mode the running estimates replace the batch statistics; with
    ``track_running_stats=False`` there are none, and batch statistics are used in both modes.

    Parameters ``weight`` (γ, ones) if ``affine`` and ``bias`` (β, zeros) if ``affine`` and
    ``bias``; buffers ``running_mean``, ``running_var``, ``num_batches_tracked`` (int64) if
    ``track_running_stats`` — the same ``state_dict`` keys as PyTorch.

    Backward in training mode (μ and σ² depend on every x of the channel). With δ̂ = γ·δ and
    means ⟨·⟩ over the m values of a channel:

        ∂J/∂x = (δ̂ − ⟨δ̂⟩ − x̂ ⟨δ̂ x̂⟩) / √(σ² + ε),   ∂J/∂γ = Σ δ x̂,   ∂J/∂β = Σ δ.

    The two subtracted terms are what flows through μ and through σ²: the gradient has zero mean
    and is orthogonal to x̂ per channel. In eval mode μ and σ² are constants: ∂J/∂x = δ̂/√(σ² + ε).
    """

    def _check_shape(self, x):
        return check_image_batch(self, x, self.num_features)


class LayerNorm(Module):
    """y = γ ⊙ x̂ + β with x̂ = (x − μ)/√(σ² + ε), μ and σ² the mean and the biased variance of
    each example over its last dimensions, those of ``normalized_shape``.

    An input of shape ``(*, *normalized_shape)`` has one μ and one σ² per leading index (e.g. per
    token of an (N, T, D) batch with ``normalized_shape=D``); nothing depends on the other
    examples, so training and eval mode compute the same, and there are no running statistics.
    ``weight`` (γ, ones) and ``bias`` (β, zeros) have the shape ``normalized_shape``: one scale
    and shift per feature, if ``elementwise_affine`` (β only with ``bias``).

    Backward: the batch-normalisation formula over the feature axes. With δ̂ = γ ⊙ δ and means
    ⟨·⟩ over the normalised values of one example,

        ∂J/∂x = (δ̂ − ⟨δ̂⟩ − x̂ ⟨δ̂ x̂⟩) / √(σ² + ε),   ∂J/∂γ = Σ δ ⊙ x̂,   ∂J/∂β = Σ δ,

    the sums running over the leading dimensions.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        if (isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) == 0
                or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape)):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive integer or a non-empty "
                             f"sequence of them, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps = _check_eps(eps, "LayerNorm", zero_allowed=True)
        self.elementwise_affine = check_bool(elementwise_affine, "elementwise_affine", "LayerNorm")
        check_bool(bias, "bias", "LayerNorm")
        dtype = backend.resolve_dtype(dtype)
        device = backend.normalize_device(device)
        shape = self.normalized_shape
        affine = self.elementwise_affine
        self.weight = Parameter(backend.to_device(np.ones(shape, dtype=dtype), device)) if affine else None
        self.bias = Parameter(backend.zeros(shape, dtype, device)) if affine and bias else None

    def reset_parameters(self):
        """γ ← 1, β ← 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, input):
        k = len(self.normalized_shape)
        expected = "(*, " + ", ".join(map(str, self.normalized_shape)) + ")"
        x = self.check_input(input, min_ndim=k, describe=expected)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ShapeError(f"LayerNorm: input must have shape {expected} (normalized_shape="
                             f"{self.normalized_shape}), got {tuple(x.shape)}")
        axes = tuple(range(x.ndim - k, x.ndim))
        xp = backend.namespace(x)
        x_hat, _, _, inv_std = _standardize(xp, x, axes, self.eps)
        self.save_for_backward(x_hat, inv_std, axes)
        if self.weight is None:
            return x_hat
        y = x_hat * self.weight.data                # γ and β broadcast over the leading dimensions
        return y if self.bias is None else y + self.bias.data

    def backward(self, grad_output):
        x_hat, inv_std, axes = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = grad_output
        if self.weight is not None:
            leading = tuple(range(axes[0]))  # () for an unbatched input: a sum over nothing
            self.weight.accumulate_grad(xp.sum(delta * x_hat, axis=leading))  # ∂J/∂γ = Σ δ ⊙ x̂
            if self.bias is not None:
                self.bias.accumulate_grad(xp.sum(delta, axis=leading))        # ∂J/∂β = Σ δ
            delta = delta * self.weight.data                                     # δ̂ = γ ⊙ δ
        return _standardize_backward(xp, delta, x_hat, inv_std, axes)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
