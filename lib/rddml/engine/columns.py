"""Where a DataFrame's model columns come from, and how Arrow batches become arrays.

:func:`select_model_columns` checks names and types on the driver (before any Spark
job) and selects the features either as separate ``double`` columns (``feature_cols``:
cast in the JVM, one Arrow buffer each) or as one ``array<double>`` column (a vector
or array ``features_col``), plus label and weight doubles; :func:`arrow_batch_columns`
turns one Arrow record batch of those columns into NumPy arrays without a per-row
Python object (zero-copy where a column has no nulls), and :func:`arrow_batch_to_arrays`
into one ``(n, d)`` features matrix. Both backends read DataFrames through these.

Separate columns, not ``F.array`` of them: packing each row's features into an array
makes the JVM build an array object per row and write a list column, which Python
then has to flatten; the columns exported as they are skip both
(docs/benchmark/analysis-2026-12-02.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.engine.sparse import is_sparse
from rddml.engine.sparse_columns import batch_width, is_vector_struct, struct_to_csr
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
    sparse: bool = False,
) -> DataFrame:
    """Select the features as separate ``double`` columns (``feature_cols``) or as one
    ``array<double>`` column (``features_col``), then label and weight as doubles.

    With ``sparse=True`` a vector ``features_col`` is selected as it is: its Arrow form
    (a struct of type, size, indices, values) is read without densifying
    (:mod:`rddml.engine.sparse_columns`).

    Checks names and types on the driver, before any Spark job, so a wrong
    column is reported at once with what the DataFrame actually has.

    A column that is already ``double`` is selected as it is (no cast, no alias) the
    first time it appears: a selection of plain column references reads a cached
    DataFrame's scan directly, where renaming adds a projection that copies every row
    in the JVM. Batches are read by position, so the
    names do not matter; a repeated column is renamed so no two share a name.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = {f.name: f.dataType for f in df.schema.fields}
    taken: set[str] = set()  # lower-cased: Spark resolves names case-insensitively

    def as_double(name: str, alias: str) -> Any:
        plain = name.lower() not in taken and not name.startswith("__rddml_")
        if plain and isinstance(fields[name], T.DoubleType):
            taken.add(name.lower())
            return F.col(name)
        return F.col(name).cast("double").alias(alias)

    def require(name: str, role: str) -> Any:
        if name not in fields:
            raise InvalidParameterError(
                f"The {role} column {name!r} is not in the DataFrame; its columns are "
                f"{sorted(fields)}."
            )
        return fields[name]

    def numeric(name: str, role: str) -> str:
        dtype = require(name, role)
        if not isinstance(dtype, T.NumericType):
            raise InvalidParameterError(
                f"The {role} column {name!r} must be numeric, but it has type "
                f"{dtype.simpleString()}."
            )
        return name

    if feature_cols:
        features = [as_double(numeric(c, "feature"), f"__rddml_x{j}")
                    for j, c in enumerate(feature_cols)]
    elif features_col:
        dtype = require(features_col, "features")
        if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.NumericType):
            features = [F.col(features_col).cast("array<double>").alias("__rddml_x")]
        elif type(dtype).__name__ == "VectorUDT" and sparse:
            features = [F.col(features_col).alias("__rddml_x")]
        elif type(dtype).__name__ == "VectorUDT":
            from pyspark.ml.functions import vector_to_array

            features = [vector_to_array(F.col(features_col)).alias("__rddml_x")]
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
    cols = list(features)
    if label_col:
        cols.append(as_double(numeric(label_col, "label"), "__rddml_y"))
    if weight_col:
        cols.append(as_double(numeric(weight_col, "weight"), "__rddml_w"))
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


def _first_null(col: Any) -> int:
    return int(np.flatnonzero(~np.asarray(col.is_valid()))[0])


def _doubles(col: Any) -> np.ndarray:
    """A null-free Arrow double column as a NumPy view of its buffer (copy otherwise)."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_float64(col.type) and not col.null_count:
        # The values buffer as it is: Array.to_numpy would first import pandas, a cost
        # paid again in every new Python worker.
        return np.frombuffer(col.buffers()[1], dtype=np.float64, count=len(col),
                             offset=col.offset * 8)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def arrow_batch_columns(
    batch: Any, has_y: bool, has_w: bool, names: dict[str, Any], first_row: int
) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """The features, labels and weights of one Arrow record batch, checked for nulls.

    Features come back as an ``(n, d)`` matrix when the batch holds one list column
    (a vector or array ``features_col``; its values flattened, ragged rows reported),
    or as a list of ``d`` one-dimensional arrays, one per ``feature_cols`` column:
    views of the Arrow buffers, no copy. Labels and weights are the last columns.
    Raises ValueError naming the first bad row (``first_row`` + its index in the batch).
    """
    import pyarrow as pa

    n = batch.num_rows
    n_x = batch.num_columns - has_y - has_w
    where = f"of the partition has a null in feature column(s) {names['feature_source']}"
    xcol = batch.column(0)
    if n_x == 1 and is_vector_struct(xcol):  # a vector column read sparse: a CSR matrix
        X: Any = struct_to_csr(xcol, first_row, names["feature_source"])
    elif n_x == 1 and (pa.types.is_list(xcol.type) or pa.types.is_large_list(xcol.type)):
        if isinstance(xcol, pa.ChunkedArray):
            xcol = xcol.combine_chunks()
        if xcol.null_count:
            raise ValueError(f"row {first_row + _first_null(xcol)} {where}")
        offsets = np.asarray(xcol.offsets)
        lengths = np.diff(offsets)
        values = xcol.flatten()
        if values.null_count:
            pos = _first_null(values)
            row = int(np.searchsorted(offsets, pos, side="right") - 1)
            raise ValueError(f"row {first_row + row} {where}")
        d = batch_width(lengths, first_row, "has {size} features, expected {d}")
        X = _doubles(values).reshape(n, d)
    else:
        features = []
        for j in range(n_x):
            col = batch.column(j)
            if col.null_count:
                source = [names["feature_source"][j]]
                raise ValueError(f"row {first_row + _first_null(col)} of the partition has a "
                                 f"null in feature column(s) {source}")
            features.append(_doubles(col))
        X = features

    def scalar(i: int, what: str, source: str) -> np.ndarray:
        col = batch.column(i)
        if col.null_count:
            raise ValueError(f"row {first_row + _first_null(col)} of the partition has a null "
                             f"{what} in column {source!r}")
        return _doubles(col)

    y = scalar(n_x, "label", names["label_source"]) if has_y else None
    w = scalar(n_x + has_y, "weight", names["weight_source"]) if has_w else None
    return X, y, w


def stack_features(X: Any) -> Any:
    """An ``(n, d)`` C-ordered float64 matrix of :func:`arrow_batch_columns`' features
    (a CSR matrix as it is)."""
    if isinstance(X, np.ndarray) or is_sparse(X):
        return X
    out = np.empty((len(X[0]) if X else 0, len(X)), dtype=np.float64)
    for j, col in enumerate(X):
        out[:, j] = col
    return out


def arrow_batch_to_arrays(
    batch: Any, has_y: bool, has_w: bool, names: dict[str, Any], first_row: int
) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """Features matrix (or CSR matrix), labels and weights of one Arrow record batch (no
    per-row Python)."""
    X, y, w = arrow_batch_columns(batch, has_y, has_w, names, first_row)
    return stack_features(X), y, w


def with_features_column(df: Any, features: Any, out_col: str, fn: Callable[[np.ndarray], Any],
                         n_features: int, return_type: str) -> Any:
    """``df`` with a column ``out_col`` computed from its features, a batch at a time.

    ``features`` is an ``array<double>`` column expression (:func:`features_expression`);
    each batch of rows becomes one ``(rows, n_features)`` float64 matrix and ``fn`` maps
    it to one value per row (a 1-D array, or a 2-D array giving an array per row).
    ``return_type`` is the column's Spark SQL type. Lazy: nothing runs until an action.
    """
    import pandas as pd
    from pyspark.sql import functions as F

    def score(col: pd.Series) -> pd.Series:
        X = np.stack(col.to_numpy()).astype(np.float64) if len(col) else np.zeros((0, n_features))
        if X.shape[1] != n_features:
            raise ValueError(f"the model was fitted on {n_features} features, but the "
                             f"DataFrame's feature arrays have {X.shape[1]}")
        out = np.asarray(fn(X))
        return pd.Series(list(out)) if out.ndim == 2 else pd.Series(out)

    # pandas_udf infers its kind from real annotations; this module's are strings.
    score.__annotations__ = {"col": pd.Series, "return": pd.Series}
    udf = F.pandas_udf(score, return_type)  # type: ignore[call-overload,attr-defined]
    return df.withColumn(out_col, udf(features))
