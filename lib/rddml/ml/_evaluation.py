"""The distributed pass behind the logistic-regression summaries of :mod:`rddml.ml`.

:func:`summary_pass` scores a DataFrame with fitted coefficients and gathers, in one
Spark job (``mapInArrow`` over the rows, then ``groupBy(key).applyInPandas`` to merge
the partitions' records), what pyspark.ml's summary metrics need: the weighted
(label, prediction) counts of every row, and for a binary model the weighted positive
and negative counts at each distinct probability of class 1, cut into score ranges
(so ties meet in one range) and merged per range on the executors. A range sends its
distinct scores to the driver when it has at most ``2 × numBins`` of them; otherwise
only its count and its exact AUC partial, and the curves take a second pass
(:func:`binned_curve_pass`) that down-samples each range on the executors. No row is
collected; nothing is cached.

DataFrame operations only, so the same code runs on a classic session and under
Spark Connect. The NumPy math is :mod:`rddml.ml._metrics`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.linear.kernels import (
    ScoreCounts,
    auc_bucket_edges,
    auc_from_partials,
    auc_partial,
    block_score_counts,
    sigmoid,
    split_by_bucket,
)
from rddml.linear.softmax import softmax_rows
from rddml.ml._metrics import SUMMARY_NUM_BINS, BinaryCurve, Confusion, binary_curve, down_sample

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

CONFUSION_KEY = -1
#: Score ranges of the binary curves (keys 0 .. N_RANGES - 1, increasing scores).
N_RANGES = 32
#: A range keeps its distinct scores for the driver up to this many.
FULL_RANGE_LIMIT = 2 * SUMMARY_NUM_BINS
RECORD_SCHEMA = "pid int, key long, payload binary"


@dataclass(frozen=True)
class Scorer:
    """What an executor needs to score rows as the model's ``transform`` does: binary
    ``coef`` (d,) and a float intercept with ``threshold``; multinomial ``coef`` (K, d),
    ``intercept`` (K,) and optional ``thresholds`` (K,)."""

    coef: np.ndarray
    intercept: Any
    threshold: float = 0.5
    thresholds: np.ndarray | None = None

    @property
    def binary(self) -> bool:
        """Whether the summary has curves: two classes (binomial, or a 2-class softmax)."""
        return self.coef.ndim == 1 or self.coef.shape[0] == 2

    def score(self, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """P(class 1) (binary models, else None) and the predicted class of each row."""
        if self.coef.ndim == 1:
            p = np.asarray(sigmoid(X @ self.coef + float(self.intercept)), dtype=np.float64)
            return p, (p > self.threshold).astype(np.float64)
        Z = X @ self.coef.T + self.intercept
        P = softmax_rows(Z) if Z.shape[0] else Z
        prediction = (np.argmax(Z, axis=1) if self.thresholds is None
                      else thresholded_argmax(P, self.thresholds))
        return (P[:, 1] if Z.shape[1] == 2 else None), prediction.astype(np.float64)


def thresholded_argmax(P: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """pyspark.ml's prediction with ``thresholds``: the class of the largest p_k / t_k,
    the first on ties; t_k = 0 makes p_k / t_k infinite (NaN, never chosen, when p_k = 0
    too), as MLlib's ``probability2prediction``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = P / thresholds
    scaled = np.where(np.isnan(scaled), -np.inf, scaled)
    return np.argmax(scaled, axis=1)


# ------------------------------------------------------------------ executors
@dataclass(frozen=True)
class _Columns:
    """The selected columns' layout (see :func:`rddml.engine.columns.column_names`)."""

    names: dict[str, Any]
    has_w: bool


def _partition_records(batches: Iterable[Any], *, columns: _Columns, scorer: Scorer,
                       edges: np.ndarray) -> Iterator[tuple[int, Any]]:
    """A partition's (label, prediction) counts and, binary, its score counts by range."""
    from rddml.engine.columns import arrow_batch_to_arrays

    confusion = Confusion()
    counts: ScoreCounts | None = None
    first_row = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        X, y, w = arrow_batch_to_arrays(batch, True, columns.has_w, columns.names, first_row)
        first_row += batch.num_rows
        assert y is not None
        weights = np.ones(y.shape[0]) if w is None else w
        score, prediction = scorer.score(X)
        confusion = confusion.merge(Confusion.of(y, prediction, weights))
        if score is not None:
            block = block_score_counts(score, y, weights)
            counts = block if counts is None else counts.merge(block)
    yield CONFUSION_KEY, confusion
    if counts is not None:
        yield from split_by_bucket(counts, edges)


def _emit(batches: Iterable[Any], *, task: Callable[[Iterable[Any]], Iterator[tuple[int, Any]]]
          ) -> Iterator[Any]:
    import pyarrow as pa
    from pyspark import TaskContext

    context = TaskContext.get()
    pid = -1 if context is None else int(context.partitionId())
    keys, payloads = [], []
    for key, value in task(batches):
        keys.append(int(key))
        payloads.append(pickle.dumps(value, protocol=5))
    if keys:
        yield pa.RecordBatch.from_arrays([pa.array([pid] * len(keys), pa.int32()),
                                          pa.array(keys, pa.int64()),
                                          pa.array(payloads, pa.binary())],
                                         names=["pid", "key", "payload"])


@dataclass(frozen=True)
class FullRange:
    """A score range's distinct scores (increasing) with their counts."""

    counts: ScoreCounts
    auc: tuple[float, float, float]


@dataclass(frozen=True)
class LargeRange:
    """A range with more than :data:`FULL_RANGE_LIMIT` distinct scores: their number and
    the exact AUC partial only."""

    n_distinct: int
    auc: tuple[float, float, float]


def _finish_range(counts: ScoreCounts) -> FullRange | LargeRange:
    if counts.scores.size <= FULL_RANGE_LIMIT:
        return FullRange(counts, auc_partial(counts))
    return LargeRange(int(counts.scores.size), auc_partial(counts))


def _finish_binned(counts: ScoreCounts, *, grouping: int) -> ScoreCounts:
    """The range down-sampled in decreasing score order (returned decreasing)."""
    scores, pos, neg = down_sample(counts.scores[::-1], counts.pos[::-1], counts.neg[::-1],
                                   grouping)
    return ScoreCounts(scores, pos, neg)


def _merge(a: Any, b: Any) -> Any:
    return a.merge(b)


def _reducer(finish: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A plain function for ``applyInPandas`` (which reads a function's type hints; a
    :func:`functools.partial` would make it warn): one key's records, merged in a fixed
    order, then ``finish`` (for a score range) on the executor."""

    def reduce_key(pdf: Any) -> Any:
        import pandas as pd

        key = int(pdf["key"].iloc[0])
        # In partition order, so the sums do not depend on the shuffle's delivery order.
        pdf = pdf.sort_values("pid", kind="stable")
        values = [pickle.loads(p) for p in pdf["payload"]]
        acc = values[0]
        for value in values[1:]:
            acc = _merge(acc, value)
        if key != CONFUSION_KEY:
            acc = finish(acc)
        return pd.DataFrame({"pid": [0], "key": [key],
                             "payload": [pickle.dumps(acc, protocol=5)]})

    return reduce_key


def _run(dataset: DataFrame, *, features_col: str, label_col: str, weight_col: str | None,
         scorer: Scorer, finish: Callable[[Any], Any]) -> dict[int, Any]:
    from rddml.engine.columns import column_names, select_model_columns

    selected = select_model_columns(dataset, features_col=features_col, label_col=label_col,
                                    weight_col=weight_col)
    names = column_names(features_col, None, label_col, weight_col)
    task = partial(_partition_records, columns=_Columns(names, weight_col is not None),
                   scorer=scorer, edges=auc_bucket_edges(N_RANGES))
    records = selected.mapInArrow(partial(_emit, task=task), RECORD_SCHEMA)
    reduced = records.groupBy("key").applyInPandas(_reducer(finish), RECORD_SCHEMA)
    return {int(r["key"]): pickle.loads(r["payload"]) for r in reduced.collect()}


# --------------------------------------------------------------------- driver
@dataclass(frozen=True)
class PassResult:
    """What one summary pass found: the counts and, binary, the score ranges."""

    confusion: Confusion
    ranges: dict[int, FullRange | LargeRange]

    @property
    def area_under_roc(self) -> float | None:
        """The exact ROC AUC (None when a class has no weight)."""
        return auc_from_partials([self.ranges[k].auc for k in sorted(self.ranges)])

    @property
    def n_distinct(self) -> int:
        """Distinct scores over all ranges."""
        return sum(r.counts.scores.size if isinstance(r, FullRange) else r.n_distinct
                   for r in self.ranges.values())

    def has_every_score(self) -> bool:
        """True when every range kept its scores (the curves need no second pass)."""
        return all(isinstance(r, FullRange) for r in self.ranges.values())

    def curve(self, grouping: int) -> BinaryCurve:
        """The curve from the kept scores, down-sampled per range by ``grouping``."""
        parts = []
        for key in sorted(self.ranges, reverse=True):
            r = self.ranges[key]
            assert isinstance(r, FullRange)
            parts.append(_finish_binned(r.counts, grouping=grouping))
        return _curve(parts)


def _curve(parts: list[ScoreCounts]) -> BinaryCurve:
    """The curve of ranges given in decreasing score order, each decreasing."""
    if not parts:
        return binary_curve(np.zeros(0), np.zeros(0), np.zeros(0))
    return binary_curve(np.concatenate([p.scores for p in parts]),
                        np.concatenate([p.pos for p in parts]),
                        np.concatenate([p.neg for p in parts]))


def summary_pass(dataset: DataFrame, *, features_col: str, label_col: str,
                 weight_col: str | None, scorer: Scorer) -> PassResult:
    """The counts of ``dataset`` scored by ``scorer``: one Spark job."""
    out = _run(dataset, features_col=features_col, label_col=label_col,
               weight_col=weight_col, scorer=scorer, finish=_finish_range)
    confusion = out.pop(CONFUSION_KEY, Confusion())
    return PassResult(confusion, out)


def binned_curve_pass(dataset: DataFrame, *, features_col: str, label_col: str,
                      weight_col: str | None, scorer: Scorer, grouping: int) -> BinaryCurve:
    """The curve down-sampled on the executors (each range by ``grouping``): one job."""
    out = _run(dataset, features_col=features_col, label_col=label_col,
               weight_col=weight_col, scorer=scorer,
               finish=partial(_finish_binned, grouping=grouping))
    out.pop(CONFUSION_KEY, None)
    return _curve([out[k] for k in sorted(out, reverse=True)])
