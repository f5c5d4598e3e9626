"""The DataFrame backend's dataset: model columns selected once, persisted, summarised.

:class:`FrameDataset` is the DataFrame-API counterpart of
:class:`~rddml.engine.blocks.BlockDataset`, for sessions without a SparkContext (Spark
Connect: Databricks Standard/shared access mode and Serverless). It holds the input's
model columns as one ``array<double>`` features column (plus label and weight
doubles, :func:`rddml.engine.blocks.select_model_columns`), persisted for the whole fit, and
the same summary attributes as a BlockDataset (``n_rows``, ``n_features``,
``has_labels``, ``labels``, ``has_weights``, ``min_weight``), so the driver-side
checks of the estimators apply unchanged.

Every pass is :meth:`FrameDataset.partials`: ``mapInArrow`` turns each partition's
Arrow batches into NumPy arrays, a module-level task folds them into a few partial
rows, and the driver collects those rows. Parameters (centres, coefficients) travel
inside the task's :func:`functools.partial`, which Spark serialises with the plan:
Spark Connect has no broadcast variables, and the parameters are small.

Bad data never raises on an executor: the one summary pass returns each partition's
first problem as text and the driver raises :class:`DataValidationError`, with the
messages of the RDD path (null, NaN/Inf, ragged rows, empty input).

Examples
--------
>>> fd = FrameDataset.from_dataframe(df, features_col="features")  # doctest: +SKIP
>>> fd.n_rows, fd.n_features  # doctest: +SKIP
(10000, 2)
>>> fd.unpersist()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rddml.engine.blocks import _check_finite, arrow_batch_to_arrays, select_model_columns
from rddml.errors import DataValidationError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: (name, Spark SQL type) of the columns a partial-aggregate task emits.
Columns = Sequence[tuple[str, str]]

MAX_LABELS = 16  # distinct labels kept per partition (enough to report bad labels)


class Batch(NamedTuple):
    """One Arrow batch of a partition as NumPy arrays."""

    X: np.ndarray
    y: np.ndarray | None
    w: np.ndarray | None


#: A partial-aggregate task: a partition's batches → rows of the declared columns.
Task = Callable[[Iterator[Batch]], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class _Layout:
    """Which model columns the persisted DataFrame holds and how to describe them."""

    has_y: bool
    has_w: bool
    unit_norm: bool
    names: dict[str, Any]


def _arrow_type(sql_type: str) -> Any:
    import pyarrow as pa

    types = {"long": pa.int64(), "double": pa.float64(), "string": pa.string(),
             "array<double>": pa.list_(pa.float64()), "array<long>": pa.list_(pa.int64())}
    return types[sql_type]


def _read_batches(batches: Iterable[Any], layout: _Layout) -> Iterator[Batch]:
    """NumPy arrays of each (already validated) batch; rows unit-normalised if asked."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        X, y, w = arrow_batch_to_arrays(batch, layout.has_y, layout.has_w, layout.names, 0)
        if layout.unit_norm:
            X = X / np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
        yield Batch(X, y, w)


def _run_task(batches: Iterable[Any], *, task: Task, layout: _Layout,
              columns: Columns) -> Iterator[Any]:
    import pyarrow as pa

    rows = task(_read_batches(batches, layout))
    schema = pa.schema([(name, _arrow_type(kind)) for name, kind in columns])
    if rows:
        yield pa.RecordBatch.from_arrays(
            [pa.array([row[i] for row in rows], type=schema.field(i).type)
             for i in range(len(columns))],
            schema=schema,
        )


# ------------------------------------------------------------------ summary pass
SUMMARY_COLUMNS: Columns = (
    ("n_rows", "long"), ("n_features", "long"), ("labels", "array<double>"),
    ("min_weight", "double"), ("error", "string"),
)


def _summarise(batches: Iterable[Any], *, layout: _Layout) -> Iterator[Any]:
    """One row per partition: rows, width, distinct labels, min weight, first error."""
    import pyarrow as pa

    n = 0
    width: int | None = None
    labels: set[float] = set()
    min_w: float | None = None
    error: str | None = None
    try:
        for batch in batches:
            X, y, w = arrow_batch_to_arrays(batch, layout.has_y, layout.has_w, layout.names, n)

            def where(r: int, base: int = n) -> str:
                return f"row {base + r} of the partition"

            _check_finite(X, where)
            if y is not None:
                _check_finite(y, where, "label")
                if len(labels) <= MAX_LABELS:
                    labels.update(np.unique(y).tolist())
            if w is not None:
                _check_finite(w, where, "weight")
                if w.size:
                    min_w = float(w.min()) if min_w is None else min(min_w, float(w.min()))
            if X.shape[0]:
                if width is not None and X.shape[1] != width:
                    raise ValueError(f"{where(0)} has {X.shape[1]} features, expected {width} "
                                     "like the first row of the partition")
                width = X.shape[1]
                if width == 0:
                    raise ValueError(f"{where(0)} has no features")
                if layout.unit_norm:
                    zero = np.flatnonzero(np.einsum("ij,ij->i", X, X) == 0)
                    if zero.size:
                        raise ValueError(f"distance='cosine' needs non-zero points, but "
                                         f"{where(int(zero[0]))} is all zeros")
            n += X.shape[0]
    except ValueError as exc:
        error = str(exc)
    yield pa.RecordBatch.from_pylist(
        [{"n_rows": n, "n_features": width, "labels": sorted(labels), "min_weight": min_w,
          "error": error}],
        schema=pa.schema([(name, _arrow_type(kind)) for name, kind in SUMMARY_COLUMNS]),
    )


def _ddl(columns: Columns) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in columns)


class FrameDataset:
    """Model columns of a DataFrame, persisted once, with the summary estimators check.

    Build with :meth:`from_dataframe`; release with :meth:`unpersist` (or use it as a
    context manager).

    Attributes
    ----------
    df : DataFrame
        The persisted model columns (``__rddml_x`` ``array<double>``, then
        ``__rddml_y`` and ``__rddml_w`` doubles when present).
    n_rows, n_features, num_partitions : int
    has_labels, has_weights : bool
    labels : tuple of float
        The distinct label values (up to 17, enough to report bad ones).
    min_weight : float or None
    """

    def __init__(self, df: DataFrame, layout: _Layout, summaries: list[Any]) -> None:
        self.df = df
        self._layout = layout
        widths = {int(s["n_features"]) for s in summaries if s["n_features"] is not None}
        self.n_rows = int(sum(int(s["n_rows"]) for s in summaries))
        self.n_features = widths.pop() if widths else 0
        self.num_partitions = max(1, len(summaries))
        self.has_labels = layout.has_y
        self.has_weights = layout.has_w
        labels: set[float] = set()
        for s in summaries:
            labels.update(float(v) for v in (s["labels"] or ()))
        self.labels = tuple(sorted(labels))
        weights = [float(s["min_weight"]) for s in summaries if s["min_weight"] is not None]
        self.min_weight = min(weights) if weights else None
        self.n_skipped = 0

    @classmethod
    def from_dataframe(
        cls,
        df: DataFrame,
        *,
        features_col: str | None = "features",
        feature_cols: list[str] | None = None,
        label_col: str | None = None,
        weight_col: str | None = None,
        unit_norm: bool = False,
    ) -> FrameDataset:
        """Select, persist and validate the model columns (one Spark job).

        ``unit_norm=True`` (cosine k-means) rejects all-zero rows and hands every pass
        unit-length rows. Raises :class:`InvalidParameterError` for a missing or
        non-numeric column (before any job) and :class:`DataValidationError` for null,
        NaN/Inf, ragged or no rows.
        """
        selected = select_model_columns(
            df, features_col=features_col, feature_cols=feature_cols,
            label_col=label_col, weight_col=weight_col,
        )
        shown: list[str | None] = list(feature_cols) if feature_cols else [features_col]
        shown += [c for c in (label_col, weight_col) if c]
        names: dict[str, Any] = {
            "feature_source": feature_cols or [features_col], "label_source": label_col,
            "weight_source": weight_col, "describe": shown,
        }
        layout = _Layout(label_col is not None, weight_col is not None, unit_norm, names)
        cached = selected.persist()
        try:
            summaries = [row.asDict() for row in cached.mapInArrow(
                partial(_summarise, layout=layout), _ddl(SUMMARY_COLUMNS)).collect()]
            _raise_for_summaries(summaries, f"DataFrame columns {shown}")
        except BaseException:
            cached.unpersist()
            raise
        return cls(cached, layout, summaries)

    def partials(self, task: Task, columns: Columns) -> list[Any]:
        """Run ``task`` on every partition and collect the rows it emits (one job).

        ``task`` must be picklable (a module-level function, or a
        :func:`functools.partial` of one binding the pass's parameters).
        """
        return list(self.partial_frame(task, columns).collect())

    def partial_frame(self, task: Task, columns: Columns) -> DataFrame:
        """The lazy ``mapInArrow`` DataFrame of ``task``'s rows (to ``groupBy`` them)."""
        fn = partial(_run_task, task=task, layout=self._layout, columns=columns)
        return self.df.mapInArrow(fn, _ddl(columns))

    def unpersist(self) -> None:
        """Release the cached columns."""
        self.df.unpersist()

    def __enter__(self) -> FrameDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unpersist()

    def __repr__(self) -> str:
        return (f"FrameDataset(n_rows={self.n_rows}, n_features={self.n_features}, "
                f"partitions={self.num_partitions}, labels={self.has_labels}, "
                f"weights={self.has_weights})")


def _raise_for_summaries(summaries: list[dict[str, Any]], source: str) -> None:
    errors = [s["error"] for s in summaries if s["error"]]
    if errors:
        raise DataValidationError(f"Invalid data in {source}: {errors[0]}")
    widths = sorted({int(s["n_features"]) for s in summaries if s["n_features"] is not None})
    if len(widths) > 1:
        raise DataValidationError(
            f"Invalid data in {source}: rows have differing numbers of features {widths} in "
            "different partitions; every row needs the same dimension."
        )
    if sum(int(s["n_rows"]) for s in summaries) == 0:
        raise DataValidationError(f"Invalid data in {source}: it has no rows (empty input).")


def as_frame_dataset(
    data: Any,
    *,
    features_col: str | None,
    feature_cols: list[str] | None,
    label_col: str | None = None,
    weight_col: str | None = None,
    unit_norm: bool = False,
) -> tuple[FrameDataset, bool]:
    """``(dataset, owned)`` for a DataFrame or a FrameDataset; the caller unpersists
    the dataset when ``owned``. A FrameDataset is used as is (its columns were chosen
    when it was built)."""
    if isinstance(data, FrameDataset):
        return data, False
    return FrameDataset.from_dataframe(
        data, features_col=features_col, feature_cols=feature_cols, label_col=label_col,
        weight_col=weight_col, unit_norm=unit_norm,
    ), True
