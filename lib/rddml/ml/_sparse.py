"""Scoring a column of sparse vectors in the ``pyspark.ml`` stages' ``transform``.

A wide column of sparse vectors (``HashingTF`` → ``IDF``, ``OneHotEncoder``) is scored
from its non-zeros: each Arrow batch of the vectors becomes one CSR matrix
(:func:`rddml.engine.sparse_columns.sparse_features_udf`), never a dense row. The
columns written are those of the dense path. Which columns are read this way is
:func:`rddml.engine.sparse_columns.sparse_scoring`'s rule (``layout="auto"``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from rddml.engine.sparse_columns import sparse_features_udf, sparse_scoring


def reads_sparse(dataset: Any, features_col: str) -> bool:
    """Whether ``transform`` scores ``features_col`` from its non-zeros."""
    return sparse_scoring(dataset, features_col, None, "auto")


def _binary_scores(X: Any, *, coef: np.ndarray, intercept: float) -> dict[str, np.ndarray]:
    from rddml.linear.kernels import sigmoid

    z = np.asarray(X @ coef, dtype=np.float64) + intercept
    return {"z": z, "p": np.asarray(sigmoid(z), dtype=np.float64)}


def _multinomial_scores(X: Any, *, coef: np.ndarray, intercept: np.ndarray,
                        thresholds: np.ndarray | None = None) -> dict[str, np.ndarray]:
    from rddml.linear.softmax import softmax_rows
    from rddml.ml._evaluation import thresholded_argmax

    Z = np.asarray(X @ coef.T) + intercept
    P = softmax_rows(Z) if len(Z) else Z
    k = np.argmax(Z, axis=1) if thresholds is None else thresholded_argmax(P, thresholds)
    return {"z": Z, "p": P, "k": k.astype(np.float64)}


def binary_scores_column(features_col: str, coef: np.ndarray, intercept: float) -> Any:
    """A ``struct<z double, p double>`` column: margin and P(y = 1) of each row."""
    from pyspark.sql import functions as F

    fn = partial(_binary_scores, coef=coef, intercept=intercept)
    udf = sparse_features_udf(fn, coef.shape[0], "z double, p double", features_col)
    return udf(F.col(features_col))


def multinomial_scores_column(features_col: str, coef: np.ndarray, intercept: np.ndarray,
                              thresholds: np.ndarray | None = None) -> Any:
    """A ``struct<z array<double>, p array<double>, k double>`` column: the K margins,
    their softmax and the predicted class of each row (the most probable; with
    ``thresholds``, that of the largest p_k / t_k, as pyspark.ml)."""
    from pyspark.sql import functions as F

    fn = partial(_multinomial_scores, coef=coef, intercept=intercept, thresholds=thresholds)
    udf = sparse_features_udf(fn, coef.shape[1], "z array<double>, p array<double>, k double",
                              features_col)
    return udf(F.col(features_col))


def _assign(X: Any, *, centres: np.ndarray, cosine: bool) -> np.ndarray:
    from rddml.cluster.kmeans import assign_points

    return assign_points(X, centres, cosine).astype(np.int32)


def cluster_column(features_col: str, centres: np.ndarray, cosine: bool) -> Any:
    """An ``int`` column: the closest centre of each row."""
    from pyspark.sql import functions as F

    fn = partial(_assign, centres=centres, cosine=cosine)
    return sparse_features_udf(fn, centres.shape[1], "int", features_col)(F.col(features_col))
