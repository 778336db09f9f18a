"""Connectionist temporal classification (CTC): the loss of a sequence of frame-wise class
distributions against a shorter label sequence, when nobody says which frame is which label
(speech: 100 frames a second, a few letters a second).

The model emits, for each frame t = 1 … T, log-probabilities over C classes: the labels and one
extra class, the *blank* ∅ ("no new label here"). An *alignment* π picks one class per frame; it
spells the label sequence l = (l_1 … l_S) if the **collapse rule** B, "merge repeated classes,
then delete the blanks", maps π to l: B(a a ∅ b b) = (a, b), and B(a ∅ a) = (a, a), so a blank
is how an alignment separates a repeated label. The loss is the negative log of the total
probability of all alignments that spell l, the frames independent given the input:

    p(l | x) = Σ_{π: B(π) = l} Π_t y_t(π_t),    ℓ = −log p(l | x),

where y_t(k) = exp(log_probs[t, k]). There are exponentially many alignments, but they all walk
through the *extended* sequence l' = (∅, l_1, ∅, l_2, …, l_S, ∅) of length 2S + 1: from position
s at frame t, an alignment stays at s, moves to s + 1, or jumps to s + 2 when l'_{s+2} is a label
different from l'_s (a blank between two equal labels cannot be skipped). It starts at l'_1 or
l'_2 and ends at l'_{2S+1} or l'_{2S}. Dynamic programming sums over the paths:

- forward variables α_t(s) = total probability of the prefixes that are at s at frame t:
  α_1(1) = y_1(∅), α_1(2) = y_1(l_1), and
  α_t(s) = [α_{t−1}(s) + α_{t−1}(s−1) + α_{t−1}(s−2) · skip(s)] · y_t(l'_s);
  then p(l | x) = α_T(2S+1) + α_T(2S);
- backward variables β̂_t(s) = total probability of the suffixes after frame t, from s at t:
  β̂_T(s) = 1 at the two end positions, 0 elsewhere, and
  β̂_t(s) = Σ_{s' ∈ {s, s+1, s+2 if skip(s+2)}} y_{t+1}(l'_{s'}) β̂_{t+1}(s').

α_t(s) β̂_t(s) is the probability of all complete alignments at s at frame t, so for every t,
p = Σ_s α_t(s) β̂_t(s), and p is linear in each y_t(k): the gradient with respect to the input
u_t(k) = log y_t(k) is

    ∂ℓ/∂u_t(k) = −(1/p) Σ_{s: l'_s = k} α_t(s) β̂_t(s) = −γ_t(k),

the expected share of alignments that emit k at frame t. Both recursions run in log space
(log-sum-exp instead of sums), as products of hundreds of probabilities underflow.

PyTorch's ``ctc_loss`` backward returns exp(u_t(k)) − γ_t(k) instead: the gradient one gets at
the logits z when u = log_softmax(z). Through log_softmax's backward, g ↦ g − softmax(z) Σ_k g_k,
both give softmax(z) − γ (as Σ_k exp(u_t(k)) = Σ_k γ_t(k) = 1), so models agree; the gradients
with respect to ``log_probs`` itself differ by exp(log_probs). nnlib returns the derivative of
the loss with respect to its input, the one central differences measure.
"""

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError
from .functional import check_bool, keep_array
from .loss import _Loss


def _lengths(value, name, batch, unbatched):
    """``input_lengths`` / ``target_lengths`` as a NumPy int64 array of shape (N,)."""
    if backend.is_array(value):
        if not backend.dtype_name(value).startswith(("int", "uint")):
            raise DTypeError(f"CTCLoss: {name} must hold integers, got dtype {backend.dtype_name(value)}")
        array = backend.to_numpy(value).astype(np.int64)
    elif isinstance(value, (tuple, list)) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                                   for v in value):
        array = np.array(value, dtype=np.int64).reshape(len(value))
    elif unbatched and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        array = np.array(value, dtype=np.int64)
    else:
        raise DTypeError(f"CTCLoss: {name} must be an integer array or a tuple of ints, got {value!r}")
    expected = () if unbatched else (batch,)
    if array.shape != expected:
        what = "one length (0-d) for unbatched (T, C) log_probs" if unbatched else "one length per sequence"
        raise ShapeError(f"CTCLoss: {name} must have shape {expected}, {what}, got {array.shape}")
    return array.reshape(-1)


def _log_add(a, b, c):
    """log(e^a + e^b + e^c), −inf where all three are −inf."""
    xp = backend.namespace(a)
    return xp.logaddexp(xp.logaddexp(a, b), c)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss (``nnlib.nn.ctc`` derives it).

    ``criterion(log_probs, targets, input_lengths, target_lengths)``, as in PyTorch:

    - ``log_probs``: (T, N, C) log-probabilities (e.g. a log-softmax over C classes, blank
      included), or (T, C) for one sequence;
    - ``targets``: (N, S) label sequences padded to S, or all of them concatenated into one 1-D
      array of length Σ target_lengths; labels are in [0, C) and never ``blank``;
    - ``input_lengths`` (N,): frames used of each sequence (≤ T); ``target_lengths`` (N,): its
      number of labels (≤ S); integer arrays or tuples of ints (0-d for one sequence).

    ``reduction="mean"`` divides each sequence's loss by its target length (at least 1) and then
    averages over the batch; ``"sum"`` adds the losses; ``"none"`` returns the N losses. A
    sequence no alignment can spell (too few frames for its labels and repeats) has ℓ = inf, and
    nan gradients; ``zero_infinity=True`` makes that loss and its gradient 0. ``backward`` returns
    ∂J/∂log_probs, 0 on the frames past each input length.
    """

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or blank < 0:
            raise ValueError(f"CTCLoss: blank must be a non-negative class index, got {blank!r}")
        self.blank = int(blank)
        self.zero_infinity = check_bool(zero_infinity, "zero_infinity", "CTCLoss")

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        lp = self.check_input(log_probs, min_ndim=2, name="log_probs", describe="(T, N, C) or (T, C)")
        if lp.ndim > 3:
            raise ShapeError(f"CTCLoss: log_probs must have shape (T, N, C) or (T, C), got {tuple(lp.shape)}")
        unbatched = lp.ndim == 2
        xp = backend.namespace(lp)
        if unbatched:
            lp = xp.reshape(lp, (lp.shape[0], 1, lp.shape[1]))
        frames, batch, classes = lp.shape
        if self.blank >= classes:
            raise ValueError(f"CTCLoss: blank={self.blank} must be a class index in [0, {classes - 1}] "
                             f"for log_probs with {classes} classes")
        input_lengths = _lengths(input_lengths, "input_lengths", batch, unbatched)
        target_lengths = _lengths(target_lengths, "target_lengths", batch, unbatched)
        if input_lengths.min() < 0 or input_lengths.max() > frames:
            raise ValueError(f"CTCLoss: input_lengths must be in [0, {frames}] (T = {frames} frames in "
                             f"log_probs), got {input_lengths.tolist()}")
        if target_lengths.min() < 0:
            raise ValueError(f"CTCLoss: target_lengths must be non-negative, got {target_lengths.tolist()}")
        labels = self._labels(targets, target_lengths, lp, unbatched, classes)

        # The extended sequences l' = (∅, l_1, ∅, …, l_S, ∅) of all N, padded with blanks to the
        # longest, and where a jump s − 2 → s is allowed (between two different labels).
        width = 2 * labels.shape[1] + 1
        extended = np.full((batch, width), self.blank, dtype=np.int64)
        extended[:, 1::2] = labels
        skip = np.zeros((batch, width), dtype=bool)
        skip[:, 3::2] = labels[:, 1:] != labels[:, :-1]
        device = backend.device_of(lp)
        extended_dev = backend.to_device(extended, device)
        index = xp.broadcast_to(extended_dev[None, :, :], (frames, batch, width))
        lp_ext = xp.take_along_axis(lp, index, axis=2)                 # u_t(l'_s): (T, N, 2S+1)

        alphas = self._alphas(lp_ext, backend.to_device(skip, device), int(input_lengths.max()))
        # log p = log(α_T(2S+1) + α_T(2S)) at each sequence's own last frame T_n.
        rows = np.arange(batch)
        last = np.maximum(input_lengths - 1, 0)
        end_blank, end_label = 2 * target_lengths, np.maximum(2 * target_lengths - 1, 0)
        at = backend.to_device
        last, rows = at(last, device), at(rows, device)
        at_label = alphas[last, rows, at(end_label, device)]
        with_label = xp.where(at(target_lengths > 0, device), at_label, -np.inf)
        log_p = xp.logaddexp(alphas[last, rows, at(end_blank, device)], with_label)
        # No frame at all: the empty sequence has probability 1, any other 0.
        empty = np.where(target_lengths == 0, 0.0, -np.inf)
        log_p = xp.where(at(input_lengths == 0, device), at(empty, device, backend.dtype_name(lp)), log_p)
        losses = -log_p
        if self.zero_infinity:
            losses = xp.where(xp.isinf(losses), xp.zeros_like(losses), losses)
        self.save_for_backward(lp_ext, alphas, log_p, extended, skip, input_lengths, target_lengths,
                               tuple(log_probs.shape))
        if self.reduction == "none":
            return xp.reshape(losses, ()) if unbatched else losses
        if self.reduction == "sum":
            return keep_array(xp.sum(losses))
        per_label = at(np.maximum(target_lengths, 1).astype(backend.dtype_name(lp)), device)
        return keep_array(xp.sum(losses / per_label) / batch)

    def _labels(self, targets, target_lengths, lp, unbatched, classes):
        """The label sequences as a NumPy (N, max target length) int64 array, padded with blanks."""
        if not backend.is_array(targets):
            raise DTypeError(f"CTCLoss: targets must be an integer array of labels, "
                             f"got {type(targets).__name__}")
        if not backend.dtype_name(targets).startswith(("int", "uint")):
            raise DTypeError(f"CTCLoss: targets must hold integer class indices, "
                             f"got dtype {backend.dtype_name(targets)}")
        self.check_device_and_dtype(targets, "targets", like={"the log_probs": lp})
        given = backend.to_numpy(targets).astype(np.int64)
        batch = len(target_lengths)
        if unbatched and given.ndim != 1:
            raise ShapeError(f"CTCLoss: for unbatched (T, C) log_probs, targets must be 1-D (S,), "
                             f"got {given.shape}")
        if unbatched:
            given = given[None, :]
        if given.ndim == 2:
            if given.shape[0] != batch or target_lengths.max() > given.shape[1]:
                raise ShapeError(f"CTCLoss: padded targets must have shape (N={batch}, S) with S ≥ the "
                                 f"longest target length {target_lengths.max()}, got {given.shape}")
            sequences = [given[n, :target_lengths[n]] for n in range(batch)]
        elif given.ndim == 1:
            if given.shape[0] != target_lengths.sum():
                raise ShapeError(f"CTCLoss: concatenated 1-D targets must have length Σ target_lengths = "
                                 f"{target_lengths.sum()}, got {given.shape[0]}")
            sequences = np.split(given, np.cumsum(target_lengths)[:-1])
        else:
            raise ShapeError(f"CTCLoss: targets must have shape (N, S) or (Σ target_lengths,), "
                             f"got {given.shape}")
        labels = np.full((batch, int(target_lengths.max())), self.blank, dtype=np.int64)
        for n, sequence in enumerate(sequences):
            bad = (sequence < 0) | (sequence >= classes) | (sequence == self.blank)
            if bad.any():
                raise ValueError(f"CTCLoss: target labels must be class indices in [0, {classes - 1}] "
                                 f"other than blank={self.blank}; sequence {n} holds "
                                 f"{sequence[bad][:5].tolist()}")
            labels[n, :len(sequence)] = sequence
        return labels

    @staticmethod
    def _alphas(lp_ext, skip, frames_used):
        """log α_t(s) for every frame: (T, N, 2S+1), −inf where no prefix reaches."""
        xp = backend.namespace(lp_ext)
        frames, batch, width = lp_ext.shape
        native = backend.native_device(lp_ext)
        neg_inf = xp.full((batch, width), -np.inf, dtype=lp_ext.dtype, device=native)
        alphas = xp.full((frames, batch, width), -np.inf, dtype=lp_ext.dtype, device=native)
        alphas[0, :, :2] = lp_ext[0, :, :2]                        # start at ∅ or at l_1
        padded = xp.full((batch, width + 2), -np.inf, dtype=lp_ext.dtype, device=native)
        for t in range(1, frames_used):
            padded[:, 2:] = alphas[t - 1]                          # α_{t−1}(s − 2) … α_{t−1}(s)
            jump = xp.where(skip, padded[:, :-2], neg_inf)
            alphas[t] = _log_add(padded[:, 2:], padded[:, 1:-1], jump) + lp_ext[t]
        return alphas

    def backward(self, grad_output=1.0):
        upstream = self._upstream(grad_output)
        lp_ext, alphas, log_p, extended, skip, input_lengths, target_lengths, shape = self.pop_saved()
        xp = backend.namespace(lp_ext)
        device, dtype = backend.device_of(lp_ext), backend.dtype_name(lp_ext)
        frames, batch, width = lp_ext.shape
        classes = shape[-1]
        native = backend.native_device(lp_ext)

        # log β̂_t(s), from each sequence's last frame back to the first.
        ends = np.arange(width)[None, :] == 2 * target_lengths[:, None]
        ends |= (np.arange(width)[None, :] == 2 * target_lengths[:, None] - 1) & (target_lengths[:, None] > 0)
        start = backend.to_device(np.where(ends, 0.0, -np.inf).astype(dtype), device)
        skip_from = np.zeros_like(skip)
        skip_from[:, :-2] = skip[:, 2:]                           # s → s + 2 allowed
        skip_from = backend.to_device(skip_from, device)
        last = backend.to_device(input_lengths[:, None] - 1, device)
        neg_inf = xp.full((batch, width), -np.inf, dtype=lp_ext.dtype, device=native)
        betas = xp.full((frames, batch, width), -np.inf, dtype=lp_ext.dtype, device=native)
        padded = xp.full((batch, width + 2), -np.inf, dtype=lp_ext.dtype, device=native)
        for t in range(int(input_lengths.max()) - 1, -1, -1):
            if t + 1 < frames:
                padded[:, :-2] = betas[t + 1] + lp_ext[t + 1]      # y_{t+1}(l'_s) β̂_{t+1}(s)
                jump = xp.where(skip_from, padded[:, 2:], neg_inf)
                inner = xp.where(last > t, _log_add(padded[:, :-2], padded[:, 1:-1], jump), neg_inf)
            else:
                inner = neg_inf
            betas[t] = xp.where(last == t, start, inner)

        # γ_t(k) = Σ_{s: l'_s = k} α_t(s) β̂_t(s) / p, summed into the classes with a one-hot matrix.
        finite = xp.isfinite(log_p)
        occupancy = xp.exp(alphas + betas - xp.where(finite, log_p, xp.zeros_like(log_p))[None, :, None])
        onehot = backend.to_device((extended[:, :, None] == np.arange(classes)).astype(dtype), device)
        gamma = xp.permute_dims(xp.matmul(xp.permute_dims(occupancy, (1, 0, 2)), onehot), (1, 0, 2))

        if self.reduction == "none":
            scale = xp.reshape(upstream, (batch,)) if backend.is_array(upstream) else upstream
        elif self.reduction == "sum":
            scale = upstream
        else:
            per_label = backend.to_device((batch * np.maximum(target_lengths, 1)).astype(dtype), device)
            scale = upstream / per_label
        grad = -gamma * (scale[None, :, None] if backend.is_array(scale) and scale.ndim else scale)
        if self.zero_infinity:
            grad = xp.where(finite[None, :, None], grad, xp.zeros_like(grad))
        else:
            # ℓ = inf: no derivative, nan on the frames the sequence uses (PyTorch's answer too).
            used = backend.to_device(np.arange(frames)[:, None] < input_lengths[None, :], device)
            grad = xp.where((used & ~finite[None, :])[:, :, None], xp.full_like(grad, np.nan), grad)
        return xp.reshape(grad, shape)
