"""Block datasets: the input cached once as NumPy blocks per partition.

Every iteration of every estimator works on blocks, never on per-record Python
objects. A :class:`BlockDataset` wraps an RDD of :class:`Block` tuples (features
matrix, optional labels and weights, and the block's position so each row has a
global index), persisted ``MEMORY_AND_DISK`` so executor loss or memory pressure
never forces re-reading and re-parsing the source.

Conversion happens on the executors. A bad record does not raise there (Spark
would bury the message in a Java stack trace): the task emits a
:class:`BlockError`, and the driver raises :class:`DataValidationError` with it
after the one summary pass that also counts rows and checks dimensions.

Examples
--------
>>> ds = BlockDataset.from_rdd(sc.parallelize([[0.0, 1.0], [2.0, 3.0]], 2))  # doctest: +SKIP
>>> ds.n_rows, ds.n_features  # doctest: +SKIP
(2, 2)
>>> ds.unpersist()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import numbers
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rddml.errors import DataValidationError, InvalidParameterError

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

#: Aim for blocks of about 4 MiB of features: large enough that NumPy's per-call
#: overhead vanishes, small enough that an (n, k) distance matrix stays cheap.
TARGET_BLOCK_BYTES = 4 * 1024 * 1024


def default_block_rows(n_features: int) -> int:
    """Rows per block for a given number of features."""
    return max(1024, TARGET_BLOCK_BYTES // (8 * max(1, n_features)))


class Block(NamedTuple):
    """A slice of consecutive rows of one partition."""

    partition: int
    start: int
    X: np.ndarray
    y: np.ndarray | None
    w: np.ndarray | None


class BlockError(NamedTuple):
    """A conversion failure, carried back to the driver instead of raised on an executor.

    ``file``/``offset`` locate the bad line of a text input by byte offset; the driver
    turns that into a line number only when it has to report the error.
    """

    message: str
    file: str | None = None
    offset: int | None = None


class SkippedRows(NamedTuple):
    """Rows a partition dropped because the user asked for ``on_bad_rows="skip"``."""

    n_rows: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class PartitionSummary:
    """What the summary pass learns about one partition."""

    partition: int
    n_rows: int
    n_features: int | None
    has_labels: bool
    has_weights: bool
    labels: tuple[float, ...]
    min_weight: float | None
    error: BlockError | None
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()


class _BlockBuilder:
    """Accumulates validated rows of one partition and cuts them into blocks."""

    def __init__(self, partition: int, max_rows: int | None) -> None:
        self.partition = partition
        self.max_rows = max_rows
        self.start = 0
        self.xs: list[np.ndarray] = []
        self.ys: list[np.ndarray] = []
        self.ws: list[np.ndarray] = []
        self.pending = 0

    def add(self, X: np.ndarray, y: np.ndarray | None, w: np.ndarray | None) -> Iterator[Block]:
        self.xs.append(X)
        if y is not None:
            self.ys.append(y)
        if w is not None:
            self.ws.append(w)
        self.pending += X.shape[0]
        limit = self.max_rows or default_block_rows(X.shape[1])
        if self.pending >= limit:
            yield from self.flush()

    def flush(self) -> Iterator[Block]:
        if not self.pending:
            return
        X = np.ascontiguousarray(np.concatenate(self.xs) if len(self.xs) > 1 else self.xs[0])
        y = np.concatenate(self.ys) if self.ys else None
        w = np.concatenate(self.ws) if self.ws else None
        yield Block(self.partition, self.start, X, y, w)
        self.start += self.pending
        self.xs, self.ys, self.ws, self.pending = [], [], [], 0


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


def _check_finite(X: np.ndarray, where: Callable[[int], str], what: str = "features") -> None:
    """Raise ValueError naming the first row (and feature) holding NaN or ±Inf."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    if bad.ndim == 2:
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        col = int(np.flatnonzero(bad[row])[0])
        raise ValueError(
            f"{where(row)} has a non-finite value {float(X[row, col])!r} in feature {col}; "
            "expected finite numbers"
        )
    row = int(np.flatnonzero(bad)[0])
    raise ValueError(f"{where(row)} has a non-finite {what} {float(X[row])!r}; expected a "
                     "finite number")


def records_to_blocks(
    partition: int,
    records: Iterable[Any],
    *,
    kind: str,
    max_rows: int | None = None,
) -> Iterator[Block | BlockError]:
    """Convert the records of one partition to blocks (runs on the executors)."""
    builder = _BlockBuilder(partition, max_rows)
    n_features: int | None = None
    weighted: bool | None = None
    feats: list[Any] = []
    labels: list[Any] = []
    weights: list[Any] = []
    index = 0

    def where(i: int) -> str:
        return f"element {i} of partition {partition}"

    def flush_rows() -> Iterator[Block]:
        base = index - len(feats)
        X = np.asarray(feats, dtype=np.float64).reshape(len(feats), n_features or 0)
        _check_finite(X, lambda r: where(base + r))
        y = w = None
        if kind == "labeled":
            y = np.asarray(labels, dtype=np.float64)
            _check_finite(y, lambda r: where(base + r), "label")
        if weighted:
            w = np.asarray(weights, dtype=np.float64)
            _check_finite(w, lambda r: where(base + r), "weight")
        feats.clear()
        labels.clear()
        weights.clear()
        yield from builder.add(X, y, w)

    try:
        for record in records:
            x, label, weight = _parse_record(record, kind)
            try:
                row = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where(index)} is not numeric: {x!r:.80} ({exc})") from None
            if row.ndim != 1:
                raise ValueError(
                    f"{where(index)} must be a flat sequence of numbers, got {x!r:.80}"
                )
            if n_features is None:
                n_features = row.shape[0]
                weighted = weight is not None
                if n_features == 0:
                    raise ValueError(f"{where(index)} has no features")
            elif row.shape[0] != n_features:
                raise ValueError(
                    f"{where(index)} has {row.shape[0]} features, expected {n_features} "
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
            if len(feats) >= 8192:
                yield from flush_rows()
        if feats:
            yield from flush_rows()
        yield from builder.flush()
    except ValueError as exc:
        yield BlockError(str(exc))


def summarise_partition(
    partition: int, items: Iterable[Block | BlockError | SkippedRows]
) -> PartitionSummary:
    """One partition's row count, width, label set and first error (runs on the executors)."""
    n_rows = 0
    n_features: int | None = None
    has_y = has_w = False
    labels: set[float] = set()
    min_w: float | None = None
    skipped = 0
    examples: list[str] = []
    for item in items:
        if isinstance(item, BlockError):
            return PartitionSummary(partition, n_rows, n_features, has_y, has_w, (), None, item)
        if isinstance(item, SkippedRows):
            skipped += item.n_rows
            examples.extend(item.examples[: max(0, 5 - len(examples))])
            continue
        n_rows += item.X.shape[0]
        if n_features is not None and item.X.shape[1] != n_features:
            return PartitionSummary(
                partition, n_rows, n_features, has_y, has_w, (), None,
                BlockError(f"partition {partition} has blocks of {n_features} and "
                           f"{item.X.shape[1]} features"),
            )
        n_features = item.X.shape[1]
        if item.y is not None:
            has_y = True
            if len(labels) <= 16:
                labels.update(np.unique(item.y).tolist())
        if item.w is not None:
            has_w = True
            bmin = float(item.w.min()) if item.w.size else None
            if bmin is not None:
                min_w = bmin if min_w is None else min(min_w, bmin)
    return PartitionSummary(
        partition, n_rows, n_features, has_y, has_w, tuple(sorted(labels)), min_w, None,
        skipped, tuple(examples),
    )


class BlockDataset:
    """An RDD of NumPy blocks, persisted, with its size and global row offsets.

    Build one with :meth:`from_rdd`, :meth:`from_dataframe` or
    :func:`rddml.data.text.read_points_csv`; estimators accept it directly, so a
    dataset cached once can be reused across fits. It is a context manager that
    unpersists on exit.

    Attributes
    ----------
    rdd : RDD of Block
    n_rows, n_features : int
    partition_offsets : ndarray of int64, the global index of each partition's first row
    has_labels, has_weights : bool
    labels : tuple of float, the distinct label values (up to 17)
    min_weight : float or None
    """

    def __init__(self, rdd: RDD[Any], summaries: list[PartitionSummary]) -> None:
        self.rdd = rdd
        self._cached = rdd  # what unpersist releases (rdd may be a filter over it)
        summaries = sorted(summaries, key=lambda s: s.partition)
        widths = {s.n_features for s in summaries if s.n_features is not None}
        self.n_rows = int(sum(s.n_rows for s in summaries))
        self.n_features = int(widths.pop()) if widths else 0
        counts = np.zeros(rdd.getNumPartitions() + 1, dtype=np.int64)
        for s in summaries:
            counts[s.partition + 1] = s.n_rows
        self.partition_offsets = np.cumsum(counts)[:-1]
        self.has_labels = any(s.has_labels for s in summaries)
        self.has_weights = any(s.has_weights for s in summaries)
        labels: set[float] = set()
        for s in summaries:
            labels.update(s.labels)
        self.labels = tuple(sorted(labels))
        weights = [s.min_weight for s in summaries if s.min_weight is not None]
        self.min_weight = min(weights) if weights else None
        self.n_skipped = int(sum(s.skipped for s in summaries))
        self.skipped_examples = tuple(e for s in summaries for e in s.skipped_examples)[:5]

    @property
    def num_partitions(self) -> int:
        return int(self.rdd.getNumPartitions())

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_blocks(
        cls,
        rdd: RDD[Any],
        *,
        source: str = "the input",
        describe_error: Callable[[BlockError], str] | None = None,
    ) -> BlockDataset:
        """Persist an RDD of ``Block``/``BlockError``/``SkippedRows`` items, summarise it
        (one job), and raise :class:`DataValidationError` for the first error found."""
        from pyspark import StorageLevel

        cached = rdd.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            summaries: list[PartitionSummary] = cached.mapPartitionsWithIndex(
                _summary_task
            ).collect()
            errors = [s.error for s in sorted(summaries, key=lambda s: s.partition) if s.error]
            if errors:
                if describe_error is not None:
                    raise DataValidationError(describe_error(errors[0]))
                raise DataValidationError(f"Invalid data in {source}: {errors[0].message}")
            widths = sorted({s.n_features for s in summaries if s.n_features is not None})
            if len(widths) > 1:
                raise DataValidationError(
                    f"Invalid data in {source}: rows have differing numbers of features "
                    f"{widths} in different partitions; every row needs the same dimension."
                )
            if sum(s.n_rows for s in summaries) == 0:
                raise DataValidationError(f"Invalid data in {source}: it has no rows (empty input).")
        except BaseException:
            cached.unpersist()
            raise
        dataset = cls(cached.filter(_is_block) if any(s.skipped for s in summaries) else cached,
                      summaries)
        dataset._cached = cached
        return dataset

    @classmethod
    def from_numpy(
        cls,
        sc: Any,
        X: np.ndarray,
        y: np.ndarray | None = None,
        w: np.ndarray | None = None,
        *,
        num_partitions: int | None = None,
        max_block_rows: int | None = None,
    ) -> BlockDataset:
        """Distribute arrays held by the driver (small data, tests, benchmarks).

        Rows keep their order: row ``i`` of ``X`` has global index ``i``.
        """
        X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        if X.ndim != 2:
            raise InvalidParameterError(f"X must be a 2-D array, got shape {X.shape}.")
        parts = num_partitions or sc.defaultParallelism
        limit = max_block_rows or default_block_rows(X.shape[1])
        bounds = np.linspace(0, X.shape[0], parts + 1).astype(int)
        by_partition: list[list[Block | BlockError]] = [[] for _ in range(parts)]
        for p in range(parts):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            for start in range(lo, hi, limit):
                stop = min(hi, start + limit)
                block = Block(p, start - lo, X[start:stop],
                              None if y is None else np.asarray(y[start:stop], dtype=np.float64),
                              None if w is None else np.asarray(w[start:stop], dtype=np.float64))
                where = partial(_row_label, offset=start)
                try:
                    _check_finite(block.X, where)
                    if block.y is not None:
                        _check_finite(block.y, where, "label")
                    if block.w is not None:
                        _check_finite(block.w, where, "weight")
                except ValueError as exc:
                    by_partition[p].append(BlockError(str(exc)))
                    continue
                by_partition[p].append(block)
        rdd = sc.parallelize(by_partition, parts).flatMap(_identity_list)
        return cls.from_blocks(rdd, source="the arrays")

    @classmethod
    def from_rdd(
        cls, rdd: RDD[Any], *, labeled: bool = False, max_block_rows: int | None = None
    ) -> BlockDataset:
        """Cache an RDD of points (or ``(point, weight)`` pairs), or with ``labeled=True``
        of ``(features, label)`` / ``(features, label, weight)`` tuples, as blocks."""
        kind = "labeled" if labeled else "points"
        blocks = rdd.mapPartitionsWithIndex(
            lambda i, it: records_to_blocks(i, it, kind=kind, max_rows=max_block_rows)
        )
        return cls.from_blocks(blocks, source="the RDD")

    @classmethod
    def from_dataframe(
        cls,
        df: DataFrame,
        *,
        features_col: str | None = "features",
        feature_cols: list[str] | None = None,
        label_col: str | None = None,
        weight_col: str | None = None,
        max_block_rows: int | None = None,
    ) -> BlockDataset:
        """Cache the feature (and label/weight) columns of a DataFrame as blocks.

        Columns are read through Arrow batches, so no per-row Python object is made.
        """
        selected = select_model_columns(
            df, features_col=features_col, feature_cols=feature_cols,
            label_col=label_col, weight_col=weight_col,
        )
        names = _column_names(features_col, feature_cols, label_col, weight_col)
        max_rows = max_block_rows
        has_y = label_col is not None
        has_w = weight_col is not None

        def to_blocks(batches: Iterable[Any]) -> Iterator[Any]:
            return _arrow_to_pickled_blocks(batches, names, has_y, has_w, max_rows)

        packed = selected.mapInArrow(to_blocks, "partition int, payload binary")
        blocks = packed.rdd.map(lambda row: pickle.loads(row[1]))
        # mapInArrow does not know its partition index; renumber so offsets are global.
        blocks = blocks.mapPartitionsWithIndex(_renumber_partition)
        return cls.from_blocks(blocks, source=f"DataFrame columns {names['describe']}")

    # ---------------------------------------------------------------- lifecycle
    def unpersist(self) -> None:
        """Release the cached blocks (blocking=False: executors drop them in the background)."""
        self._cached.unpersist()

    def __enter__(self) -> BlockDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unpersist()

    def __repr__(self) -> str:
        return (
            f"BlockDataset(n_rows={self.n_rows}, n_features={self.n_features}, "
            f"partitions={self.num_partitions}, labels={self.has_labels}, "
            f"weights={self.has_weights})"
        )


def _row_label(r: int, *, offset: int) -> str:
    return f"row {offset + r}"


def _identity_list(items: list[Any]) -> list[Any]:
    return items


def _summary_task(index: int, items: Iterable[Any]) -> list[PartitionSummary]:
    return [summarise_partition(index, items)]


def _is_block(item: Any) -> bool:
    return isinstance(item, Block)


def _renumber_partition(index: int, items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, Block):
            yield item._replace(partition=index)
        else:
            yield item


def _column_names(
    features_col: str | None,
    feature_cols: list[str] | None,
    label_col: str | None,
    weight_col: str | None,
) -> dict[str, Any]:
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
    feature_cols: list[str] | None,
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


def _arrow_to_pickled_blocks(
    batches: Iterable[Any],
    names: dict[str, Any],
    has_y: bool,
    has_w: bool,
    max_rows: int | None,
) -> Iterator[Any]:
    import pyarrow as pa

    builder = _BlockBuilder(0, max_rows)
    seen = 0

    def pack(item: Block | BlockError) -> Any:
        return pa.RecordBatch.from_arrays(
            [pa.array([0], pa.int32()), pa.array([pickle.dumps(item, protocol=5)], pa.binary())],
            names=["partition", "payload"],
        )

    try:
        for batch in batches:
            X, y, w = arrow_batch_to_arrays(batch, has_y, has_w, names, seen)

            def where(r: int, base: int = seen) -> str:
                return f"row {base + r} of the partition"

            _check_finite(X, where)
            if y is not None:
                _check_finite(y, where, "label")
            if w is not None:
                _check_finite(w, where, "weight")
            seen += X.shape[0]
            if X.shape[0]:
                for block in builder.add(X, y, w):
                    yield pack(block)
        for block in builder.flush():
            yield pack(block)
    except ValueError as exc:
        yield pack(BlockError(str(exc)))
