"""Bounded samples of a BlockDataset for plots and reports (never the whole data)."""

from __future__ import annotations

from functools import partial

import numpy as np

from rddml.engine.blocks import Block, BlockDataset
from rddml.engine.counter_rng import uniform_for_rows


def _sample_block(
    block: Block, *, offsets: np.ndarray, fraction: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    start = int(offsets[block.partition]) + block.start
    rows = np.arange(start, start + block.X.shape[0], dtype=np.int64)
    keep = uniform_for_rows(seed, 99, rows) < fraction
    return [(block.X[keep], None if block.y is None else block.y[keep])]


def sample_rows(
    ds: BlockDataset, max_rows: int = 20_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """About ``max_rows`` rows (all of them for small data) and their labels, if any."""
    fraction = min(1.0, max_rows / max(1, ds.n_rows))
    parts = ds.rdd.flatMap(
        partial(_sample_block, offsets=ds.partition_offsets, fraction=fraction, seed=seed)
    ).collect()
    if not parts:
        return np.zeros((0, ds.n_features)), None
    X = np.concatenate([p[0] for p in parts])
    y = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])  # type: ignore[misc]
    return X, y
