"""The number of features of the data handed to ``predict``, found on the driver.

Predictions on an RDD or a DataFrame are lazy; without a look at the data first, a
model fitted on d features meets rows of another width only in the tasks, where the
error arrives wrapped in Spark's task failure. These helpers find the width before the
transformation is returned: from the schema when it tells (``feature_cols``, a vector
column with ML attributes), else from the first row (one small job that computes only
as many partitions as it takes to find a row).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rddml.errors import DataValidationError


def record_width(features: Any) -> int:
    """The number of features of one record's features (a scalar is one feature; a
    vector, sparse or dense, its size; a one-row SciPy sparse matrix its columns)."""
    if np.isscalar(features):
        return 1
    if hasattr(features, "tocsr") and getattr(features, "ndim", 0) == 2:
        return int(features.shape[1])
    return len(features)


def rdd_width(rdd: Any, features_of: Callable[[Any], Any]) -> int | None:
    """The width of the first element of ``rdd`` (None when it is empty)."""
    first = rdd.take(1)
    return record_width(features_of(first[0])) if first else None


def dataframe_width(df: Any, features_col: str | None, feature_cols: list[str] | None,
                    expression: Any) -> int | None:
    """The width of ``df``'s features: ``len(feature_cols)``, the ``num_attrs`` of a vector
    column's ML attributes, or the length of the first non-null row of ``expression``
    (the features as ``array<double>``); None when there is no such row."""
    from pyspark.sql import functions as F

    if feature_cols:
        return len(feature_cols)
    if features_col is not None:
        attrs = df.schema[features_col].metadata.get("ml_attr", {})
        if isinstance(attrs.get("num_attrs"), int):
            return int(attrs["num_attrs"])
    rows = df.select(expression.alias("f")).where(F.col("f").isNotNull()).head(1)
    return len(rows[0]["f"]) if rows else None


def check_width(found: int | None, expected: int, what: str) -> None:
    """Raise unless ``found`` (None: no rows, nothing to check) equals ``expected``."""
    if found is not None and found != expected:
        raise DataValidationError(
            f"The model was fitted on {expected} features, but the {what} has {found} "
            f"features per row; predict needs rows of {expected} features in the order "
            "used for fitting."
        )
