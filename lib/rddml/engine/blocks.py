"""Block datasets: the input cached once as NumPy blocks per partition.

Every iteration of every estimator works on blocks, never on per-record Python
objects. A :class:`BlockDataset` (the RDD backend of :mod:`rddml.engine.dataset`)
holds an RDD whose partitions are the input's rows cut into NumPy blocks (features
matrix, optional labels and weights, and each block's position so every row has a
global index), stored once: as files on the executors (:mod:`rddml.engine.storage`,
the default) or in Spark's block manager (:mod:`rddml.engine.spark_storage`). Records
and Arrow batches become blocks in :mod:`rddml.engine.convert`.

Examples
--------
>>> ds = BlockDataset.from_rdd(sc.parallelize([[0.0, 1.0], [2.0, 3.0]], 2))  # doctest: +SKIP
>>> ds.n_rows, ds.n_features  # doctest: +SKIP
(2, 2)
>>> ds.unpersist()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rddml.engine import convert
from rddml.engine import dataset as engine
from rddml.engine.columns import column_names, select_model_columns
from rddml.engine.cutting import BlockCutter
from rddml.engine.dataset import BlockFn, Carrier, Dataset, KeyedMerge
from rddml.engine.job_progress import spark_tasks_progress
from rddml.engine.precision import check_dtype, narrow_task, narrowed
from rddml.engine.records import Block, BlockError, PartitionSummary, apply_summaries, check_summaries
from rddml.engine.spark_storage import SparkStorage
from rddml.engine.sparse import LAYOUTS, canonical, is_sparse, row_slice
from rddml.engine.sparse_columns import resolve_layout
from rddml.engine.storage import STORAGES, Build, ExecutorStorage, handles_from_blocks
from rddml.errors import InvalidParameterError
from rddml.params import check_choice

__all__ = ["BlockDataset"]

T = TypeVar("T")

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)


class BlockDataset(Dataset):
    """The RDD backend's dataset: NumPy blocks cached once per partition.

    Build one with :meth:`from_rdd`, :meth:`from_dataframe`, :meth:`from_numpy` or
    :func:`rddml.read_points_csv`; estimators accept it directly, so a
    dataset cached once can be reused across fits. It is a context manager that
    unpersists on exit. The blocks live as ``.npy`` files on the executors (``storage=
    "executor"``, the default) or in Spark's block manager (``"spark"``, ``MEMORY_AND_DISK``),
    so no pass re-reads or re-parses the source. How they are stored is private:
    algorithms run passes (:class:`~rddml.engine.dataset.Dataset`).

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
        dtype: str = "float64",
    ) -> BlockDataset:
        """Store an RDD of ``Block``/``BlockError``/``SkippedRows`` items, summarise it
        (one job), and raise :class:`DataValidationError` for the first error found.

        ``storage``: ``"spark"`` caches the blocks in Spark's block manager
        (``MEMORY_AND_DISK``); ``"executor"`` writes them as files on the executors and
        caches only a handle per partition (:mod:`rddml.engine.storage`); ``"auto"`` is
        :data:`DEFAULT_STORAGE`. ``dtype``: the precision the features are stored in
        (:mod:`rddml.engine.precision`).
        """
        if check_dtype(dtype) != "float64":
            rdd = rdd.mapPartitionsWithIndex(partial(narrow_task, dtype=dtype))
        with spark_tasks_progress(rdd.context, f"rddml: reading {source}"):
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
        layout: str = "auto",
        dtype: str = "float64",
    ) -> BlockDataset:
        """Distribute arrays held by the driver (small data, tests, benchmarks).

        Rows keep their order: row ``i`` of ``X`` has global index ``i``. ``X`` may be a
        SciPy sparse matrix: ``layout="auto"`` then makes sparse (CSR) blocks, and dense
        ones for an array; ``"sparse"`` / ``"dense"`` force either.
        """
        check_choice("layout", layout, LAYOUTS)
        if is_scipy_sparse(X):
            X = canonical(X)
            layout = "sparse" if layout == "auto" else layout
        else:
            X = np.asarray(X, dtype=np.float64)
            layout = "dense" if layout == "auto" else layout
        if X.ndim != 2:
            raise InvalidParameterError(f"X must be a 2-D array, got shape {X.shape}.")
        parts = num_partitions or sc.defaultParallelism
        bounds = np.linspace(0, X.shape[0], parts + 1).astype(int)
        by_partition: list[list[Block | BlockError]] = []
        for p in range(parts):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            cutter = BlockCutter(p, max_block_rows, y is not None, w is not None,
                                 where=partial(_row_label, offset=lo), layout=layout)
            items: list[Block | BlockError] = []
            rows = row_slice(X, lo, hi) if is_sparse(X) else X[lo:hi]
            try:
                items += cutter.add(rows, None if y is None else y[lo:hi],
                                    None if w is None else w[lo:hi])
                items += cutter.flush()
            except ValueError as exc:
                items.append(BlockError(str(exc)))
            by_partition.append(items)
        rdd = sc.parallelize(by_partition, parts).flatMap(_identity_list)
        return cls.from_blocks(rdd, source="the arrays", storage=storage, dtype=dtype)

    @classmethod
    def from_rdd(
        cls, rdd: RDD[Any], *, labeled: bool = False, max_block_rows: int | None = None,
        storage: str = "auto", layout: str = "auto", dtype: str = "float64",
    ) -> BlockDataset:
        """Cache an RDD of points (or ``(point, weight)`` pairs), or with ``labeled=True``
        of ``(features, label)`` / ``(features, label, weight)`` tuples, as blocks.

        A point may be a list, an array, a ``pyspark.ml``/``mllib`` vector or a one-row
        SciPy sparse matrix. ``layout="auto"`` makes sparse (CSR) blocks of a partition
        whose first point is sparse (a SparseVector or a SciPy row), dense ones
        otherwise; ``"sparse"`` / ``"dense"`` force either.
        """
        check_choice("layout", layout, LAYOUTS)
        kind = "labeled" if labeled else "points"
        blocks = rdd.mapPartitionsWithIndex(
            partial(convert._records_task, kind=kind, max_rows=max_block_rows, layout=layout))
        return cls.from_blocks(blocks, source="the RDD", storage=storage, dtype=dtype)

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
        layout: str = "auto",
        dtype: str = "float64",
    ) -> BlockDataset:
        """Cache the feature (and label/weight) columns of a DataFrame as blocks.

        Columns are read through Arrow batches, so no per-row Python object is made.
        ``layout`` (:func:`rddml.engine.sparse_columns.resolve_layout`): ``"auto"`` reads
        a wide column of sparse vectors as sparse (CSR) blocks, without densifying a row,
        and anything else as dense blocks; ``"sparse"`` / ``"dense"`` force either.
        """
        layout = resolve_layout(df, features_col, feature_cols, layout)
        selected = select_model_columns(
            df, features_col=features_col, feature_cols=feature_cols,
            label_col=label_col, weight_col=weight_col, sparse=layout == "sparse",
        )
        names = column_names(features_col, feature_cols, label_col, weight_col)
        to_blocks = partial(convert._arrow_to_blocks, names=names, has_y=label_col is not None,
                            has_w=weight_col is not None, max_rows=max_block_rows,
                            layout=layout)
        if check_dtype(dtype) != "float64":
            to_blocks = partial(narrowed, to_blocks=to_blocks, dtype=dtype)
        source = f"DataFrame columns {names['describe']}"
        ipc = convert._arrow_batch_rdd(selected, convert.arrow_batch_rows(len(selected.columns)))
        if ipc is not None:
            # The Arrow batches toPandas() reads, straight into Python tasks that make
            # (and, with executor storage, write and summarise) the blocks.
            from pyspark.sql.pandas.types import to_arrow_schema

            task = partial(convert._ipc_to_blocks, schema=to_arrow_schema(selected.schema),
                           to_blocks=to_blocks)
            return cls.from_blocks(ipc.mapPartitionsWithIndex(task), source=source,
                                   storage=storage, dtype=dtype)
        # No JVM DataFrame to ask: the same conversion inside mapInArrow.
        if resolve_storage(storage) == "executor":
            # Arrow batches → blocks → files in the same Python task: no block travels
            # back to the JVM (only a handle per partition does).
            def build(spec: Build) -> RDD[Any]:
                task = partial(convert._arrow_to_handle, to_blocks=to_blocks, build=spec)
                return selected.mapInArrow(task, "partition int, payload binary").rdd.map(
                    convert._unpickle_payload)

            with spark_tasks_progress(df.sparkSession, f"rddml: reading {source}"):
                store = ExecutorStorage(build, selected.sparkSession.sparkContext)
            try:
                check_summaries(store.summaries, source)
            except BaseException:
                store.release()
                raise
            return cls(store, store.summaries)
        packed = selected.mapInArrow(partial(convert._pickled, to_blocks=to_blocks),
                                     "partition int, payload binary")
        blocks = packed.rdd.map(convert._unpickle_payload)
        # mapInArrow does not know its partition index; renumber so offsets are global.
        blocks = blocks.mapPartitionsWithIndex(convert._renumber_partition)
        return cls.from_blocks(blocks, source=source, storage="spark")

    # ---------------------------------------------------------------- lifecycle
    def _release(self) -> None:
        self._storage.release()

    def cached_bytes(self) -> int:
        """Bytes the stored data holds on the executors: cached blocks (memory and disk)
        for ``storage="spark"``; block files (their sizes read on the executors, one job)
        plus cached handles for ``"executor"``."""
        return int(sum(self._storage.cached_bytes()))


def is_scipy_sparse(X: Any) -> bool:
    """Whether ``X`` is any SciPy sparse matrix or array (without importing SciPy: an
    object of SciPy's exists only once SciPy has been imported). Not by attribute: a Spark
    Connect DataFrame answers every attribute name with a column."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(X))


def _row_label(r: int, *, offset: int) -> str:
    return f"row {offset + r}"


def _identity_list(items: list[Any]) -> list[Any]:
    return items


#: What ``storage="auto"`` means: no JVM→Python copy per pass (docs/performance.md).
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


