"""``Embedding``: a lookup table of learned vectors, one row per token id."""

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError
from . import init
from .functional import check_positive_int
from .module import Module, Parameter


def index_add_rows(xp, shape, ids, values):
    """A zero array of ``shape`` with ``values[j]`` added into row ``ids[j]`` (repeats add up).

    The array API has no scatter-add, so this one operation is written per backend: torch's
    ``index_add_``, and for NumPy a sort followed by ``np.add.reduceat`` over runs of equal ids
    (exact sums, and much faster than ``np.add.at`` for rows).
    """
    out = xp.zeros(shape, dtype=values.dtype, device=backend.native_device(values))
    if backend.is_torch_array(values):
        return out.index_add_(0, ids.long(), values)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    out[sorted_ids[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


class Embedding(Module):
    """y[…] = W[id]: row ``id`` of ``weight`` (num_embeddings, embedding_dim) for each integer id.

    Looking up row k is the same as multiplying the one-hot vector e_k by W, so the gradient
    is ∂J/∂W = Σ_positions e_{id}ᵀ δ: δ of every position is added into the row of its id
    (an id seen twice gets both). Ids have no gradient. ``weight`` starts N(0, 1), as in
    PyTorch.
    """

    def __init__(self, num_embeddings, embedding_dim, *, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", "Embedding")
        dtype, device = backend.resolve_dtype(dtype), backend.normalize_device(device)
        self.weight = Parameter(backend.zeros((num_embeddings, embedding_dim), dtype, device))
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)

    def _check_ids(self, ids):
        if not backend.is_array(ids):
            raise DTypeError(f"Embedding: input must be an integer array of token ids, got {type(ids).__name__} "
                             f"(convert with np.asarray(ids, dtype=np.int64))")
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

    def forward(self, ids):
        self._check_ids(ids)
        xp = backend.namespace(ids)
        flat = xp.astype(xp.reshape(ids, (-1,)), xp.int64)  # any integer dtype indexes alike
        self.save_for_backward(flat)
        rows = xp.take(self.weight.data, flat, axis=0)                     # (M, embedding_dim)
        return xp.reshape(rows, tuple(ids.shape) + (self.embedding_dim,))

    def backward(self, grad_output):
        (flat,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        delta = xp.reshape(grad_output, (-1, self.embedding_dim))          # δ per position
        self.weight.accumulate_grad(index_add_rows(xp, self.weight.shape, flat, delta))  # Σ into rows
        return None                                                         # ids: no gradient

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
