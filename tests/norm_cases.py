"""Hypothesis cases for the normalisation layers (BatchNorm1d, BatchNorm2d, LayerNorm), in the
form that ``nnlib_cases.check_gradcheck`` / ``check_parity`` take: nnlib module, torch twin,
input shape.

γ and β start as ones and zeros; the cases draw them at random instead (and the running
statistics of batch norm have seen two batches), so that a backward pass that forgot γ or used
the wrong statistics is caught. ``check_parity`` copies all of it into the torch twin.
"""

import numpy as np
import torch
from hypothesis import strategies as st

from nnlib import nn
from nnlib_cases import Case, dims, shapes


def _random_affine(layer, dt, seed=3):
    rng = np.random.default_rng(seed)
    for p in (layer.weight, layer.bias):
        if p is not None:
            p.data = rng.normal(0.5, 1.0, size=p.shape).astype(dt)
    return layer


def _warmed_batchnorm(kind, c, rest, options, train, dt):
    """A batch-norm layer whose running statistics have seen two batches, then in train or eval mode."""
    layer = _random_affine(getattr(nn, kind)(c, dtype=dt, **options), dt)
    rng = np.random.default_rng(7)
    for _ in range(2):
        layer(rng.normal(1.0, 2.0, size=(3, c, *rest)).astype(dt))
    return layer.train(train)


@st.composite
def batchnorm(draw, kind, train):
    """``kind`` "BatchNorm1d": (N, C) or (N, C, L) inputs; "BatchNorm2d": (N, C, H, W)."""
    c, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rest = draw(shapes(2, 2) if kind == "BatchNorm2d" else shapes(0, 1))
    if n * int(np.prod(rest)) == 1:
        n = 2  # training needs more than one value per channel
    options = draw(st.fixed_dictionaries({
        "affine": st.booleans(), "bias": st.booleans(), "track_running_stats": st.booleans(),
        "momentum": st.sampled_from([0.1, 0.5, None]), "eps": st.sampled_from([1e-5, 1e-3]),
    }))
    shape = (n, c, *rest)
    label = f"{kind}({c}, {options}) {'train' if train else 'eval'} on {shape}"
    return Case(label, lambda dt: _warmed_batchnorm(kind, c, rest, options, train, dt),
                lambda dt: getattr(torch.nn, kind)(c, dtype=dt, **options).train(train), shape)


@st.composite
def layernorm(draw):
    """Normalised over 1–3 trailing dimensions, with 0–2 leading ones (none: an unbatched input)."""
    normalized = draw(shapes(1, 3))
    lead = tuple(draw(st.lists(dims, max_size=2)))
    # PyTorch's forms of normalized_shape: an int (one dimension), a tuple or a list.
    forms = [normalized, list(normalized)] + ([normalized[0]] if len(normalized) == 1 else [])
    arg = draw(st.sampled_from(forms))
    options = draw(st.fixed_dictionaries({
        "elementwise_affine": st.booleans(), "bias": st.booleans(), "eps": st.sampled_from([1e-5, 1e-3]),
    }))
    shape = (*lead, *normalized)
    return Case(f"LayerNorm({arg!r}, {options}) on {shape}",
                lambda dt: _random_affine(nn.LayerNorm(arg, dtype=dt, **options), dt),
                lambda dt: torch.nn.LayerNorm(arg, dtype=dt, **options), shape)


NORM_CASES = {
    "BatchNorm1d(train)": batchnorm("BatchNorm1d", train=True),
    "BatchNorm1d(eval)": batchnorm("BatchNorm1d", train=False),
    "BatchNorm2d(train)": batchnorm("BatchNorm2d", train=True),
    "BatchNorm2d(eval)": batchnorm("BatchNorm2d", train=False),
    "LayerNorm": layernorm(),
}
