"""``Embedding``: a lookup table of learned vectors, one row per token id."""

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError
from . import init
from .functional import check_bool, check_positive_int, check_supported
from .module import Module, Parameter


MAX_PASSES = 8  # index_add_rows adds occurrence by occurrence while no id repeats more often


def index_add_rows(xp, shape, ids, values):
    """A zero array of ``shape`` with ``values[j]`` added into row ``ids[j]`` (repeats add up).

    The array API has no scatter-add, so this one operation is written per backend: torch's
    ``index_add_``, and for NumPy one of two exact ways, whichever suits the ids:

    - by occurrence: pass r adds the r-th occurrence of every id, ``out[ids_r] += values_r``,
      where the ids of one pass are distinct, so fancy indexing adds each once. The sums run
      in input order, as ``index_add_`` does (the same floats). Fast while ids repeat rarely
      (language-model batches over a large vocabulary, recommender batches): at most
      ``MAX_PASSES`` passes.
    - by runs: a stable sort, then ``np.add.reduceat`` over each run of equal ids. Its cost
      grows with the number of distinct ids, not with the repeats: the choice for small
      vocabularies (characters), where one id occurs hundreds of times.
    """
    out = xp.zeros(shape, dtype=values.dtype, device=backend.native_device(values))
    if backend.is_torch_array(values):
        return out.index_add_(0, ids.long(), values)
    if ids.shape[0] == 0:
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    counts = np.diff(np.r_[starts, ids.shape[0]])   # occurrences of each distinct id
    if counts.max() > MAX_PASSES:
        out[sorted_ids[starts]] = np.add.reduceat(values[order], starts, axis=0)
        return out
    occurrence = np.empty_like(order)               # 0 at an id's first position, 1 at its second …
    occurrence[order] = np.arange(ids.shape[0]) - np.repeat(starts, counts)
    by_pass = np.argsort(occurrence, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(occurrence))]
    for r in range(bounds.shape[0] - 1):
        rows = by_pass[bounds[r]:bounds[r + 1]]
        out[ids[rows]] += values[rows]
    return out


class Embedding(Module):
    """y[…] = W[id]: row ``id`` of ``weight`` (num_embeddings, embedding_dim) for each integer id.

    Looking up row k is the same as multiplying the one-hot vector e_k by W, so the gradient
    is ∂J/∂W = Σ_positions e_{id}ᵀ δ: δ of every position is added into the row of its id
    (an id seen twice gets both). Ids have no gradient. ``weight`` starts N(0, 1), as in
    PyTorch.

    Options, as in PyTorch:

    - ``padding_idx``: the id of a padding token. Its row starts at zero and gets no gradient,
      so it stays whatever it is (a padded position contributes nothing to learning).
    - ``max_norm``: before each lookup, every row the input uses whose ``norm_type``-norm
      exceeds ``max_norm`` is scaled down in place to norm ``max_norm`` (exactly: by
      max_norm / (norm + 1e-7)). The rescaling is not differentiated, as in PyTorch.
    - ``scale_grad_by_freq``: row k's gradient is divided by the number of times id k occurs in
      the input, so that frequent tokens do not dominate the update.
    - ``_weight``: an initial weight array, used as it is (its dtype and device).

    Not implemented, refused by name: ``sparse=True`` (sparse gradients; nnlib's ∂J/∂W is a
    dense array) and ``_freeze=True`` (nnlib parameters have no ``requires_grad``).
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None,
                 dtype=None):
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", "Embedding")
        self.padding_idx = self._check_padding_idx(padding_idx)
        self.max_norm = self._check_norm(max_norm, "max_norm") if max_norm is not None else None
        self.norm_type = self._check_norm(norm_type, "norm_type")
        self.scale_grad_by_freq = check_bool(scale_grad_by_freq, "scale_grad_by_freq", "Embedding")
        self.sparse = check_bool(sparse, "sparse", "Embedding")
        check_supported(self.sparse, (False,), "sparse", "Embedding")
        check_supported(check_bool(_freeze, "_freeze", "Embedding"), (False,), "_freeze", "Embedding")
        if _weight is None:
            dtype, device = backend.resolve_dtype(dtype), backend.normalize_device(device)
            self.weight = Parameter(backend.zeros((num_embeddings, embedding_dim), dtype, device))
            self.reset_parameters()
        else:
            self.weight = Parameter(self._check_weight(_weight))

    def _check_padding_idx(self, padding_idx):
        if padding_idx is None:
            return None
        n = self.num_embeddings
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int) or not -n <= padding_idx < n:
            raise ValueError(f"Embedding: padding_idx must be an integer in [{-n}, {n - 1}] for "
                             f"num_embeddings={n}, got {padding_idx!r}")
        return padding_idx % n  # −1 is the last row, as in PyTorch

    @staticmethod
    def _check_norm(value, name):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"Embedding: {name} must be a positive number, got {value!r}")
        return float(value)

    def _check_weight(self, weight):
        expected = (self.num_embeddings, self.embedding_dim)
        got = backend.dtype_name(weight) if backend.is_array(weight) else type(weight).__name__
        if got not in backend.FLOAT_DTYPES:
            raise DTypeError(f"Embedding: _weight must be a float32 or float64 array, got {got}")
        if tuple(weight.shape) != expected:
            raise ShapeError(f"Embedding: _weight must have shape {expected} (num_embeddings, "
                             f"embedding_dim), got {tuple(weight.shape)}")
        return weight

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _check_ids(self, ids):
        if not backend.is_array(ids):
            raise DTypeError(f"Embedding: input must be an integer array of token ids, got "
                             f"{type(ids).__name__} (convert with np.asarray(ids, dtype=np.int64))")
        dtype = backend.dtype_name(ids)
        if not dtype.startswith(("int", "uint")):
            raise DTypeError(f"Embedding: input must hold integer token ids, got dtype {dtype} "
                             f"(use ids.astype(np.int64) if they are whole numbers)")
        self.check_device_and_dtype(ids, "input")  # integer ids: the weight's device
        if 0 in tuple(ids.shape):
            raise ShapeError(f"Embedding: input is empty (shape {tuple(ids.shape)})")
        xp = backend.namespace(ids)
        lo, hi = int(xp.min(ids)), int(xp.max(ids))
        if lo < 0 or hi >= self.num_embeddings:
            raise ValueError(f"Embedding: token ids must be in [0, {self.num_embeddings - 1}] for "
                             f"num_embeddings={self.num_embeddings}, got values in [{lo}, {hi}]")

    def forward(self, input):
        self._check_ids(input)
        xp = backend.namespace(input)
        flat = xp.astype(xp.reshape(input, (-1,)), xp.int64)  # any integer dtype indexes alike
        if self.max_norm is not None:
            self._renormalize_rows(xp, flat)
        self.save_for_backward(flat)
        rows = xp.take(self.weight.data, flat, axis=0)                     # (M, embedding_dim)
        return xp.reshape(rows, tuple(input.shape) + (self.embedding_dim,))

    def _renormalize_rows(self, xp, flat):
        """Scale each used row whose norm exceeds max_norm down to it, in place (as PyTorch)."""
        used = xp.unique_values(flat)
        rows = xp.take(self.weight.data, used, axis=0)
        norms = xp.linalg.vector_norm(rows, ord=self.norm_type, axis=1, keepdims=True)
        scale = xp.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0)
        self.weight.data[used] = rows * scale

    def backward(self, grad_output):
        (flat,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = xp.reshape(grad_output, (-1, self.embedding_dim))          # δ per position
        grad = index_add_rows(xp, self.weight.shape, flat, delta)          # Σ into rows
        if self.scale_grad_by_freq:  # divide row k by how often id k occurs (unused rows stay 0)
            ones = xp.ones((flat.shape[0], 1), dtype=delta.dtype, device=backend.native_device(delta))
            counts = index_add_rows(xp, (self.num_embeddings, 1), flat, ones)
            grad = grad / xp.clip(counts, min=1)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0                                      # padding learns nothing
        self.weight.accumulate_grad(grad)
        return None                                                         # ids: no gradient

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
            text += f", norm_type={self.norm_type}" if self.norm_type != 2 else ""
        return text + (", scale_grad_by_freq=True" if self.scale_grad_by_freq else "")
