"""Bounded samples of a dataset for plots and reports (never the whole data)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rddml.engine.counter_rng import uniform_for_rows
from rddml.engine.dataset import BlockView, Dataset

SAMPLE_STREAM = 99  # counter-RNG stream of these samples (apart from the algorithms')


def _sample_block(block: BlockView, params: tuple[float, int]
                  ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    fraction, seed = params
    keep = uniform_for_rows(seed, SAMPLE_STREAM, block.row_keys()) < fraction
    return [(block.X[keep], None if block.y is None else block.y[keep])]


def sample_rows(
    ds: Dataset, max_rows: int = 20_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """About ``max_rows`` rows (all of them for small data) and their labels, if any."""
    fraction = min(1.0, max_rows / max(1, ds.n_rows))
    parts: list[Any] = ds.rows(_sample_block, (fraction, seed))
    if not parts:
        return np.zeros((0, ds.n_features)), None
    X = np.concatenate([p[0] for p in parts])
    y = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    return X, y
