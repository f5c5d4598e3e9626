"""Converting records into blocks: RDD elements, Arrow batches of a DataFrame.

Conversion happens on the executors. A bad record does not raise there (Spark would
bury the message in a Java stack trace): the task emits a
:class:`~rddml.engine.records.BlockError`, and the driver raises
:class:`~rddml.errors.DataValidationError` with it after the one summary pass that also
counts rows and checks dimensions (:mod:`rddml.engine.records`). Rows become blocks in a
:class:`~rddml.engine.cutting.BlockCutter`.

A JVM DataFrame's partitions are read as the Arrow batches ``toPandas()`` reads
(:func:`_arrow_batch_rdd`), in plain Python RDD tasks; a DataFrame without a JVM
object behind it goes through ``mapInArrow`` (:func:`_pickled`, :func:`_arrow_to_handle`).
"""

from __future__ import annotations

import numbers
import pickle
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.engine.columns import arrow_batch_columns, arrow_batch_to_arrays
from rddml.engine.cutting import BlockCutter, check_finite, partition_row
from rddml.engine.records import Block, BlockError
from rddml.engine.sparse import check_csr, is_sparse
from rddml.engine.storage import Build, write_partition
from rddml.engine.widths import record_width

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame

#: Records turned into one matrix at a time (one ``np.asarray`` call) before cutting or
#: scoring.
RECORDS_PER_SLICE = 8192

#: Arrow batches of about 1 MiB for the DataFrame conversion (Spark's default of 10000
#: rows is 160 KB at two features): fewer batches, so less Python per batch, while a
#: batch stays small beside the block it is copied into.
ARROW_BATCH_BYTES = 1024 * 1024


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, bool)


def _parse_record(record: Any, kind: str) -> tuple[Any, Any, Any]:
    """Split one RDD element into (features, label, weight) according to ``kind``."""
    if kind == "points":
        # (point, weight) pairs: a 2-tuple whose first item is itself a sequence.
        if (
            isinstance(record, tuple)
            and len(record) == 2
            and not _is_scalar(record[0])
            and _is_scalar(record[1])
        ):
            return record[0], None, record[1]
        return record, None, None
    if not isinstance(record, (tuple, list)) or len(record) not in (2, 3):
        raise ValueError(
            f"expected a (features, label) or (features, label, weight) tuple, got {record!r:.80}"
        )
    weight = record[2] if len(record) == 3 else None
    return record[0], record[1], weight


def checked_batch_arrays(
    batch: Any, has_y: bool, has_w: bool, names: dict[str, Any], first_row: int
) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """One Arrow batch's arrays, with NaN/±Inf reported as "row N of the partition"
    (raises ValueError, which the tasks turn into a :class:`BlockError`)."""
    X, y, w = arrow_batch_to_arrays(batch, has_y, has_w, names, first_row)
    where = partial(partition_row, base=first_row)
    if is_sparse(X):
        check_csr(X, where)
    else:
        check_finite(X, where)
    if y is not None:
        check_finite(y, where, "label")
    if w is not None:
        check_finite(w, where, "weight")
    return X, y, w


def checked_batches(
    batches: Iterable[Any], has_y: bool, has_w: bool, names: dict[str, Any]
) -> Iterator[tuple[int, Any, np.ndarray | None, np.ndarray | None]]:
    """A partition's non-empty Arrow batches as checked arrays, each with its first row
    (finite values, and one number of features, at least 1, across the partition); raises
    ValueError, which the tasks turn into a :class:`BlockError`. The DataFrame backend
    reads its partitions through it; the RDD backend's :func:`_arrow_to_blocks` makes the
    same checks with the same messages while it copies the columns into blocks."""
    seen = 0
    width: int | None = None
    for batch in batches:
        X, y, w = checked_batch_arrays(batch, has_y, has_w, names, seen)
        if X.shape[0]:
            where = f"row {seen} of the partition"
            if width is not None and X.shape[1] != width:
                raise ValueError(f"{where} has {X.shape[1]} features, expected {width} "
                                 "like the first row of the partition")
            width = X.shape[1]
            if width == 0:
                raise ValueError(f"{where} has no features")
            yield seen, X, y, w
        seen += X.shape[0]


def sparse_features(x: Any) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(indices, values, size)`` of a sparse record's features (a ``pyspark.ml`` or
    ``pyspark.mllib`` SparseVector, or a one-row SciPy sparse matrix); None otherwise."""
    if isinstance(x, np.ndarray):
        return None
    if hasattr(x, "indices") and hasattr(x, "values") and hasattr(x, "size"):
        return (np.asarray(x.indices, dtype=np.int64), np.asarray(x.values, dtype=np.float64),
                int(x.size))
    if hasattr(x, "tocsr") and getattr(x, "ndim", 0) == 2 and x.shape[0] == 1:
        m = x.tocsr()
        m.sum_duplicates()
        return (np.asarray(m.indices, dtype=np.int64), np.asarray(m.data, dtype=np.float64),
                int(m.shape[1]))
    return None


class BadVectorIndex(ValueError):
    """A sparse vector's index outside ``0 .. size - 1`` (densifying it would wrap a
    negative index to the end of the row, or fail deep in NumPy)."""


def dense_features(x: Any) -> np.ndarray:
    """A record's features as a float64 vector (vectors and SciPy rows densified).
    Raises :class:`BadVectorIndex` for a sparse vector with an index out of its size."""
    if hasattr(x, "toArray"):
        indices = getattr(x, "indices", None)
        if indices is not None and len(indices):
            size = int(x.size)
            bad = np.flatnonzero((np.asarray(indices) < 0) | (np.asarray(indices) >= size))
            if bad.size:
                raise BadVectorIndex(f"has the feature index {int(indices[bad[0]])}, outside "
                                     f"0 .. {size - 1} (the vectors have {size} features)")
        return np.asarray(x.toArray(), dtype=np.float64)
    if hasattr(x, "toarray") and getattr(x, "ndim", 0) == 2:
        return np.asarray(x.toarray(), dtype=np.float64).reshape(-1)
    return np.asarray(x, dtype=np.float64)


def records_matrix(features: list[Any], d: int, *, partition: int = 0, first: int = 0) -> Any:
    """Features of records (for scoring) as one matrix: a CSR matrix when the first is
    sparse (:func:`sparse_features`), else a dense (n, d) array. Raises ValueError for a
    record of another width, or a sparse one whose indices break the CSR form (naming
    it as element ``first + i`` of ``partition``)."""
    if features and sparse_features(features[0]) is not None:
        rows = []
        for x in features:
            sx = sparse_features(x)
            if sx is None:
                dense = dense_features(x)
                nz = np.flatnonzero(dense)
                sx = (nz, dense[nz], dense.shape[0])
            if sx[2] != d:
                raise ValueError(f"the model was fitted on {d} features, but a record has "
                                 f"{sx[2]}")
            rows.append(sx[:2])
        X = _csr_rows(rows, d)
        check_csr(X, partial(_element, partition=partition, offset=first))
        return X
    rows_dense = []
    for i, x in enumerate(features):
        try:
            rows_dense.append(dense_features(x))
        except BadVectorIndex as exc:
            raise ValueError(f"{_element(i, partition=partition, offset=first)} {exc}") from None
    return np.asarray(rows_dense, dtype=np.float64).reshape(len(features), d)


def score_records(
    partition: int, records: Iterable[Any], *, d: int, features_of: Callable[[Any], Any],
    score: Callable[[Any], np.ndarray],
) -> Iterator[Any]:
    """Score an RDD partition's records in their order, :data:`RECORDS_PER_SLICE` at a
    time: ``score`` of the :func:`records_matrix` of the records' features
    (``features_of`` of each record), as Python values (one per row of the result).

    Raises ValueError naming the element of ``partition`` that has not ``d`` features.
    """
    chunk: list[Any] = []
    done = 0

    def flush() -> list[Any]:
        nonlocal done
        try:
            X = records_matrix(chunk, d, partition=partition, first=done)
        except ValueError:
            # Only on the error path: name the first element of another width.
            bad = next((i for i, f in enumerate(chunk) if record_width(f) != d), None)
            if bad is None:
                raise
            raise ValueError(
                f"element {done + bad} of partition {partition} has "
                f"{record_width(chunk[bad])} features, but the model was fitted on {d}"
            ) from None
        done += len(chunk)
        chunk.clear()
        return score(X).tolist()  # type: ignore[no-any-return]

    for record in records:
        chunk.append(features_of(record))
        if len(chunk) >= RECORDS_PER_SLICE:
            yield from flush()
    if chunk:
        yield from flush()


def _csr_rows(rows: list[tuple[np.ndarray, np.ndarray]], d: int) -> Any:
    """CSR matrix of ``(indices, values)`` rows (checked later by the cutter)."""
    from rddml.engine import sparse

    lengths = np.array([len(r[0]) for r in rows], dtype=np.int64)
    nnz = int(lengths.sum())
    itype = sparse.index_dtype(d, nnz)
    indptr = np.zeros(len(rows) + 1, dtype=itype)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate([r[0] for r in rows]).astype(itype) if nnz else np.zeros(0, itype)
    values = np.concatenate([r[1] for r in rows]) if nnz else np.zeros(0)
    return sparse.csr(values.astype(np.float64, copy=False), indices, indptr, d)


def records_to_blocks(
    partition: int,
    records: Iterable[Any],
    *,
    kind: str,
    max_rows: int | None = None,
    layout: str = "dense",
) -> Iterator[Block | BlockError]:
    """Convert the records of one partition to blocks (runs on the executors).

    ``layout="sparse"`` makes CSR blocks (sparse records keep their indices and values,
    dense ones their non-zeros); ``"auto"`` does so when the partition's first record is
    sparse (:func:`sparse_features`); ``"dense"`` densifies sparse records.
    """
    where = partial(_element, partition=partition)
    cutter: BlockCutter | None = None  # made at the first record, which says if rows are weighted
    n_features: int | None = None
    weighted: bool | None = None
    sparse_rows: bool | None = None
    feats: list[Any] = []
    labels: list[Any] = []
    weights: list[Any] = []
    index = 0

    def flush_rows() -> Iterator[Block]:
        if sparse_rows:
            X = _csr_rows(feats, n_features or 0)
        else:
            X = np.asarray(feats, dtype=np.float64).reshape(len(feats), n_features or 0)
        y = np.asarray(labels, dtype=np.float64) if kind == "labeled" else None
        w = np.asarray(weights, dtype=np.float64) if weighted else None
        feats.clear()
        labels.clear()
        weights.clear()
        assert cutter is not None
        yield from cutter.add(X, y, w)

    try:
        for record in records:
            x, label, weight = _parse_record(record, kind)
            if sparse_rows is None:
                sparse_rows = layout == "sparse" or (
                    layout == "auto" and sparse_features(x) is not None)
            sparse_x = sparse_features(x) if sparse_rows else None
            if sparse_x is not None:
                row: Any = sparse_x[:2]
                width = sparse_x[2]
            else:
                try:
                    dense = dense_features(x)
                except BadVectorIndex as exc:
                    raise ValueError(f"{where(index)} {exc}") from None
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"{where(index)} is not numeric: {x!r:.80} ({exc})") from None
                if dense.ndim != 1:
                    raise ValueError(
                        f"{where(index)} must be a flat sequence of numbers, got {x!r:.80}"
                    )
                width = dense.shape[0]
                nz = np.flatnonzero(dense)
                row = (nz, dense[nz]) if sparse_rows else dense
            if n_features is None:
                n_features = width
                weighted = weight is not None
                if n_features == 0:
                    raise ValueError(f"{where(index)} has no features")
                cutter = BlockCutter(partition, max_rows, kind == "labeled", weighted,
                                     where=where, layout="sparse" if sparse_rows else "dense")
            elif width != n_features:
                raise ValueError(
                    f"{where(index)} has {width} features, expected {n_features} "
                    "like the first element of the partition"
                )
            if (weight is not None) != weighted:
                raise ValueError(f"{where(index)} mixes weighted and unweighted records")
            if kind == "labeled":
                if not _is_scalar(label):
                    raise ValueError(f"{where(index)} has a non-numeric label {label!r:.40}")
                labels.append(label)
            if weighted:
                if not _is_scalar(weight):
                    raise ValueError(f"{where(index)} has a non-numeric weight {weight!r:.40}")
                weights.append(weight)
            feats.append(row)
            index += 1
            if len(feats) >= RECORDS_PER_SLICE:
                yield from flush_rows()
        if feats:
            yield from flush_rows()
        if cutter is not None:
            yield from cutter.flush()
    except ValueError as exc:
        yield BlockError(str(exc))


def _element(i: int, *, partition: int, offset: int = 0) -> str:
    return f"element {offset + i} of partition {partition}"


def _records_task(index: int, records: Iterable[Any], *, kind: str,
                  max_rows: int | None, layout: str = "dense") -> Iterator[Block | BlockError]:
    return records_to_blocks(index, records, kind=kind, max_rows=max_rows, layout=layout)


def _unpickle_payload(row: Any) -> Any:
    return pickle.loads(row[1])


def _renumber_partition(index: int, items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, Block):
            yield item._replace(partition=index)
        else:
            yield item


def _arrow_to_blocks(
    batches: Iterable[Any],
    names: dict[str, Any],
    has_y: bool,
    has_w: bool,
    max_rows: int | None,
    partition: int = 0,
    layout: str = "dense",
) -> Iterator[Block | BlockError]:
    """A partition's Arrow batches as validated blocks (or the first error): each batch's
    columns are copied straight into the blocks, no per-batch matrix is made (a vector
    column selected sparse becomes a CSR slice per batch; ``layout``: the blocks')."""
    cutter = BlockCutter(partition, max_rows, has_y, has_w, layout=layout)
    try:
        for batch in batches:
            n = batch.num_rows
            if not n:
                continue
            X, y, w = arrow_batch_columns(batch, has_y, has_w, names, cutter.rows)
            yield from cutter.add(X, y, w, n)
        yield from cutter.flush()
    except ValueError as exc:
        yield BlockError(str(exc))


def arrow_batch_rows(n_columns: int) -> int:
    """Rows per Arrow batch of the conversion's export: about :data:`ARROW_BATCH_BYTES`
    of doubles, and never fewer than Spark's default of 10000 rows."""
    return max(10000, ARROW_BATCH_BYTES // (8 * max(1, n_columns)))


def _arrow_batch_rdd(df: DataFrame, max_records: int | None = None) -> RDD[bytes] | None:
    """The DataFrame's partitions as Arrow IPC record-batch messages, or None when the
    JVM method is not reachable (no JVM DataFrame, another Spark version).

    ``Dataset.toArrowBatchRdd`` is what ``toPandas()`` runs on the executors. Read in a
    plain Python RDD task it avoids the Python-runner machinery of ``mapInArrow``, which
    dominates the conversion's JVM time (docs/benchmark/analysis-2026-12-02.md).

    ``max_records``: rows per batch for this export only. The session's
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` is never written (another thread's
    query, or a concurrent conversion, would see it): the value goes to the export
    itself (:func:`_jvm_arrow_batches`).
    """
    from py4j.protocol import Py4JError
    from pyspark.rdd import RDD
    from pyspark.serializers import NoOpSerializer

    jdf = getattr(df, "_jdf", None)
    if jdf is None:  # no JVM Dataset behind this DataFrame object
        return None
    try:
        jrdd = _jvm_arrow_batches(jdf, max_records, df.sparkSession.sparkContext._jvm).toJavaRDD()
    except (AttributeError, Py4JError):
        return None
    return RDD(jrdd, df.sparkSession.sparkContext, NoOpSerializer())


def _jvm_arrow_batches(jdf: Any, max_records: int | None, jvm: Any) -> Any:
    """The JVM ``RDD[Array[Byte]]`` of Arrow batches of ``jdf``, ``max_records`` rows each.

    Spark 4 has ``toArrowBatchRdd(maxRecordsPerBatch, timeZoneId, ...)``, which takes the
    value per call; the other settings are read from the session as the no-argument
    method reads them. Spark 3.5 reads the batch size from the session's SQL conf when
    the RDD is made, so there the export runs on a clone of the session (same conf,
    temporary views and cache, one setting changed), never on the user's.
    """
    from py4j.protocol import Py4JError

    if max_records is None:
        return jdf.toArrowBatchRdd()
    session = jdf.sparkSession()
    conf = session.sessionState().conf()
    try:
        return jdf.toArrowBatchRdd(int(max_records), conf.sessionLocalTimeZone(),
                                   conf.pandasStructHandlingMode() == "legacy",
                                   conf.arrowUseLargeVarTypes())
    except Py4JError:
        pass
    clone = session.cloneSession()
    clone.conf().set("spark.sql.execution.arrow.maxRecordsPerBatch", str(int(max_records)))
    return _dataset_class(jdf, jvm).ofRows(clone, jdf.logicalPlan()).toArrowBatchRdd()


def _dataset_class(jdf: Any, jvm: Any) -> Any:
    """The JVM ``Dataset`` class (with the static ``ofRows``) of ``jdf``'s Spark version."""
    node: Any = jvm
    for part in jdf.getClass().getName().split("."):  # org.apache.spark.sql(.classic).Dataset
        node = getattr(node, part)
    return node


def _ipc_to_blocks(index: int, messages: Iterable[bytes], *, schema: Any,
                   to_blocks: Callable[..., Iterator[Any]]) -> Iterator[Any]:
    """``mapPartitionsWithIndex`` task: Arrow IPC messages → validated blocks."""
    import pyarrow as pa

    batches = (pa.ipc.read_record_batch(pa.py_buffer(m), schema) for m in messages)
    return to_blocks(batches, partition=index)  # type: ignore[no-any-return]


def _payload_batch(item: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array([0], pa.int32()), pa.array([pickle.dumps(item, protocol=5)], pa.binary())],
        names=["partition", "payload"],
    )


def _pickled(batches: Iterable[Any], *, to_blocks: Callable[..., Iterator[Any]]) -> Iterator[Any]:
    """``mapInArrow`` task: each block pickled into a one-row batch (Spark storage)."""
    for item in to_blocks(batches):
        yield _payload_batch(item)


def _arrow_to_handle(batches: Iterable[Any], *, to_blocks: Callable[..., Iterator[Any]],
                     build: Build) -> Iterator[Any]:
    """``mapInArrow`` task: blocks written as files on this executor; one handle out."""
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = 0 if context is None else int(context.partitionId())
    blocks = (item._replace(partition=partition) if isinstance(item, Block) else item
              for item in to_blocks(batches))
    yield _payload_batch(write_partition(partition, blocks, build=build))
