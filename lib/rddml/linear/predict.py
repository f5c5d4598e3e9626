"""Scoring with fitted coefficients: blocks of a dataset, RDD records, DataFrame columns.

A binary model has ``coef`` of shape (d,) and a float intercept and scores P(y=1); a
multinomial one has ``coef`` (K, d) and ``intercept`` (K,) and scores the K class
probabilities (a row of K per input row) or the most probable class.

Predictions are lazy, like Spark's own transformations: each helper returns an RDD or
a DataFrame that computes the scores when an action runs. The coefficients travel
inside the tasks (they are small, and a broadcast could be released before the
result is evaluated).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from rddml.engine.blocks import BlockDataset
from rddml.engine.columns import with_features_column
from rddml.engine.convert import score_records
from rddml.engine.dataset import BlockView
from rddml.engine.sparse_columns import with_sparse_features_column
from rddml.linear.kernels import sigmoid
from rddml.linear.softmax import softmax_rows

Intercept = float | np.ndarray


def scores(X: np.ndarray, coef: np.ndarray, intercept: Intercept,
           threshold: float | None) -> np.ndarray:
    """Binary ``coef`` (d,): P(y=1) for each row, or 0.0/1.0 predictions (1 when P(y=1) >
    ``threshold``). Multinomial ``coef`` (K, d): the (n, K) class probabilities when
    ``threshold`` is None, else the most probable class (as a float; the threshold
    itself is not used)."""
    if coef.ndim == 2:
        Z = X @ coef.T + intercept
        if threshold is None:
            return softmax_rows(Z) if Z.shape[0] else np.zeros(Z.shape)
        return np.argmax(Z, axis=1).astype(np.float64)
    p = np.asarray(sigmoid(X @ coef + intercept))
    return p if threshold is None else (p > threshold).astype(np.float64)


def _block_scores(block: BlockView, params: tuple[np.ndarray, Intercept, float | None]
                  ) -> np.ndarray:
    return scores(block.X, *params)


def predict_blocks(ds: BlockDataset, coef: np.ndarray, intercept: Intercept,
                   threshold: float | None) -> Any:
    """RDD of arrays, one per block: P(y=1) (binary) or (rows, K) probabilities
    (multinomial), or predicted classes when ``threshold`` is set."""
    return ds.map_blocks(_block_scores, (coef, intercept, threshold))


def features_of(record: Any) -> Any:
    """The features of an RDD element: the element itself, or the first item of a
    ``(features, label[, weight])`` tuple."""
    if isinstance(record, tuple) and len(record) in (2, 3) and not np.isscalar(record[0]):
        return record[0]
    return record


def predict_records(rdd: Any, coef: np.ndarray, intercept: Intercept,
                    threshold: float | None) -> Any:
    """RDD in the input's order: floats P(y=1) (binary) or lists of K class probabilities
    (multinomial), or the predicted class (a float) when ``threshold`` is set."""
    return rdd.mapPartitionsWithIndex(partial(
        score_records, d=coef.shape[-1], features_of=features_of,
        score=partial(scores, coef=coef, intercept=intercept, threshold=threshold)))


def predict_sparse_dataframe(
    df: Any, *, features_col: str, out_col: str, coef: np.ndarray, intercept: Intercept,
    threshold: float | None,
) -> Any:
    """:func:`predict_dataframe` for a column of sparse vectors, scored from their
    non-zeros (CSR batches, :func:`rddml.engine.sparse_columns.with_sparse_features_column`)."""
    vector_out = coef.ndim == 2 and threshold is None
    return with_sparse_features_column(
        df, features_col, out_col,
        partial(scores, coef=coef, intercept=intercept, threshold=threshold),
        coef.shape[-1], "array<double>" if vector_out else "double")


def predict_dataframe(
    df: Any, *, features: Any, out_col: str, coef: np.ndarray, intercept: Intercept,
    threshold: float | None,
) -> Any:
    """``df`` with a column ``out_col``: a double P(y=1), or 0.0/1.0 with a threshold
    (binary); an ``array<double>`` of the K class probabilities, or the double predicted
    class with a threshold (multinomial)."""
    vector_out = coef.ndim == 2 and threshold is None
    return with_features_column(
        df, features, out_col, partial(scores, coef=coef, intercept=intercept, threshold=threshold),
        coef.shape[-1], "array<double>" if vector_out else "double")
