"""Scoring with fitted coefficients: blocks of a dataset, RDD records, DataFrame columns.

Predictions are lazy, like Spark's own transformations: each helper returns an RDD or
a DataFrame that computes the scores when an action runs. The coefficients travel
inside the tasks (they are small, and a broadcast could be released before the
result is evaluated).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np

from rddml.engine.blocks import BlockDataset
from rddml.engine.dataset import BlockView
from rddml.linear.kernels import sigmoid

RECORD_CHUNK = 8192


def scores(X: np.ndarray, coef: np.ndarray, intercept: float,
           threshold: float | None) -> np.ndarray:
    """P(y=1) for each row, or 0.0/1.0 predictions (1 when P(y=1) > ``threshold``)."""
    p = np.asarray(sigmoid(X @ coef + intercept))
    return p if threshold is None else (p > threshold).astype(np.float64)


def _block_scores(block: BlockView, params: tuple[np.ndarray, float, float | None]
                  ) -> np.ndarray:
    return scores(block.X, *params)


def predict_blocks(ds: BlockDataset, coef: np.ndarray, intercept: float,
                   threshold: float | None) -> Any:
    """RDD of arrays, one per block: P(y=1), or 0/1 predictions when ``threshold`` is set."""
    return ds.map_blocks(_block_scores, (coef, intercept, threshold))


def _features_of(record: Any) -> Any:
    """The features of an RDD element: the element itself, or the first item of a
    ``(features, label[, weight])`` tuple."""
    if isinstance(record, tuple) and len(record) in (2, 3) and not np.isscalar(record[0]):
        return record[0]
    return record


def _predict_records(
    records: Iterable[Any], *, coef: np.ndarray, intercept: float, threshold: float | None
) -> Iterator[float]:
    chunk: list[Any] = []
    d = coef.shape[0]

    def flush() -> list[float]:
        X = np.asarray(chunk, dtype=np.float64).reshape(len(chunk), d)
        chunk.clear()
        return scores(X, coef, intercept, threshold).tolist()  # type: ignore[no-any-return]

    for record in records:
        chunk.append(_features_of(record))
        if len(chunk) >= RECORD_CHUNK:
            yield from flush()
    if chunk:
        yield from flush()


def predict_records(rdd: Any, coef: np.ndarray, intercept: float,
                    threshold: float | None) -> Any:
    """RDD of floats in the input's order: P(y=1), or 0.0/1.0 when ``threshold`` is set."""
    return rdd.mapPartitions(partial(_predict_records, coef=coef, intercept=intercept,
                                     threshold=threshold))


def predict_dataframe(
    df: Any, *, features: Any, out_col: str, coef: np.ndarray, intercept: float,
    threshold: float | None,
) -> Any:
    """``df`` with a double column ``out_col``: P(y=1), or 0.0/1.0 with a threshold."""
    import pandas as pd
    from pyspark.sql import functions as F

    d = coef.shape[0]

    def score(col: pd.Series) -> pd.Series:
        X = np.stack(col.to_numpy()).astype(np.float64) if len(col) else np.zeros((0, d))
        if X.shape[1] != d:
            raise ValueError(f"the model was fitted on {d} features, but the DataFrame's "
                             f"feature arrays have {X.shape[1]}")
        return pd.Series(scores(X, coef, intercept, threshold))

    # pandas_udf infers its kind from real annotations; this module's are strings.
    score.__annotations__ = {"col": pd.Series, "return": pd.Series}
    udf = F.pandas_udf(score, "double")  # type: ignore[call-overload,attr-defined]
    return df.withColumn(out_col, udf(features))
