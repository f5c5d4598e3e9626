"""The DataFrame backend's dataset: model columns cached as a DataFrame, read by ``mapInArrow``.

:class:`FrameDataset` implements :class:`~rddml.engine.dataset.Dataset` with the
DataFrame API only, for sessions without a SparkContext (Spark Connect: Databricks
Standard/shared access mode and Serverless). It persists the input's model columns
(one ``array<double>`` features column plus label and weight doubles,
:func:`rddml.engine.columns.select_model_columns`) for the whole fit; every pass is one
``mapInArrow`` job that turns each partition's Arrow batches into
:class:`~rddml.engine.dataset.BlockView` objects, runs the algorithm's block function
and folds the results per partition, exactly as the RDD backend does.

Partials leave a partition as one pickled ``binary`` cell (with the partition index,
from the task context, so the driver merges them in partition order); keyed records
are combined by ``groupBy(key).applyInPandas``. Parameters travel inside the task's
:func:`functools.partial`, which Spark serialises with the plan: Spark Connect has no
broadcast variables. Rows have no stable global index in a DataFrame, so random
draws are keyed on each row's values (:meth:`BlockView.row_keys`): a seed gives the
same result for any partitioning or row order of the same rows on this backend.

Bad data never raises on an executor: the one summary pass returns each partition's
first problem and the driver raises :class:`DataValidationError` with the messages of
the RDD path (null, NaN/Inf, ragged rows, empty input).

Examples
--------
>>> fd = FrameDataset.from_dataframe(df, features_col="features")  # doctest: +SKIP
>>> fd.n_rows, fd.n_features  # doctest: +SKIP
(10000, 2)
>>> fd.unpersist()  # doctest: +SKIP
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from rddml.engine import dataset as engine
from rddml.engine import records
from rddml.engine.columns import arrow_batch_to_arrays, column_names, select_model_columns
from rddml.engine.convert import checked_batches
from rddml.engine.dataset import BlockFn, BlockView, Carrier, Dataset, KeyedMerge, Transform
from rddml.engine.job_progress import spark_tasks_progress
from rddml.engine.sparse_columns import resolve_layout

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

T = TypeVar("T")
PAYLOAD_SCHEMA = "pid int, key long, payload binary"


@dataclass(frozen=True)
class _Layout:
    """Which model columns the persisted DataFrame holds and how to describe them."""

    has_y: bool
    has_w: bool
    names: dict[str, Any]


def _partition_id() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return -1 if context is None else int(context.partitionId())


def _views(batches: Iterable[Any], layout: _Layout,
           transforms: tuple[Transform, ...]) -> Iterator[BlockView]:
    """NumPy views of each (already validated) batch of a partition."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        X, y, w = arrow_batch_to_arrays(batch, layout.has_y, layout.has_w, layout.names, 0)
        view = BlockView(X, y, w, None)
        yield engine.apply_transforms(view, transforms)


def _emit(keyed: Iterable[tuple[int, Any]]) -> Iterator[Any]:
    """One Arrow batch of ``(pid, key, pickled value)`` rows (none when there are none)."""
    import pyarrow as pa

    keys: list[int] = []
    payloads: list[bytes] = []
    for key, value in keyed:
        keys.append(int(key))
        payloads.append(pickle.dumps(value, protocol=5))
    if keys:
        yield pa.RecordBatch.from_arrays(
            [pa.array([_partition_id()] * len(keys), pa.int32()), pa.array(keys, pa.int64()),
             pa.array(payloads, pa.binary())],
            names=["pid", "key", "payload"],
        )


def _emit_values(batches: Iterable[Any], *, task: Callable[..., Iterable[Any]]) -> Iterator[Any]:
    return _emit((0, value) for value in task(batches))


def _emit_records(batches: Iterable[Any], *, task: Callable[..., Iterator[Any]]) -> Iterator[Any]:
    return _emit(task(batches))


def _emit_list(batches: Iterable[Any], *, task: Callable[..., Iterator[Any]]) -> Iterator[Any]:
    items = list(task(batches))
    return _emit([(0, items)] if items else [])


def _combine_group(pdf: Any, *, combine: Callable[[Any, Any], Any],
                   finish: Callable[[Any], Any] | None) -> Any:
    """All partitions' records of one key → one record (runs in ``applyInPandas``).

    Records are combined in partition order, so the result does not depend on the
    order in which the shuffle delivered them.
    """
    import pandas as pd

    pdf = pdf.sort_values("pid", kind="stable")
    acc: Any = None
    for i, payload in enumerate(pdf["payload"]):
        value = pickle.loads(payload)
        acc = value if i == 0 else combine(acc, value)
    if finish is not None:
        acc = finish(acc)
    return pd.DataFrame({"pid": [0], "key": [int(pdf["key"].iloc[0])],
                         "payload": [pickle.dumps(acc, protocol=5)]})


def _group_reducer(combine: Callable[[Any, Any], Any],
                   finish: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """A plain function for ``applyInPandas`` (which reads a function's type hints; a
    :func:`functools.partial` would make it warn)."""

    def reduce_group(pdf: Any) -> Any:
        return _combine_group(pdf, combine=combine, finish=finish)

    return reduce_group


def _validated_blocks(batches: Iterable[Any],
                      layout: _Layout) -> Iterator[records.Block | records.BlockError]:
    """A partition's batches as blocks, or the first problem found (summary pass)."""
    try:
        for start, X, y, w in checked_batches(batches, layout.has_y, layout.has_w,
                                              layout.names):
            yield records.Block(0, start, X, y, w)
    except ValueError as exc:
        yield records.BlockError(str(exc))


def _summary_task(batches: Iterable[Any], *, layout: _Layout) -> Iterator[Any]:
    summary = records.summarise_partition(_partition_id(), _validated_blocks(batches, layout))
    return _emit([(0, summary)])


def own_cache_entry(df: DataFrame) -> DataFrame:
    """``df`` with a plan no other DataFrame has, so that persisting it makes a cache entry
    of its own.

    Spark keys its cache by plan: persisting a DataFrame whose plan equals an already
    cached one (the user's ``df.select(...).cache()``, another fit's selection of the
    same columns) reuses that entry, and unpersisting it then drops the other owner's
    cache. A filter comparing a fresh token with itself makes the plan unique; the
    optimizer folds it away, so it costs nothing per row.
    """
    from pyspark.sql import functions as F

    token = uuid.uuid4().hex
    return df.filter(F.lit(token) == F.lit(token))


class FrameDataset(Dataset):
    """Model columns of a DataFrame, persisted once, run as ``mapInArrow`` passes.

    Build with :meth:`from_dataframe`; release with :meth:`unpersist` (or use it as a
    context manager). Attributes as :class:`~rddml.engine.dataset.Dataset`.
    """

    backend = "dataframe"

    def __init__(self, df: DataFrame, layout: _Layout,
                 summaries: list[records.PartitionSummary]) -> None:
        self.df = df
        self._state = engine.CacheState()
        self._layout = layout
        self._num_partitions = max(1, len(summaries))
        records.apply_summaries(self, summaries)
        # A DataFrame's label and weight columns exist even when every partition is empty.
        self.has_labels = layout.has_y
        self.has_weights = layout.has_w

    @property
    def num_partitions(self) -> int:
        return self._num_partitions

    @classmethod
    def from_dataframe(cls, df: DataFrame, **columns: Any) -> FrameDataset:
        """Select, persist and validate the model columns (one Spark job).

        ``columns`` are those of :meth:`BlockDataset.from_dataframe
        <rddml.engine.blocks.BlockDataset.from_dataframe>`: ``features_col`` (default
        ``"features"``) or ``feature_cols``, and optional ``label_col`` / ``weight_col``,
        and ``layout`` (``"auto"``, ``"dense"`` or ``"sparse"``: how a vector column is
        read, :func:`rddml.engine.sparse_columns.resolve_layout`; sparse blocks are made
        from each Arrow batch of the vectors' struct form, never densified).
        Raises :class:`InvalidParameterError` for a missing or non-numeric column (before
        any job) and :class:`DataValidationError` for null, NaN/Inf, ragged or no rows.
        """
        columns = {"features_col": "features", **columns}
        kind = resolve_layout(df, columns["features_col"], columns.get("feature_cols"),
                              columns.pop("layout", "auto"))
        selected = select_model_columns(df, **columns, sparse=kind == "sparse")
        names = column_names(**columns)
        layout = _Layout(names["label_source"] is not None, names["weight_source"] is not None,
                         names)
        cached = own_cache_entry(selected).persist()
        try:
            with spark_tasks_progress(df.sparkSession, f"rddml: reading {names['describe']}"):
                rows = cached.mapInArrow(partial(_summary_task, layout=layout),
                                         PAYLOAD_SCHEMA).collect()
            summaries: list[records.PartitionSummary] = [pickle.loads(r["payload"]) for r in rows]
            records.check_summaries(summaries, f"DataFrame columns {names['describe']}")
        except BaseException:
            cached.unpersist()
            raise
        return cls(cached, layout, summaries)

    # ------------------------------------------------------------------ passes
    def _run(self, emit: Callable[..., Iterator[Any]], task: Callable[..., Iterator[Any]],
             fn: BlockFn, params: Any, **extra: Any) -> DataFrame:
        self._check_live()
        views = partial(_views, layout=self._layout, transforms=self._transforms)
        bound = partial(task, views=views, carrier=Carrier(params), fn=fn, **extra)
        return self.df.mapInArrow(partial(emit, task=bound), PAYLOAD_SCHEMA)

    @staticmethod
    def _payloads(frame: DataFrame) -> list[Any]:
        rows = sorted(frame.collect(), key=lambda r: r["pid"])
        return [pickle.loads(r["payload"]) for r in rows]

    def aggregate(self, fn: BlockFn, params: Any, zero: T, merge: Callable[[T, T], T]) -> T:
        """One partial per partition, collected and merged on the driver in partition order
        (a one-level tree: the partials are small and need no shuffle)."""
        acc = zero
        for part in self._payloads(self._run(_emit_values, engine.fold_task, fn, params, merge=merge)):
            acc = merge(acc, part)
        return acc

    def aggregate_by_key(self, fn: BlockFn, params: Any, keyed: KeyedMerge) -> dict[int, Any]:
        """Keyed records combined by ``groupBy(key).applyInPandas`` (a shuffle), then
        ``finish`` per key on the executors. ``num_reducers`` is left to Spark's
        ``spark.sql.shuffle.partitions`` (and adaptive execution)."""
        pairs = self._run(_emit_records, engine.keyed_task, fn, params, keyed=keyed)
        reduced = pairs.groupBy("key").applyInPandas(
            _group_reducer(keyed.combine, keyed.finish), PAYLOAD_SCHEMA)
        return {int(r["key"]): pickle.loads(r["payload"]) for r in reduced.collect()}

    def per_partition(self, fn: Callable[[Any], Any], params: Any) -> list[Any]:
        self._check_live()
        task = partial(engine.call_task, fn=fn, params=params)
        return self._payloads(self.df.mapInArrow(partial(_emit_values, task=task),
                                                 PAYLOAD_SCHEMA))

    def rows(self, fn: BlockFn, params: Any) -> list[Any]:
        out: list[Any] = []
        for items in self._payloads(self._run(_emit_list, engine.rows_task, fn, params)):
            out.extend(items)
        return out

    def _release(self) -> None:
        self.df.unpersist()
