"""Counter-based random numbers keyed on a row's global index.

A random draw that depends only on ``(seed, stream, row index)`` gives the same
sample whatever the number of partitions or executors, which is what makes the
randomised initialisations and mini-batches reproducible across cluster shapes.
The mixer is SplitMix64 (Steele, Lea & Flood 2014), vectorised with NumPy's
wrapping uint64 arithmetic.

Examples
--------
>>> import numpy as np
>>> u = uniform_for_rows(seed=7, stream=1, rows=np.arange(5))
>>> bool(np.all((u >= 0) & (u < 1)))
True
>>> bool(np.array_equal(u[2:], uniform_for_rows(7, 1, np.arange(2, 5))))
True
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def uniform_for_rows(seed: int, stream: int, rows: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1), one per global row index, for a given seed and stream."""
    with np.errstate(over="ignore"):
        key = _mix(np.array([seed * 1_000_003 + stream], dtype=np.uint64) * _GOLDEN)[0]
        z = _mix(rows.astype(np.uint64) * _GOLDEN + key)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
