"""A DataFrame's vector column read as sparse rows, and which layout a DataFrame gets.

Spark sends a ``VectorUDT`` column through Arrow as its SQL form, a struct of
``type`` (0 sparse, 1 dense), ``size`` (sparse vectors), ``indices`` and ``values``.
:func:`struct_to_csr` turns one batch of that struct into a CSR matrix from those
buffers (no ``vector_to_array``, so no row is ever densified): a sparse vector keeps
its indices and values, a dense one (``VectorAssembler`` mixes both) keeps its
non-zeros. Every row must have the same size: a row of another size is an error naming
it, as are a null vector and a type other than 0 or 1; indices are then checked like
every sparse slice (:func:`rddml.engine.sparse.check_csr`).

:func:`resolve_layout` picks the layout of ``layout="auto"`` for a DataFrame: sparse
for a vector column whose vectors are sparse and at least
:data:`SPARSE_AUTO_MIN_FEATURES` wide (read from the column's ML metadata, or from the
first row), dense otherwise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.engine import sparse

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

#: ``layout="auto"`` keeps a vector column of fewer features dense: a dense row of them
#: costs at most 2 KiB, and the dense kernels are the faster ones on narrow rows.
SPARSE_AUTO_MIN_FEATURES = 256


def is_vector_struct(column: Any) -> bool:
    """Whether an Arrow column is a ``VectorUDT`` column's struct form."""
    import pyarrow as pa

    t = column.type
    return bool(pa.types.is_struct(t) and t.get_field_index("indices") >= 0
                and t.get_field_index("values") >= 0)


def batch_width(sizes: np.ndarray, first_row: int, mismatch: str) -> int:
    """The number of features every row of a batch has (``sizes``, one per row): that of
    its first row, 0 for no row. Raises ValueError naming the first row of another size
    (``first_row`` + its index in the batch) with ``mismatch`` formatted with its
    ``size`` and the expected ``d``."""
    d = int(sizes[0]) if sizes.size else 0
    if sizes.size and np.any(sizes != d):
        row = int(np.flatnonzero(sizes != d)[0])
        raise ValueError(f"row {first_row + row} of the partition "
                         + mismatch.format(size=int(sizes[row]), d=d))
    return d


def struct_to_csr(column: Any, first_row: int, source: list[str]) -> Any:
    """One batch of a vector column's struct as a canonical-form candidate CSR matrix
    (the caller checks the indices). Raises ValueError naming the first bad row
    (``first_row`` + its index in the batch)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    if column.null_count:
        row = int(np.flatnonzero(~np.asarray(column.is_valid()))[0])
        raise ValueError(f"row {first_row + row} of the partition has a null in feature "
                         f"column(s) {source}")
    kind = np.asarray(column.field("type").fill_null(-1), dtype=np.int64)
    values = column.field("values")
    indices = column.field("indices")
    offsets = np.asarray(values.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    sizes_col = column.field("size")
    sizes = np.where(kind == 1, lengths, np.asarray(sizes_col.fill_null(-1), dtype=np.int64))
    bad_kind = (kind != 0) & (kind != 1)
    if bad_kind.any():
        row = int(np.flatnonzero(bad_kind)[0])
        raise ValueError(f"row {first_row + row} of the partition is not a vector "
                         f"(type {int(kind[row])})")
    d = batch_width(sizes, first_row, "is a vector of size {size}, expected {d} like the "
                    "first row of the partition (every vector needs the same number of "
                    "features)")
    vals = np.asarray(values.flatten(), dtype=np.float64)
    sparse_rows = kind == 0
    entry_sparse = np.repeat(sparse_rows, lengths)
    cols = np.empty(vals.size, dtype=np.int64)
    if entry_sparse.any():
        flat_idx = np.asarray(indices.flatten(), dtype=np.int64)
        if flat_idx.size != int(entry_sparse.sum()):
            row = int(np.flatnonzero(sparse_rows & (np.asarray(
                pa.compute.list_value_length(indices).fill_null(0)) != lengths))[0])
            raise ValueError(f"row {first_row + row} of the partition is a sparse vector "
                             "whose indices and values differ in number")
        cols[entry_sparse] = flat_idx
    if not entry_sparse.all():
        local = np.arange(vals.size, dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0],
                                                                 lengths)
        cols[~entry_sparse] = local[~entry_sparse]
    keep = entry_sparse | (vals != 0.0)  # a dense vector's zeros are not stored
    if not keep.all():
        lengths = sparse.segment_sums(keep.astype(np.int64), offsets - offsets[0])
        vals, cols = vals[keep], cols[keep]
    itype = sparse.index_dtype(max(d, 1), int(vals.size))
    indptr = np.zeros(n + 1, dtype=itype)
    np.cumsum(lengths, out=indptr[1:])
    return sparse.csr(vals, cols.astype(itype), indptr, max(d, 0))


def first_vector(df: DataFrame, features_col: str) -> Any:
    """The first non-null vector of the column (one small job), or None."""
    from pyspark.sql import functions as F

    row = df.select(features_col).where(F.col(features_col).isNotNull()).head()
    return None if row is None else row[0]


def metadata_width(df: DataFrame, features_col: str) -> int | None:
    """The vector size the column's ML attribute metadata records, if any."""
    meta = df.schema[features_col].metadata or {}
    attrs = meta.get("ml_attr", {})
    width = attrs.get("num_attrs")
    return int(width) if isinstance(width, int) else None


def vector_column_width(df: DataFrame, features_col: str) -> int | None:
    """The size of the column's vectors, from its ML metadata or else its first vector
    (one small job, nothing densified); None when the column has no vector."""
    width = metadata_width(df, features_col)
    if width is not None:
        return width
    vector = first_vector(df, features_col)
    return None if vector is None else int(vector.size)


def resolve_layout(df: DataFrame, features_col: str | None, feature_cols: list[str] | None,
                   layout: str) -> str:
    """``"dense"`` or ``"sparse"`` for reading ``df``'s features (see the module docstring).

    ``"auto"`` is sparse only for a ``VectorUDT`` column of at least
    :data:`SPARSE_AUTO_MIN_FEATURES` features whose first vector is sparse; ``"sparse"``
    reads any vector column without densifying (and converts numeric columns);
    ``"dense"`` densifies a vector column.
    """
    from rddml.params import check_choice

    check_choice("layout", layout, sparse.LAYOUTS)
    if layout != "auto":
        return layout
    if feature_cols or features_col is None or features_col not in df.columns:
        return "dense"
    if type(df.schema[features_col].dataType).__name__ != "VectorUDT":
        return "dense"
    width = metadata_width(df, features_col)
    if width is not None and width < SPARSE_AUTO_MIN_FEATURES:
        return "dense"
    vector = first_vector(df, features_col)
    if vector is None or type(vector).__name__ != "SparseVector":
        return "dense"
    return "sparse" if int(vector.size) >= SPARSE_AUTO_MIN_FEATURES else "dense"


def describe(ds: Any) -> str:
    """``"sparse (CSR), 1000 x 262144, 40000 non-zeros (0.015 %)"`` for the fit's log."""
    cells = max(1, int(ds.n_rows) * int(ds.n_features))
    if ds.layout == "sparse":
        return (f"sparse (CSR) blocks, {ds.n_rows} rows x {ds.n_features} features, "
                f"{ds.nnz} non-zeros ({100.0 * ds.nnz / cells:.3g} %)")
    return f"dense blocks, {ds.n_rows} rows x {ds.n_features} features"


# ------------------------------------------------------------------ scoring
def sparse_scoring(df: DataFrame, features_col: str | None, feature_cols: list[str] | None,
                   layout: str) -> bool:
    """Whether predictions on ``df`` read its vector column sparse: the layout resolves
    to sparse (:func:`resolve_layout`) and Spark has Arrow UDFs (pyspark 4.1 and later;
    older versions score the densified vectors)."""
    if feature_cols or features_col is None:
        return False
    if resolve_layout(df, features_col, None, layout) != "sparse":
        return False
    from pyspark.sql import functions as F

    return hasattr(F, "arrow_udf")


def _arrow_result(out: Any) -> Any:
    """A scoring function's result as an Arrow array: a 1-D array, a 2-D array (a list
    per row), or a dict of those (a struct)."""
    import pyarrow as pa

    if isinstance(out, dict):
        return pa.StructArray.from_arrays([_arrow_result(v) for v in out.values()],
                                          names=list(out))
    out = np.asarray(out)
    if out.ndim == 2:
        n, k = out.shape
        offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
        return pa.ListArray.from_arrays(offsets, pa.array(out.reshape(-1)))
    return pa.array(out)


def _score_struct_batch(col: Any, *, fn: Any, n_features: int, name: str) -> Any:
    X = struct_to_csr(col, 0, [name])
    if X.shape[0] and X.shape[1] != n_features:
        raise ValueError(f"the model was fitted on {n_features} features, but the "
                         f"DataFrame's feature vectors have {X.shape[1]}")
    # Vectors built outside pyspark's checked constructors can still break the CSR form;
    # scoring them would read the wrong columns or fail deep in SciPy.
    sparse.check_csr(X, _batch_row)
    return _arrow_result(fn(sparse.csr(X.data, X.indices, X.indptr, n_features)))


def _batch_row(r: int) -> str:
    return f"row {r} of an Arrow batch of the vector column"


def sparse_features_udf(fn: Any, n_features: int, return_type: str, name: str) -> Any:
    """An Arrow UDF over a vector column: each batch becomes one CSR matrix (never a dense
    row) and ``fn`` maps it to one value per row (a 1-D array, a 2-D array giving an
    array per row, or a dict of those giving a struct). ``return_type``: its SQL type."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    def score(col: pa.Array) -> pa.Array:
        return _score_struct_batch(col, fn=fn, n_features=n_features, name=name)

    # arrow_udf infers its kind from real annotations; this module's are strings.
    score.__annotations__ = {"col": pa.Array, "return": pa.Array}
    return F.arrow_udf(score, return_type)  # type: ignore[attr-defined]


def with_sparse_features_column(df: Any, features_col: str, out_col: str, fn: Any,
                                n_features: int, return_type: str) -> Any:
    """``df`` with a column ``out_col`` computed from CSR batches of its vector column
    (:func:`sparse_features_udf`). Lazy: nothing runs until an action."""
    from pyspark.sql import functions as F

    udf = sparse_features_udf(fn, n_features, return_type, features_col)
    return df.withColumn(out_col, udf(F.col(features_col)))
