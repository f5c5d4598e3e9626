"""Logistic regression passes on the DataFrame API only: the backend for Spark Connect.

Each function here has the name, signature and result of its RDD counterpart in
:mod:`rddml.linear.rdd_passes`, taking a :class:`~rddml.engine.frames.FrameDataset` instead of a
:class:`~rddml.engine.blocks.BlockDataset`, so the estimator switches backend by switching
module (``steps = logistic_dataframe``) and keeps its optimisers untouched:

- :func:`loss_grad_pass`: weighted log loss and gradient sums, one ``mapInArrow`` job
  whose partitions each emit one row (d + 4 numbers) merged on the driver;
- :func:`class_moments_pass`: per-class counts and feature moments, one job;
- :func:`full_objective` / :func:`batch_objective`: the optimiser's objective;
- :func:`evaluate_pass`: confusion counts, log loss and the exact ROC AUC, one job:
  partitions cut their (score, positive weight, negative weight) counts into score
  ranges, ``groupBy(range).applyInPandas`` merges each range across partitions, and
  only three numbers per range reach the driver.

The math is :mod:`rddml.linear.kernels`; coefficients travel inside each task's
:func:`functools.partial` (no broadcast in Spark Connect). Mini-batches draw each
row's coin from a hash of its values (:mod:`rddml.engine.content_keys`), so a seed gives
the same batches for any partitioning on this backend.

Examples
--------
>>> fd = as_frame_dataset(df, features_col="features", feature_cols=None,  # doctest: +SKIP
...                       label_col="label")[0]
>>> sums = loss_grad_pass(fd, np.zeros(fd.n_features), 0.0)  # doctest: +SKIP
>>> round(sums.loss / sums.weight, 6)  # doctest: +SKIP
0.693147
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np

from rddml.engine.content_keys import uniform_for_content
from rddml.engine.frames import Batch, FrameDataset, as_frame_dataset
from rddml.errors import DataValidationError
from rddml.linear import rdd_passes as logistic_steps
from rddml.linear.kernels import (
    ClassMoments,
    EvalStats,
    LossGrad,
    ScoreCounts,
    auc_bucket_edges,
    auc_from_partials,
    auc_partial,
    block_class_moments,
    block_eval_stats,
    block_loss_grad,
    block_score_counts,
    sigmoid,
    split_by_bucket,
)
from rddml.linear.rdd_passes import check_labelled

__all__ = [
    "as_frame_dataset", "batch_objective", "check_labelled", "class_moments_pass",
    "evaluate_pass", "full_objective", "loss_grad_pass",
]

EVAL_KEY = -1  # evaluate_pass: the row carrying the confusion counts and log loss
LOSS_COLUMNS = (("loss", "double"), ("grad", "array<double>"), ("grad_intercept", "double"),
                ("weight", "double"), ("count", "long"))
MOMENT_COLUMNS = (("count", "array<long>"), ("weight", "array<double>"),
                  ("weight_sq", "array<double>"), ("mean", "array<double>"),
                  ("m2", "array<double>"))
EVAL_COLUMNS = (("bucket", "long"), ("scores", "array<double>"), ("pos", "array<double>"),
                ("neg", "array<double>"), ("stats", "array<double>"))


# ------------------------------------------------------------- loss/gradient
def _loss_grad_task(batches: Iterator[Batch], *, coef: np.ndarray, intercept: float,
                    class_weights: tuple[float, float] | None,
                    batch: tuple[int, int, float] | None) -> list[tuple[Any, ...]]:
    total = LossGrad.empty(coef.shape[0])
    for b in batches:
        assert b.y is not None
        keep = None
        if batch is not None:
            seed, stream, fraction = batch
            keep = uniform_for_content(seed, stream, b.X, b.y, b.w) < fraction
        total = total.merge(block_loss_grad(b.X, b.y, b.w, coef, intercept, class_weights, keep))
    return [(total.loss, total.grad_coef.tolist(), total.grad_intercept, total.weight,
             total.count)]


def loss_grad_pass(
    ds: FrameDataset,
    coef: np.ndarray,
    intercept: float,
    *,
    class_weights: tuple[float, float] | None = None,
    batch: tuple[int, int, float] | None = None,
) -> LossGrad:
    """Weighted log-loss and gradient sums at ``(coef, intercept)``: one Spark job.

    ``batch = (seed, stream, fraction)`` restricts the sums to a sample keyed on the
    rows' values. Partitions emit one row each; the driver adds them in partition
    order (a one-level tree: d + 4 numbers per partition need no shuffle).
    """
    task = partial(_loss_grad_task, coef=np.asarray(coef, dtype=np.float64),
                   intercept=float(intercept), class_weights=class_weights, batch=batch)
    total = LossGrad.empty(ds.n_features)
    for row in ds.partials(task, LOSS_COLUMNS):
        total = total.merge(LossGrad(float(row["loss"]), np.asarray(row["grad"], dtype=np.float64),
                                     float(row["grad_intercept"]), float(row["weight"]),
                                     int(row["count"])))
    return total


# ------------------------------------------------------------ feature moments
def _moments_task(batches: Iterator[Batch], *, d: int) -> list[tuple[Any, ...]]:
    total = ClassMoments.empty(d)
    for b in batches:
        assert b.y is not None
        total = total.merge(block_class_moments(b.X, b.y, b.w))
    return [(total.count.tolist(), total.weight.tolist(), total.weight_sq.tolist(),
             total.mean.ravel().tolist(), total.m2.ravel().tolist())]


def class_moments_pass(ds: FrameDataset) -> ClassMoments:
    """Per-class row counts and weighted feature moments: one Spark job."""
    d = ds.n_features
    total = ClassMoments.empty(d)
    for row in ds.partials(partial(_moments_task, d=d), MOMENT_COLUMNS):
        total = total.merge(ClassMoments(
            np.asarray(row["count"], dtype=np.int64), np.asarray(row["weight"], dtype=np.float64),
            np.asarray(row["weight_sq"], dtype=np.float64),
            np.asarray(row["mean"], dtype=np.float64).reshape(2, d),
            np.asarray(row["m2"], dtype=np.float64).reshape(2, d),
        ))
    return total


# ----------------------------------------------------------------- objectives
# The objective is backend-neutral (logistic_steps); bind it to this backend's pass.
full_objective = partial(logistic_steps.full_objective, pass_fn=loss_grad_pass)
batch_objective = partial(logistic_steps.batch_objective, pass_fn=loss_grad_pass)


# ---------------------------------------------------------------- evaluation
def _evaluation_task(batches: Iterator[Batch], *, coef: np.ndarray, intercept: float,
                     threshold: float, edges: np.ndarray) -> list[tuple[Any, ...]]:
    stats = EvalStats.empty()
    counts: ScoreCounts | None = None
    for b in batches:
        assert b.y is not None
        z = b.X @ coef + intercept
        stats = stats.merge(block_eval_stats(z, b.y, b.w, threshold))
        part = block_score_counts(sigmoid(z), b.y, b.w)
        counts = part if counts is None else counts.merge(part)
    rows: list[tuple[Any, ...]] = [(EVAL_KEY, None, None, None,
                                    [stats.tn, stats.fp, stats.fn, stats.tp, stats.loss,
                                     stats.weight])]
    if counts is not None:
        rows += [(bucket, c.scores.tolist(), c.pos.tolist(), c.neg.tolist(), None)
                 for bucket, c in split_by_bucket(counts, edges)]
    return rows


def _reduce_bucket(pdf: Any) -> Any:
    """One score range (or the statistics row) of all partitions → three or six numbers.

    Runs in ``applyInPandas``: ties between partitions meet here exactly, so the
    concordant-pair count of the range is exact.
    """
    import pandas as pd

    bucket = int(pdf["bucket"].iloc[0])
    if bucket == EVAL_KEY:
        values = np.sum(np.stack([np.asarray(s, dtype=np.float64) for s in pdf["stats"]]), axis=0)
    else:
        counts = None
        for scores, pos, neg in zip(pdf["scores"], pdf["pos"], pdf["neg"]):
            part = ScoreCounts(np.asarray(scores, dtype=np.float64),
                               np.asarray(pos, dtype=np.float64),
                               np.asarray(neg, dtype=np.float64))
            counts = part if counts is None else counts.merge(part)
        assert counts is not None
        values = np.asarray(auc_partial(counts), dtype=np.float64)
    return pd.DataFrame({"bucket": [bucket], "values": [values.tolist()]})


def evaluate_pass(
    ds: FrameDataset, coef: np.ndarray, intercept: float, threshold: float
) -> tuple[EvalStats, float | None]:
    """Confusion counts, log loss and the exact ROC AUC at ``(coef, intercept)``: one job.

    No row reaches the driver: each partition groups its rows by distinct predicted
    probability and cuts the sorted counts into ``2 × partitions`` fixed score ranges;
    ``groupBy("bucket").applyInPandas`` merges each range and reduces it to
    (positives, negatives, concordant pairs); the driver combines ranges in score order.
    """
    edges = auc_bucket_edges(max(2, 2 * ds.num_partitions))
    task = partial(_evaluation_task, coef=np.asarray(coef, dtype=np.float64),
                   intercept=float(intercept), threshold=float(threshold), edges=edges)
    partials = ds.partial_frame(task, EVAL_COLUMNS)
    reduced = {
        int(row["bucket"]): np.asarray(row["values"], dtype=np.float64)
        for row in partials.groupBy("bucket")
        .applyInPandas(_reduce_bucket, "bucket long, values array<double>")
        .collect()
    }
    raw = reduced.pop(EVAL_KEY, np.zeros(6))
    stats = EvalStats(*(float(v) for v in raw))
    auc = auc_from_partials([(float(reduced[k][0]), float(reduced[k][1]), float(reduced[k][2]))
                             for k in sorted(reduced)])
    return stats, auc


def evaluate_dataframe(data: Any, coef: np.ndarray, intercept: float, threshold: float, *,
                       features_col: str | None = "features",
                       feature_cols: list[str] | None = None, label_col: str = "label",
                       weight_col: str | None = None) -> tuple[EvalStats, float | None]:
    """``evaluate_pass`` on a DataFrame: select, validate, evaluate, release (two jobs)."""
    fd, owned = as_frame_dataset(data, features_col=features_col, feature_cols=feature_cols,
                                 label_col=label_col, weight_col=weight_col)
    try:
        check_labelled(fd, require_both=False)  # type: ignore[arg-type]
        if fd.n_features != np.asarray(coef).shape[0]:
            raise DataValidationError(
                f"The data has {fd.n_features} features, but the model was fitted on "
                f"{np.asarray(coef).shape[0]}."
            )
        return evaluate_pass(fd, coef, intercept, threshold)
    finally:
        if owned:
            fd.unpersist()
