"""One seeded random generator for everything random in nnlib (initialisation, dropout).

Random numbers are always drawn with NumPy and then moved to the model's device, so the same
seed gives the same weights and dropout masks on NumPy, torch CPU and GPU.
"""

import sys

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Seed nnlib's generator (and torch's, if torch is already imported). Returns the generator."""
    generator = seed_nnlib(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(int(seed))
    return generator


def seed_nnlib(seed):
    """Seed nnlib's generator only; torch's is left as it is. Returns the generator.

    Enough to make an nnlib forward pass repeat itself exactly (nnlib draws every random number
    here): gradient checks reseed before each of their thousands of evaluations, where also
    seeding torch would cost about half a millisecond each.
    """
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator():
    """The current ``numpy.random.Generator``."""
    return _generator
