"""Turning what users pass to ``fit``/``predict`` into a cached :class:`BlockDataset`."""

from __future__ import annotations

from typing import Any

from rddml.engine.blocks import BlockDataset
from rddml.errors import InvalidParameterError


def is_rdd(data: Any) -> bool:
    """True for a PySpark RDD (checked without importing Spark eagerly)."""
    return any(c.__name__ == "RDD" and c.__module__.startswith("pyspark")
               for c in type(data).__mro__)


def is_dataframe(data: Any) -> bool:
    """True for a classic or Spark Connect DataFrame."""
    return any(c.__name__ == "DataFrame" and c.__module__.startswith("pyspark.sql")
               for c in type(data).__mro__)


def as_block_dataset(
    data: Any,
    *,
    labeled: bool,
    features_col: str | None,
    feature_cols: list[str] | None,
    label_col: str | None = None,
    weight_col: str | None = None,
) -> tuple[BlockDataset, bool]:
    """Return ``(dataset, owned)``; ``owned`` means the caller must unpersist it."""
    if isinstance(data, BlockDataset):
        return data, False
    if is_rdd(data):
        return BlockDataset.from_rdd(data, labeled=labeled), True
    if is_dataframe(data):
        return (
            BlockDataset.from_dataframe(
                data,
                features_col=features_col,
                feature_cols=feature_cols,
                label_col=label_col,
                weight_col=weight_col,
            ),
            True,
        )
    raise InvalidParameterError(
        "The 'data' argument must be a pyspark RDD, a pyspark DataFrame or an "
        f"rddml BlockDataset, got {type(data).__name__}."
    )
