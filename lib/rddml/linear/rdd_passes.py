"""The Spark side of logistic regression: one job per pass over a :class:`BlockDataset`.

- :func:`loss_grad_pass`: loss and gradient sums at broadcast coefficients, one
  ``treeAggregate`` job (optionally over a counter-based mini-batch);
- :func:`class_moments_pass`: per-class counts and feature moments for
  standardisation and balanced class weights, one job;
- :func:`full_objective` / :func:`batch_objective`: the optimiser's objective and its
  gradient in the (possibly standardised) parameter space, one pass each;
- :func:`evaluate_pass`: confusion counts, log loss and exact AUC in one job;
- prediction helpers for blocks, RDD records and DataFrames.

The math lives in :mod:`rddml.linear.kernels`. Task functions are module-level
and bound with :func:`functools.partial`; broadcasts are released in ``finally``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.engine.aggregation import keyed_partials, tree_aggregate
from rddml.engine.blocks import Block, BlockDataset
from rddml.engine.counter_rng import uniform_for_rows
from rddml.errors import DataValidationError
from rddml.linear.kernels import (
    ClassMoments,
    EvalStats,
    LossGrad,
    Scaling,
    ScoreCounts,
    auc_bucket_edges,
    auc_from_partials,
    auc_partial,
    block_class_moments,
    block_eval_stats,
    block_loss_grad,
    block_score_counts,
    sigmoid,
    smooth_objective,
    split_by_bucket,
)

if TYPE_CHECKING:
    from pyspark import Broadcast

EVAL_KEY = -1  # evaluate_pass: the key carrying the confusion counts and log loss
RECORD_CHUNK = 8192


def _global_rows(block: Block, offsets: np.ndarray) -> np.ndarray:
    start = int(offsets[block.partition]) + block.start
    return np.arange(start, start + block.X.shape[0], dtype=np.int64)


def tree_depth(ds: BlockDataset) -> int:
    """``treeAggregate`` depth: with few partitions the driver merges the partials
    directly (one stage per pass); past 16 an intermediate level spares the driver."""
    return 1 if ds.num_partitions <= 16 else 2


def batch_mask(block: Block, offsets: np.ndarray, seed: int, stream: int,
               fraction: float) -> np.ndarray:
    """Rows of ``block`` in the mini-batch: a uniform draw keyed on (seed, stream, global
    row), so the batch is the same however the data is partitioned."""
    return uniform_for_rows(seed, stream, _global_rows(block, offsets)) < fraction


# ------------------------------------------------------------- loss/gradient
def _block_loss_grad(
    block: Block, *, params: Broadcast[tuple[np.ndarray, float]],
    class_weights: tuple[float, float] | None,
    batch: tuple[np.ndarray, int, int, float] | None,
) -> LossGrad:
    coef, intercept = params.value
    assert block.y is not None
    keep = None if batch is None else batch_mask(block, *batch)
    return block_loss_grad(block.X, block.y, block.w, coef, intercept, class_weights, keep)


def _merge_loss_grad(a: LossGrad, b: LossGrad) -> LossGrad:
    return a.merge(b)


def loss_grad_pass(
    ds: BlockDataset,
    coef: np.ndarray,
    intercept: float,
    *,
    class_weights: tuple[float, float] | None = None,
    batch: tuple[int, int, float] | None = None,
) -> LossGrad:
    """Weighted log-loss and gradient sums at ``(coef, intercept)``: one Spark job.

    ``batch = (seed, stream, fraction)`` restricts the sums to a counter-based sample.
    """
    bc = ds.rdd.context.broadcast((np.asarray(coef, dtype=np.float64), float(intercept)))
    try:
        sample = None if batch is None else (ds.partition_offsets, *batch)
        fn = partial(_block_loss_grad, params=bc, class_weights=class_weights, batch=sample)
        return tree_aggregate(ds.rdd, fn, _merge_loss_grad, LossGrad.empty(ds.n_features),
                              depth=tree_depth(ds))
    finally:
        bc.unpersist()


# ------------------------------------------------------------ feature moments
def _block_moments(block: Block) -> ClassMoments:
    assert block.y is not None
    return block_class_moments(block.X, block.y, block.w)


def _merge_moments(a: ClassMoments, b: ClassMoments) -> ClassMoments:
    return a.merge(b)


def class_moments_pass(ds: BlockDataset) -> ClassMoments:
    """Per-class row counts and weighted feature moments: one Spark job."""
    return tree_aggregate(ds.rdd, _block_moments, _merge_moments,
                          ClassMoments.empty(ds.n_features), depth=tree_depth(ds))


# ----------------------------------------------------------------- objectives
def full_objective(theta: np.ndarray, *, ds: Any, scaling: Scaling,
                   class_weights: tuple[float, float] | None, l2: float,
                   pass_fn: Callable[..., LossGrad] = loss_grad_pass) -> tuple[float, np.ndarray]:
    """The smooth objective and its θ-gradient: one pass over all rows.

    ``pass_fn`` is the backend's loss+gradient pass (this module's for a BlockDataset,
    :mod:`rddml.linear.frame_passes`'s for a FrameDataset); the objective is shared.
    """
    coef, intercept = scaling.to_original(theta)
    sums = pass_fn(ds, coef, intercept, class_weights=class_weights)
    if sums.weight <= 0:
        raise DataValidationError(
            "The total training weight is 0 (every row has weight 0 or a class weight of 0); "
            "at least one row needs a positive weight."
        )
    return smooth_objective(sums, theta, scaling, l2)


def batch_objective(iteration: int, theta: np.ndarray, *, ds: Any, scaling: Scaling,
                    class_weights: tuple[float, float] | None, l2: float, seed: int,
                    fraction: float, pass_fn: Callable[..., LossGrad] = loss_grad_pass,
                    ) -> tuple[float, np.ndarray] | None:
    """The objective on iteration ``iteration``'s mini-batch (None when it is empty)."""
    coef, intercept = scaling.to_original(theta)
    batch = None if fraction >= 1.0 else (seed, iteration, fraction)
    sums = pass_fn(ds, coef, intercept, class_weights=class_weights, batch=batch)
    if sums.weight <= 0:
        return None
    return smooth_objective(sums, theta, scaling, l2)


def check_labelled(ds: BlockDataset, *, require_both: bool) -> None:
    """Raise :class:`DataValidationError` unless labels are 0/1 (both present when
    ``require_both``) and weights are non-negative (from the dataset's summary, no job)."""
    if not ds.has_labels:
        raise DataValidationError(
            "Logistic regression needs labelled data: (features, label[, weight]) tuples, a "
            "label column, or a BlockDataset built with labels."
        )
    bad = [v for v in ds.labels if v not in (0.0, 1.0)]
    if bad:
        raise DataValidationError(
            f"Labels must be 0 or 1, found the label value(s) {bad[:10]} (distinct labels "
            f"seen: {list(ds.labels)[:10]})."
        )
    if require_both and len(ds.labels) < 2:
        raise DataValidationError(
            f"The training data has a single class (every label is {ds.labels[0]:g}); "
            "logistic regression needs rows of both classes 0 and 1."
        )
    if ds.has_weights and ds.min_weight is not None and ds.min_weight < 0:
        raise DataValidationError(
            f"Sample weights must be >= 0, got a minimum weight of {ds.min_weight}."
        )


# ---------------------------------------------------------------- evaluation
def _block_evaluation(
    block: Block, *, params: Broadcast[tuple[np.ndarray, float]], threshold: float
) -> tuple[EvalStats, ScoreCounts]:
    coef, intercept = params.value
    assert block.y is not None
    z = block.X @ coef + intercept
    return (block_eval_stats(z, block.y, block.w, threshold),
            block_score_counts(sigmoid(z), block.y, block.w))


def _merge_evaluation(
    a: tuple[EvalStats, ScoreCounts], b: tuple[EvalStats, ScoreCounts]
) -> tuple[EvalStats, ScoreCounts]:
    return a[0].merge(b[0]), a[1].merge(b[1])


def _split_evaluation(
    part: tuple[EvalStats, ScoreCounts], *, edges: np.ndarray
) -> list[tuple[int, Any]]:
    return [(EVAL_KEY, part[0]), *split_by_bucket(part[1], edges)]


def _combine_evaluation(a: Any, b: Any) -> Any:
    return a.merge(b)


def _bucket_partial(item: tuple[int, Any]) -> tuple[int, Any]:
    key, value = item
    if key == EVAL_KEY:
        return key, value
    # Reduce a score range to three numbers before it goes to the driver.
    return key, auc_partial(value)


def evaluate_pass(
    ds: BlockDataset, coef: np.ndarray, intercept: float, threshold: float
) -> tuple[EvalStats, float | None]:
    """Confusion counts, log loss and the exact ROC AUC at ``(coef, intercept)``: one job.

    Each partition groups its rows by distinct predicted probability and cuts the
    sorted (score, positive weight, negative weight) arrays into fixed score ranges;
    ``reduceByKey`` merges each range across partitions (ties meet there exactly), and
    each range is reduced to (positives, negatives, concordant pairs) before the
    driver combines the ranges in score order. No row reaches the driver.
    """
    n_buckets = max(2, 2 * ds.num_partitions)
    edges = auc_bucket_edges(n_buckets)
    bc = ds.rdd.context.broadcast((np.asarray(coef, dtype=np.float64), float(intercept)))
    try:
        keyed = ds.rdd.mapPartitions(partial(
            keyed_partials,
            partial_fn=partial(_block_evaluation, params=bc, threshold=threshold),
            merge=_merge_evaluation, split=partial(_split_evaluation, edges=edges),
        ))
        reduced = dict(
            keyed.reduceByKey(_combine_evaluation, numPartitions=min(n_buckets, 16))
            .map(_bucket_partial).collect()
        )
    finally:
        bc.unpersist()
    stats = reduced.pop(EVAL_KEY, EvalStats.empty())
    auc = auc_from_partials([reduced[k] for k in sorted(reduced)])
    return stats, auc


# ---------------------------------------------------------------- prediction
def _block_proba(block: Block, *, coef: np.ndarray, intercept: float) -> np.ndarray:
    return np.asarray(sigmoid(block.X @ coef + intercept))


def _block_predict(block: Block, *, coef: np.ndarray, intercept: float,
                   threshold: float) -> np.ndarray:
    return (sigmoid(block.X @ coef + intercept) > threshold).astype(np.float64)


def predict_blocks(ds: BlockDataset, coef: np.ndarray, intercept: float,
                   threshold: float | None) -> Any:
    """RDD of arrays, one per block: P(y=1), or 0/1 predictions when ``threshold`` is set."""
    if threshold is None:
        return ds.rdd.map(partial(_block_proba, coef=coef, intercept=intercept))
    return ds.rdd.map(partial(_block_predict, coef=coef, intercept=intercept,
                              threshold=threshold))


def _features_of(record: Any) -> Any:
    """The features of an RDD element: the element itself, or the first item of a
    ``(features, label[, weight])`` tuple."""
    if isinstance(record, tuple) and len(record) in (2, 3) and not np.isscalar(record[0]):
        return record[0]
    return record


def _predict_records(
    records: Iterable[Any], *, coef: np.ndarray, intercept: float, threshold: float | None
) -> Iterator[float]:
    chunk: list[Any] = []
    d = coef.shape[0]

    def flush() -> list[float]:
        X = np.asarray(chunk, dtype=np.float64).reshape(len(chunk), d)
        chunk.clear()
        p = sigmoid(X @ coef + intercept)
        out = p if threshold is None else (p > threshold).astype(np.float64)
        return out.tolist()  # type: ignore[no-any-return]

    for record in records:
        chunk.append(_features_of(record))
        if len(chunk) >= RECORD_CHUNK:
            yield from flush()
    if chunk:
        yield from flush()


def predict_records(rdd: Any, coef: np.ndarray, intercept: float,
                    threshold: float | None) -> Any:
    """RDD of floats in the input's order: P(y=1), or 0.0/1.0 when ``threshold`` is set."""
    return rdd.mapPartitions(partial(_predict_records, coef=coef, intercept=intercept,
                                     threshold=threshold))


def predict_dataframe(
    df: Any, *, features: Any, out_col: str, coef: np.ndarray, intercept: float,
    threshold: float | None,
) -> Any:
    """``df`` with a double column ``out_col``: P(y=1), or 0.0/1.0 with a threshold."""
    import pandas as pd
    from pyspark.sql import functions as F

    d = coef.shape[0]

    def score(col: pd.Series) -> pd.Series:
        X = np.stack(col.to_numpy()).astype(np.float64) if len(col) else np.zeros((0, d))
        if X.shape[1] != d:
            raise ValueError(f"the model was fitted on {d} features, but the DataFrame's "
                             f"feature arrays have {X.shape[1]}")
        p = sigmoid(X @ coef + intercept)
        return pd.Series(p if threshold is None else (p > threshold).astype(np.float64))

    # pandas_udf infers its kind from real annotations; this module's are strings.
    score.__annotations__ = {"col": pd.Series, "return": pd.Series}
    udf = F.pandas_udf(score, "double")  # type: ignore[call-overload,attr-defined]
    return df.withColumn(out_col, udf(features))
