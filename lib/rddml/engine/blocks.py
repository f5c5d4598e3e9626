"""Block datasets: the input cached once as NumPy blocks per partition.

Every iteration of every estimator works on blocks, never on per-record Python
objects. A :class:`BlockDataset` (the RDD backend of :mod:`rddml.engine.dataset`)
keeps an RDD of :class:`Block` tuples (features matrix, optional labels and weights,
and the block's position so each row has a global index), persisted
``MEMORY_AND_DISK`` so executor loss or memory pressure never forces re-reading and
re-parsing the source. This module also converts records (RDD elements, Arrow
batches) into blocks.

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
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rddml.engine import dataset as engine
from rddml.engine.columns import (
    arrow_batch_columns,
    arrow_batch_to_arrays,
    column_names,
    select_model_columns,
)
from rddml.engine.dataset import BlockFn, BlockView, Carrier, Dataset, KeyedMerge, Transform
from rddml.engine.records import (
    Block,
    BlockError,
    PartitionSummary,
    SkippedRows,
    apply_summaries,
    check_summaries,
    summarise_partition,
)
from rddml.engine.storage import (
    STORAGES,
    Build,
    ExecutorStorage,
    handles_from_blocks,
    write_partition,
)
from rddml.errors import InvalidParameterError

__all__ = ["Block", "BlockDataset", "BlockError", "SkippedRows", "default_block_rows",
           "records_to_blocks", "summarise_partition"]

T = TypeVar("T")

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

#: Aim for blocks of about 4 MiB of features: large enough that NumPy's per-call
#: overhead vanishes, small enough that an (n, k) distance matrix stays cheap.
TARGET_BLOCK_BYTES = 4 * 1024 * 1024
#: Arrow batches of about 1 MiB for the DataFrame conversion (Spark's default of 10000
#: rows is 160 KB at two features): fewer batches, so less Python per batch, while a
#: batch stays small beside the block it is copied into.
ARROW_BATCH_BYTES = 1024 * 1024


def default_block_rows(n_features: int) -> int:
    """Rows per block for a given number of features."""
    return max(1024, TARGET_BLOCK_BYTES // (8 * max(1, n_features)))


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
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X)):  # NaN or ±Inf anywhere makes the sum non-finite
            return
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


def _partition_row(r: int, *, base: int) -> str:
    return f"row {base + r} of the partition"


def checked_batch_arrays(
    batch: Any, has_y: bool, has_w: bool, names: dict[str, Any], first_row: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One Arrow batch's arrays, with NaN/±Inf reported as "row N of the partition"
    (raises ValueError, which the tasks turn into a :class:`BlockError`)."""
    X, y, w = arrow_batch_to_arrays(batch, has_y, has_w, names, first_row)
    where = partial(_partition_row, base=first_row)
    _check_finite(X, where)
    if y is not None:
        _check_finite(y, where, "label")
    if w is not None:
        _check_finite(w, where, "weight")
    return X, y, w


def checked_batches(
    batches: Iterable[Any], has_y: bool, has_w: bool, names: dict[str, Any]
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None, np.ndarray | None]]:
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


class BlockDataset(Dataset):
    """The RDD backend's dataset: NumPy blocks cached in Spark's block manager.

    Build one with :meth:`from_rdd`, :meth:`from_dataframe`, :meth:`from_numpy` or
    :func:`rddml.csv_input.read_points_csv`; estimators accept it directly, so a
    dataset cached once can be reused across fits. It is a context manager that
    unpersists on exit. The blocks are persisted ``MEMORY_AND_DISK``, so executor loss
    or memory pressure never forces re-reading and re-parsing the source. How they
    are stored is private: algorithms run passes (:class:`~rddml.engine.dataset.Dataset`).

    Attributes
    ----------
    n_rows, n_features, num_partitions : int
    partition_offsets : ndarray of int64, the global index of each partition's first row
    has_labels, has_weights : bool
    labels : tuple of float, the distinct label values (up to 17)
    min_weight : float or None
    digest : str
    label_census : LabelCensus or None, the labelled rows' per-class feature moments
    """

    backend = "rdd"

    def __init__(self, storage: Any, summaries: list[PartitionSummary]) -> None:
        self._storage = storage
        self._state = engine.CacheState()
        apply_summaries(self, summaries)
        counts = np.zeros(storage.rdd.getNumPartitions() + 1, dtype=np.int64)
        for s in summaries:
            counts[s.partition + 1] = s.n_rows
        self.partition_offsets = np.cumsum(counts)[:-1]

    @property
    def num_partitions(self) -> int:
        return int(self._storage.rdd.getNumPartitions())

    @property
    def storage(self) -> str:
        """Where the blocks are kept: ``"spark"`` (block manager) or ``"executor"`` (files)."""
        return str(self._storage.name)

    @property
    def _blocks(self) -> RDD[Any]:
        """The stored items (blocks or handles); only the storage knows how to read them."""
        return self._storage.rdd  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ passes
    def _carrier(self, params: Any) -> tuple[Any, Any]:
        """``(carrier, broadcast or None)``: large parameters travel as a broadcast."""
        if engine.payload_bytes(params) >= engine.BROADCAST_MIN_BYTES:
            bc = self._blocks.context.broadcast(params)
            return bc, bc
        return Carrier(params), None

    def _tasks(self, task: Callable[..., Iterator[Any]], fn: BlockFn, carrier: Any,
               **extra: Any) -> RDD[Any]:
        """The lazy RDD of ``task`` over every partition of the stored blocks."""
        views = self._storage.views(self.partition_offsets, self._transforms)
        return self._storage.rdd.mapPartitions(  # type: ignore[no-any-return]
            partial(task, views=views, carrier=carrier, fn=fn, **extra))

    def _job(self, params: Any, action: Callable[[Any], T]) -> T:
        """Run ``action(carrier)`` (one Spark job) through the storage, which may rebuild
        lost blocks and run it again; the broadcast, if any, is released afterwards."""
        self._check_live()
        carrier, bc = self._carrier(params)
        try:
            return self._storage.run(partial(action, carrier))  # type: ignore[no-any-return]
        finally:
            if bc is not None:
                bc.unpersist()

    def aggregate(self, fn: BlockFn, params: Any, zero: T, merge: Callable[[T, T], T]) -> T:
        depth = engine.tree_depth(self.num_partitions)

        def action(carrier: Any) -> T:
            partials = self._tasks(engine.fold_task, fn, carrier, merge=merge)
            return partials.treeAggregate(zero, merge, merge, depth=depth)

        return self._job(params, action)

    def aggregate_by_key(self, fn: BlockFn, params: Any, keyed: KeyedMerge) -> dict[int, Any]:
        def action(carrier: Any) -> dict[int, Any]:
            records = self._tasks(engine.keyed_task, fn, carrier, keyed=keyed)
            reduced = records.reduceByKey(keyed.combine, numPartitions=keyed.num_reducers)
            if keyed.finish is not None:
                reduced = reduced.mapValues(keyed.finish)
            return dict(reduced.collect())

        return self._job(params, action)

    def per_partition(self, fn: Callable[[Any], Any], params: Any) -> list[Any]:
        self._check_live()

        def action() -> list[Any]:
            return list(self._storage.rdd.mapPartitions(
                partial(engine.call_task, fn=fn, params=params)).collect())

        return self._storage.run(action)  # type: ignore[no-any-return]

    def rows(self, fn: BlockFn, params: Any) -> list[Any]:
        def action(carrier: Any) -> list[Any]:
            return list(self._tasks(engine.rows_task, fn, carrier).collect())

        return self._job(params, action)

    def map_blocks(self, fn: BlockFn, params: Any) -> RDD[Any]:
        """A lazy RDD of ``fn(block, params)``, one element per block, in row order
        (predictions). ``params`` travel inside the tasks: the RDD may be evaluated long
        after this call, when a broadcast could already be gone."""
        self._check_live()
        return self._tasks(engine.map_task, fn, Carrier(params))

    # --------------------------------------------------------------- builders
    @classmethod
    def from_blocks(
        cls,
        rdd: RDD[Any],
        *,
        source: str = "the input",
        describe_error: Callable[[BlockError], str] | None = None,
        storage: str = "auto",
    ) -> BlockDataset:
        """Store an RDD of ``Block``/``BlockError``/``SkippedRows`` items, summarise it
        (one job), and raise :class:`DataValidationError` for the first error found.

        ``storage``: ``"spark"`` caches the blocks in Spark's block manager
        (``MEMORY_AND_DISK``); ``"executor"`` writes them as files on the executors and
        caches only a handle per partition (:mod:`rddml.engine.storage`); ``"auto"`` is
        :data:`DEFAULT_STORAGE`.
        """
        store = make_storage(rdd, storage)
        try:
            check_summaries(store.summaries, source, describe_error)
        except BaseException:
            store.release()
            raise
        return cls(store, store.summaries)

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
        storage: str = "auto",
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
        return cls.from_blocks(rdd, source="the arrays", storage=storage)

    @classmethod
    def from_rdd(
        cls, rdd: RDD[Any], *, labeled: bool = False, max_block_rows: int | None = None,
        storage: str = "auto",
    ) -> BlockDataset:
        """Cache an RDD of points (or ``(point, weight)`` pairs), or with ``labeled=True``
        of ``(features, label)`` / ``(features, label, weight)`` tuples, as blocks."""
        kind = "labeled" if labeled else "points"
        blocks = rdd.mapPartitionsWithIndex(
            partial(_records_task, kind=kind, max_rows=max_block_rows))
        return cls.from_blocks(blocks, source="the RDD", storage=storage)

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
        storage: str = "auto",
    ) -> BlockDataset:
        """Cache the feature (and label/weight) columns of a DataFrame as blocks.

        Columns are read through Arrow batches, so no per-row Python object is made.
        """
        selected = select_model_columns(
            df, features_col=features_col, feature_cols=feature_cols,
            label_col=label_col, weight_col=weight_col,
        )
        names = column_names(features_col, feature_cols, label_col, weight_col)
        to_blocks = partial(_arrow_to_blocks, names=names, has_y=label_col is not None,
                            has_w=weight_col is not None, max_rows=max_block_rows)
        source = f"DataFrame columns {names['describe']}"
        ipc = _arrow_batch_rdd(selected, arrow_batch_rows(len(selected.columns)))
        if ipc is not None:
            # The Arrow batches toPandas() reads, straight into Python tasks that make
            # (and, with executor storage, write and summarise) the blocks.
            from pyspark.sql.pandas.types import to_arrow_schema

            task = partial(_ipc_to_blocks, schema=to_arrow_schema(selected.schema),
                           to_blocks=to_blocks)
            return cls.from_blocks(ipc.mapPartitionsWithIndex(task), source=source,
                                   storage=storage)
        # No JVM DataFrame to ask: the same conversion inside mapInArrow.
        if resolve_storage(storage) == "executor":
            # Arrow batches → blocks → files in the same Python task: no block travels
            # back to the JVM (only a handle per partition does).
            def build(spec: Build) -> RDD[Any]:
                task = partial(_arrow_to_handle, to_blocks=to_blocks, build=spec)
                return selected.mapInArrow(task, "partition int, payload binary").rdd.map(
                    _unpickle_payload)

            store = ExecutorStorage(build, selected.sparkSession.sparkContext)
            try:
                check_summaries(store.summaries, source)
            except BaseException:
                store.release()
                raise
            return cls(store, store.summaries)
        packed = selected.mapInArrow(partial(_pickled, to_blocks=to_blocks),
                                     "partition int, payload binary")
        blocks = packed.rdd.map(_unpickle_payload)
        # mapInArrow does not know its partition index; renumber so offsets are global.
        blocks = blocks.mapPartitionsWithIndex(_renumber_partition)
        return cls.from_blocks(blocks, source=source, storage="spark")

    # ---------------------------------------------------------------- lifecycle
    def _release(self) -> None:
        self._storage.release()

    def cached_bytes(self) -> int:
        """Bytes the stored data holds on the executors: cached blocks (memory and disk)
        for ``storage="spark"``; block files (their sizes read on the executors, one job)
        plus cached handles for ``"executor"``."""
        return int(sum(self._storage.cached_bytes()))


def _row_label(r: int, *, offset: int) -> str:
    return f"row {offset + r}"


def _identity_list(items: list[Any]) -> list[Any]:
    return items


def _views(items: Iterable[Any], offsets: np.ndarray,
           transforms: tuple[Transform, ...]) -> Iterator[BlockView]:
    """The stored blocks of a partition as the views block functions see."""
    for item in items:
        if isinstance(item, Block):
            view = BlockView(item.X, item.y, item.w, int(offsets[item.partition]) + item.start)
            yield engine.apply_transforms(view, transforms)


def _records_task(index: int, records: Iterable[Any], *, kind: str,
                  max_rows: int | None) -> Iterator[Block | BlockError]:
    return records_to_blocks(index, records, kind=kind, max_rows=max_rows)


def _unpickle_payload(row: Any) -> Any:
    return pickle.loads(row[1])


def _summary_task(index: int, items: Iterable[Any]) -> list[PartitionSummary]:
    return [summarise_partition(index, items)]


class SparkStorage:
    """Blocks cached in Spark's block manager (``MEMORY_AND_DISK``): each pass streams
    them from the JVM to the Python workers."""

    name = "spark"

    def __init__(self, source: RDD[Any]) -> None:
        from pyspark import StorageLevel

        self._cached = source.persist(StorageLevel.MEMORY_AND_DISK)
        self.released = False
        try:
            self.summaries: list[PartitionSummary] = self._cached.mapPartitionsWithIndex(
                _summary_task).collect()
        except BaseException:
            self._cached.unpersist()
            raise
        skipped = any(s.skipped for s in self.summaries)
        self.rdd = self._cached.filter(_is_block) if skipped else self._cached

    def views(self, offsets: np.ndarray, transforms: tuple[Transform, ...]
              ) -> Callable[[Iterable[Any]], Iterator[BlockView]]:
        return partial(_views, offsets=offsets, transforms=transforms)

    @staticmethod
    def run(action: Callable[[], T]) -> T:
        return action()

    def release(self) -> None:
        # blocking=False: executors drop the blocks in the background.
        self.released = True
        self._cached.unpersist()

    def cached_bytes(self) -> tuple[int, int]:
        sc = self._cached.context
        for info in sc._jsc.sc().getRDDStorageInfo():
            if info.id() == self._cached.id():
                return int(info.memSize() + info.diskSize()), 0
        return 0, 0


#: What ``storage="auto"`` means (see README, "Performance", for the measurement).
DEFAULT_STORAGE = "executor"


def make_storage(source: RDD[Any], storage: str) -> Any:
    """The storage object of a new dataset (runs the one conversion + summary job)."""
    if resolve_storage(storage) == "executor":
        return ExecutorStorage(handles_from_blocks(source), source.context)
    return SparkStorage(source)


def resolve_storage(storage: str) -> str:
    """``"spark"`` or ``"executor"`` for a ``storage`` parameter (``"auto"``: the default)."""
    from rddml.params import check_choice

    check_choice("storage", storage, STORAGES)
    return DEFAULT_STORAGE if storage == "auto" else storage


def _is_block(item: Any) -> bool:
    return isinstance(item, Block)


def _renumber_partition(index: int, items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, Block):
            yield item._replace(partition=index)
        else:
            yield item


class _ArrowBlockWriter:
    """Copies each Arrow batch's columns straight into preallocated blocks of
    ``max_rows`` rows (default :func:`default_block_rows`): one copy from the Arrow
    buffers into the block, no per-batch matrix and no concatenation."""

    def __init__(self, partition: int, max_rows: int | None, has_y: bool, has_w: bool) -> None:
        self.partition = partition
        self.max_rows = max_rows
        self.has_y, self.has_w = has_y, has_w
        self.d: int | None = None
        self.limit = 0
        self.start = 0  # partition row of the current block's first row
        self.filled = 0
        self.X = self.y = self.w = np.empty(0)

    def _open(self) -> None:
        self.X = np.empty((self.limit, self.d or 0), dtype=np.float64)
        self.y = np.empty(self.limit if self.has_y else 0, dtype=np.float64)
        self.w = np.empty(self.limit if self.has_w else 0, dtype=np.float64)
        self.filled = 0

    def add(self, X: np.ndarray | list[np.ndarray], y: np.ndarray | None,
            w: np.ndarray | None, n: int) -> Iterator[Block]:
        """Copy ``n`` validated-for-nulls rows in, checking them for NaN/±Inf; yield
        every block that fills up."""
        d = X.shape[1] if isinstance(X, np.ndarray) else len(X)
        row = self.start + self.filled
        if self.d is None:
            if d == 0:
                raise ValueError(f"row {row} of the partition has no features")
            self.d, self.limit = d, self.max_rows or default_block_rows(d)
            self._open()
        elif d != self.d:
            raise ValueError(f"row {row} of the partition has {d} features, expected "
                             f"{self.d} like the first row of the partition")
        pos = 0
        while pos < n:
            take = min(n - pos, self.limit - self.filled)
            lo, hi = self.filled, self.filled + take
            seg = self.X[lo:hi]
            if isinstance(X, np.ndarray):
                seg[:] = X[pos:pos + take]
            else:
                for j, col in enumerate(X):
                    seg[:, j] = col[pos:pos + take]
            where = partial(_partition_row, base=self.start + lo)
            _check_finite(seg, where)
            if y is not None:
                self.y[lo:hi] = y[pos:pos + take]
                _check_finite(self.y[lo:hi], where, "label")
            if w is not None:
                self.w[lo:hi] = w[pos:pos + take]
                _check_finite(self.w[lo:hi], where, "weight")
            self.filled = hi
            pos += take
            if self.filled == self.limit:
                yield from self.flush()

    def flush(self) -> Iterator[Block]:
        if not self.filled:
            return
        k = self.filled
        # The last, partial block of a partition is copied so it holds only its rows.
        X, y, w = (self.X, self.y, self.w) if k == self.limit else (
            self.X[:k].copy(), self.y[:k].copy(), self.w[:k].copy())
        yield Block(self.partition, self.start, X, y if self.has_y else None,
                    w if self.has_w else None)
        self.start += k
        self._open()


def _arrow_to_blocks(
    batches: Iterable[Any],
    names: dict[str, Any],
    has_y: bool,
    has_w: bool,
    max_rows: int | None,
    partition: int = 0,
) -> Iterator[Block | BlockError]:
    """A partition's Arrow batches as validated blocks (or the first error)."""
    writer = _ArrowBlockWriter(partition, max_rows, has_y, has_w)
    seen = 0
    try:
        for batch in batches:
            n = batch.num_rows
            if not n:
                continue
            X, y, w = arrow_batch_columns(batch, has_y, has_w, names, seen)
            yield from writer.add(X, y, w, n)
            seen += n
        yield from writer.flush()
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
    plain Python RDD task it costs about a third of the JVM time of ``mapInArrow`` over
    the same columns, whose Python-runner machinery dominated the conversion (README,
    "Performance").

    ``max_records``: rows per batch for this export only. The session's
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` is never written (another thread's
    query, or a concurrent conversion, would see it): the value goes to the export
    itself (:func:`_jvm_arrow_batches`).
    """
    from py4j.protocol import Py4JError
    from pyspark.rdd import RDD
    from pyspark.serializers import NoOpSerializer

    jdf = getattr(df, "_jdf", None)
    if jdf is None:  # a Spark Connect DataFrame: no JVM object to ask
        return None
    try:
        jrdd = _jvm_arrow_batches(jdf, max_records).toJavaRDD()
    except (AttributeError, Py4JError):
        return None
    return RDD(jrdd, df.sparkSession.sparkContext, NoOpSerializer())


def _jvm_arrow_batches(jdf: Any, max_records: int | None) -> Any:
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
    return _dataset_class(jdf).ofRows(clone, jdf.logicalPlan()).toArrowBatchRdd()


def _dataset_class(jdf: Any) -> Any:
    """The JVM ``Dataset`` class (with the static ``ofRows``) of ``jdf``'s Spark version."""
    node: Any = jdf._gateway.jvm
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
