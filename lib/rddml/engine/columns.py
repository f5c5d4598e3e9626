"""Where a DataFrame's model columns come from, and how Arrow batches become arrays.

:func:`select_model_columns` checks names and types on the driver (before any Spark
job) and selects the features as one ``array<double>`` column, plus label and weight
doubles; :func:`arrow_batch_to_arrays` turns one Arrow record batch of those columns
into NumPy arrays without a per-row Python object. Both backends read DataFrames
through these two functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.errors import InvalidParameterError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame



def column_names(
    features_col: str | None,
    feature_cols: list[str] | None = None,
    label_col: str | None = None,
    weight_col: str | None = None,
) -> dict[str, Any]:
    """Names of the selected model columns and of their sources (for error messages)."""
    shown = list(feature_cols) if feature_cols else [features_col]
    if label_col:
        shown.append(label_col)
    if weight_col:
        shown.append(weight_col)
    return {
        "features": "__rddml_x",
        "label": "__rddml_y",
        "weight": "__rddml_w",
        "describe": shown,
        "feature_source": feature_cols or [features_col],
        "label_source": label_col,
        "weight_source": weight_col,
    }


def select_model_columns(
    df: DataFrame,
    *,
    features_col: str | None,
    feature_cols: list[str] | None = None,
    label_col: str | None = None,
    weight_col: str | None = None,
) -> DataFrame:
    """Select features as one ``array<double>`` column (plus label/weight as doubles).

    Checks names and types on the driver, before any Spark job, so a wrong
    column is reported at once with what the DataFrame actually has.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = {f.name: f.dataType for f in df.schema.fields}

    def require(name: str, role: str) -> Any:
        if name not in fields:
            raise InvalidParameterError(
                f"The {role} column {name!r} is not in the DataFrame; its columns are "
                f"{sorted(fields)}."
            )
        return fields[name]

    def numeric(name: str, role: str) -> Any:
        dtype = require(name, role)
        if not isinstance(dtype, T.NumericType):
            raise InvalidParameterError(
                f"The {role} column {name!r} must be numeric, but it has type "
                f"{dtype.simpleString()}."
            )
        return F.col(name).cast("double")

    if feature_cols:
        features = F.array(*[numeric(c, "feature") for c in feature_cols])
    elif features_col:
        dtype = require(features_col, "features")
        if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.NumericType):
            features = F.col(features_col).cast("array<double>")
        elif type(dtype).__name__ == "VectorUDT":
            from pyspark.ml.functions import vector_to_array

            features = vector_to_array(F.col(features_col))
        else:
            raise InvalidParameterError(
                f"The features column {features_col!r} must be a vector or an array of "
                f"numbers, but it has type {dtype.simpleString()}; for separate numeric "
                "columns pass feature_cols=[...]."
            )
    else:
        raise InvalidParameterError(
            "Either the 'features_col' or the 'feature_cols' parameter must be set, got None "
            "for both."
        )
    cols = [features.alias("__rddml_x")]
    if label_col:
        cols.append(numeric(label_col, "label").alias("__rddml_y"))
    if weight_col:
        cols.append(numeric(weight_col, "weight").alias("__rddml_w"))
    return df.select(*cols)


def features_expression(df: Any, features_col: str | None,
                        feature_cols: list[str] | None) -> Any:
    """The features of ``df`` as one ``array<double>`` column expression."""
    from pyspark.sql import functions as F

    select_model_columns(df, features_col=features_col, feature_cols=feature_cols)
    if feature_cols:
        return F.array(*[F.col(c).cast("double") for c in feature_cols])
    assert features_col is not None  # select_model_columns rejected None for both
    dtype = df.schema[features_col].dataType
    if type(dtype).__name__ == "VectorUDT":
        from pyspark.ml.functions import vector_to_array

        return vector_to_array(F.col(features_col))
    return F.col(features_col).cast("array<double>")


def arrow_batch_to_arrays(
    batch: Any, has_y: bool, has_w: bool, names: dict[str, Any], first_row: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Features matrix, labels and weights of one Arrow record batch (no per-row Python)."""
    import pyarrow as pa

    n = batch.num_rows
    xcol = batch.column(0)
    if isinstance(xcol, pa.ChunkedArray):
        xcol = xcol.combine_chunks()
    if xcol.null_count:
        row = int(np.flatnonzero(~np.asarray(xcol.is_valid()))[0])
        raise ValueError(
            f"row {first_row + row} of the partition has a null in feature column(s) "
            f"{names['feature_source']}"
        )
    offsets = np.asarray(xcol.offsets)
    lengths = np.diff(offsets)
    values = xcol.flatten()
    if values.null_count:
        pos = int(np.flatnonzero(~np.asarray(values.is_valid()))[0])
        row = int(np.searchsorted(offsets, pos, side="right") - 1)
        raise ValueError(
            f"row {first_row + row} of the partition has a null in feature column(s) "
            f"{names['feature_source']}"
        )
    d = int(lengths[0]) if n else 0
    if n and np.any(lengths != d):
        row = int(np.flatnonzero(lengths != d)[0])
        raise ValueError(
            f"row {first_row + row} of the partition has {int(lengths[row])} features, "
            f"expected {d}"
        )
    X = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False).reshape(n, d)

    def scalar(i: int, what: str, source: str) -> np.ndarray:
        col = batch.column(i)
        if col.null_count:
            row = int(np.flatnonzero(~np.asarray(col.is_valid()))[0])
            raise ValueError(f"row {first_row + row} of the partition has a null {what} in "
                             f"column {source!r}")
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)

    y = scalar(1, "label", names["label_source"]) if has_y else None
    w = scalar(2 if has_y else 1, "weight", names["weight_source"]) if has_w else None
    return X, y, w
