"""How labels code classes: class k is the label value k, for k in 0 .. MAX_CLASSES − 1.

NumPy only; shared by the conversion's label census (:mod:`rddml.engine.census`) and
the multinomial math (:mod:`rddml.linear.softmax`).
"""

from __future__ import annotations

import numpy as np

#: The largest number of classes a multinomial model may have (labels 0 .. 999).
MAX_CLASSES = 1000
#: Invalid label values kept to report (per slice, and after merging).
MAX_BAD_LABELS = 10


def valid_labels(y: np.ndarray) -> np.ndarray:
    """Which labels are class indices: integers in 0 .. MAX_CLASSES − 1."""
    return np.isfinite(y) & (y == np.floor(y)) & (y >= 0) & (y < MAX_CLASSES)


def class_indices(y: np.ndarray) -> np.ndarray:
    """Float labels 0.0, 1.0, ... as int64 class indices (labels already validated)."""
    return np.asarray(y, dtype=np.float64).astype(np.int64)
