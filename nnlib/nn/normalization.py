"""Batch normalisation (Ioffe & Szegedy, 2015) for image batches: ``BatchNorm2d``."""

import numpy as np

from .. import backend
from ..errors import ShapeError
from .functional import check_image_batch, check_positive_int
from .module import Module, Parameter

_AXES = (0, 2, 3)  # a channel's statistics pool the batch and all pixels: m = N·H·W values


def _per_channel(v):
    """(C,) → (1, C, 1, 1), to broadcast over an (N, C, H, W) batch."""
    return v[None, :, None, None]


class BatchNorm2d(Module):
    """y = γ · x̂ + β with x̂ = (x − μ)/√(σ² + ε), per channel of an (N, C, H, W) batch.

    In training, μ and σ² are the mean and the (biased, 1/m) variance of the current batch over
    its m = N·H·W values per channel, and the running estimates are updated as in PyTorch:
    running ← (1 − momentum)·running + momentum·batch statistic, with the *unbiased* variance
    σ²·m/(m − 1) for ``running_var`` (``momentum=None``: the plain average of all batches so far).
    In ``eval()`` mode the running estimates replace the batch statistics (if
    ``track_running_stats``; otherwise batch statistics are used in both modes).

    Parameters ``weight`` (γ, ones) and ``bias`` (β, zeros) if ``affine``; buffers
    ``running_mean``, ``running_var``, ``num_batches_tracked`` (int64) if
    ``track_running_stats`` — the same ``state_dict`` keys as PyTorch.

    Backward in training mode (μ and σ² depend on every x of the channel). With δ̂ = γ·δ and
    means ⟨·⟩ over the m values of a channel:

        ∂J/∂x = (δ̂ − ⟨δ̂⟩ − x̂ ⟨δ̂ x̂⟩) / √(σ² + ε),   ∂J/∂γ = Σ δ x̂,   ∂J/∂β = Σ δ.

    The two subtracted terms are what flows through μ and through σ²: the gradient has zero mean
    and is orthogonal to x̂ per channel. In eval mode μ and σ² are constants: ∂J/∂x = δ̂/√(σ² + ε).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *,
                 device=None, dtype=None):
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features", "BatchNorm2d")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"BatchNorm2d: eps must be a positive number, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm2d: momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = backend.resolve_dtype(dtype)
        device = backend.normalize_device(device)
        c = num_features
        self.weight = Parameter(backend.to_device(np.ones(c, dtype=dtype), device)) if affine else None
        self.bias = Parameter(backend.zeros((c,), dtype, device)) if affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", backend.zeros((c,), dtype, device))
            self.register_buffer("running_var", backend.to_device(np.ones(c, dtype=dtype), device))
            self.register_buffer("num_batches_tracked", backend.to_device(np.array(0, dtype=np.int64), device))
        else:  # as PyTorch: the attributes exist but are None and not in state_dict
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x):
        check_image_batch(self, x, self.num_features)  # device and dtype: of γ, β and the running statistics
        xp = backend.namespace(x)
        n, c, h, w = x.shape
        m = n * h * w
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            if m == 1:
                raise ShapeError(f"BatchNorm2d: expected more than 1 value per channel when training, got input "
                                 f"of shape {tuple(x.shape)} (a batch of one 1×1 image has no variance)")
            mu = xp.mean(x, axis=_AXES)
            xc = x - _per_channel(mu)
            var = xp.mean(xc * xc, axis=_AXES)                  # biased: divides by m
            if self.training and self.track_running_stats:
                self._update_running_stats(mu, var * (m / (m - 1)))  # unbiased for the estimate
        else:
            xc = x - _per_channel(self.running_mean)
            var = self.running_var
        inv_std = 1 / xp.sqrt(var + self.eps)                   # 1/√(σ² + ε)
        x_hat = xc * _per_channel(inv_std)
        self.save_for_backward(x_hat, inv_std, use_batch_stats)
        if not self.affine:
            return x_hat
        return x_hat * _per_channel(self.weight.data) + _per_channel(self.bias.data)

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
        x_hat, inv_std, used_batch_stats = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = grad_output
        if self.affine:
            self.weight.accumulate_grad(xp.sum(delta * x_hat, axis=_AXES))  # ∂J/∂γ = Σ δ x̂
            self.bias.accumulate_grad(xp.sum(delta, axis=_AXES))            # ∂J/∂β = Σ δ
            delta = delta * _per_channel(self.weight.data)                   # δ̂ = γ δ
        if not used_batch_stats:
            return delta * _per_channel(inv_std)
        mean_delta = xp.mean(delta, axis=_AXES)
        mean_delta_xhat = xp.mean(delta * x_hat, axis=_AXES)
        return (delta - _per_channel(mean_delta) - x_hat * _per_channel(mean_delta_xhat)) * _per_channel(inv_std)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
