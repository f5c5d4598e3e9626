"""The passes of logistic regression over an engine dataset, written once for both backends.

- :func:`loss_grad_pass`: loss and gradient sums at the given coefficients (optionally
  over a counter-based mini-batch), one aggregate job;
- :func:`label_census_pass`: per-class counts and feature moments (and invalid labels)
  for standardisation, balanced class weights and, multinomial, the class count, one job
  (only for a dataset without the :attr:`~rddml.engine.dataset.Dataset.label_census` its
  conversion gathers, which equals it);
- :func:`full_objective` / :func:`batch_objective`: the optimiser's objective and its
  gradient in the (possibly standardised) parameter space, one pass each;
- :func:`evaluate_pass`: confusion counts, log loss and the exact ROC AUC, one job;
- :func:`check_labelled`: the label/weight checks from the dataset's summary (no job);
- multinomial (softmax) counterparts: :func:`softmax_loss_grad_pass`,
  :func:`softmax_full_objective` / :func:`softmax_batch_objective` and
  :func:`multi_evaluate_pass` (confusion matrix, log loss, one-vs-rest AUCs), one job each.

The math is :mod:`rddml.linear.kernels`; block functions are module-level and take
their parameters as an argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.engine.census import LabelCensus, block_label_census
from rddml.engine.counter_rng import uniform_for_rows
from rddml.engine.dataset import BlockView, Dataset, KeyedMerge
from rddml.engine.sparse import is_sparse
from rddml.errors import DataValidationError
from rddml.linear import fused
from rddml.linear.fused import loss_grad
from rddml.linear.kernels import (
    EvalStats,
    LossGrad,
    Scaling,
    ScoreCounts,
    auc_bucket_edges,
    auc_from_partials,
    auc_partial,
    block_eval_stats,
    block_score_counts,
    sigmoid,
    smooth_objective,
    split_by_bucket,
)
from rddml.linear.softmax import (
    MultiEvalStats,
    SoftmaxLossGrad,
    block_multi_eval,
    block_softmax_loss_grad,
    softmax_objective,
    theta_to_original,
)
from rddml.linear.sparse_kernels import csr_loss_grad, csr_softmax_loss_grad, margins

EVAL_KEY = -1  # evaluate_pass: the key carrying the confusion counts and log loss
ClassWeights = tuple[float, float] | None
Batch = tuple[int, int, float] | None


def _merge(a: Any, b: Any) -> Any:
    return a.merge(b)


def batch_mask(block: BlockView, seed: int, stream: int, fraction: float) -> np.ndarray:
    """Rows of ``block`` in the mini-batch: a uniform draw keyed on (seed, stream, row key),
    so the batch is the same however the data is partitioned."""
    return uniform_for_rows(seed, stream, block.row_keys()) < fraction


# ------------------------------------------------------------- loss/gradient
def _loss_grad_block(block: BlockView,
                     params: tuple[np.ndarray, float, ClassWeights, Batch, str]) -> LossGrad:
    coef, intercept, class_weights, batch, kernels = params
    assert block.y is not None
    _jit.limit_blas_threads()
    keep = None if batch is None else batch_mask(block, *batch)
    if is_sparse(block.X):
        # CSR blocks have their own kernels (rddml.linear.sparse_kernels): ``kernels``
        # chooses between NumPy and the fused dense kernel, neither of which reads CSR.
        return csr_loss_grad(block.X, block.y, block.w, coef, intercept, class_weights, keep)
    return loss_grad(block.X, block.y, block.w, coef, intercept, class_weights, keep,
                     kernels=kernels)


def _warm_up(kernels: str) -> bool:
    _jit.limit_blas_threads()
    return fused.warm_up(kernels)


def warm_up_kernels(ds: Dataset, kernels: str = "auto", dtype: str = "float64") -> None:
    """Compile (or load from numba's cache) the fused kernel in every partition's worker
    before the first timed pass (only where the kernel will run: dense blocks, and the
    executors decide with the same ``kernels`` mode); reads no block."""
    if (ds.layout != "sparse" and dtype == "float64"
            and _jit.use_fused(fused.use_fused_logistic(ds.n_features), kernels)):
        ds.per_partition(_warm_up, kernels)


def loss_grad_pass(
    ds: Dataset,
    coef: np.ndarray,
    intercept: float,
    *,
    class_weights: ClassWeights = None,
    batch: Batch = None,
    kernels: str = "auto",
) -> LossGrad:
    """Weighted log-loss and gradient sums at ``(coef, intercept)``: one Spark job.

    ``batch = (seed, stream, fraction)`` restricts the sums to a counter-based sample;
    ``kernels`` is the fit's resolved kernel mode, passed to every task.
    """
    params = (np.asarray(coef, dtype=np.float64), float(intercept), class_weights, batch,
              _jit.check_mode(kernels))
    return ds.aggregate(_loss_grad_block, params, LossGrad.empty(ds.n_features), _merge)


# ------------------------------------------------------------ feature moments
# ----------------------------------------------------------------- objectives
def _check_total_weight(weight: float) -> None:
    """A full pass's total training weight must be positive."""
    if weight <= 0:
        raise DataValidationError(
            "The total training weight is 0 (every row has weight 0 or a class weight of 0); "
            "at least one row needs a positive weight."
        )


def full_objective(theta: np.ndarray, *, ds: Dataset, scaling: Scaling,
                   class_weights: ClassWeights, l2: float,
                   kernels: str = "auto") -> tuple[float, np.ndarray]:
    """The smooth objective and its θ-gradient: one pass over all rows."""
    coef, intercept = scaling.to_original(theta)
    sums = loss_grad_pass(ds, coef, intercept, class_weights=class_weights, kernels=kernels)
    _check_total_weight(sums.weight)
    return smooth_objective(sums, theta, scaling, l2)


def batch_objective(iteration: int, theta: np.ndarray, *, ds: Dataset, scaling: Scaling,
                    class_weights: ClassWeights, l2: float, seed: int,
                    fraction: float, kernels: str = "auto") -> tuple[float, np.ndarray] | None:
    """The objective on iteration ``iteration``'s mini-batch (None when it is empty)."""
    coef, intercept = scaling.to_original(theta)
    batch = None if fraction >= 1.0 else (seed, iteration, fraction)
    sums = loss_grad_pass(ds, coef, intercept, class_weights=class_weights, batch=batch,
                          kernels=kernels)
    if sums.weight <= 0:
        return None
    return smooth_objective(sums, theta, scaling, l2)


def check_labelled(ds: Dataset, *, require_both: bool) -> None:
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


def check_labels_and_weights(ds: Dataset) -> None:
    """Raise :class:`DataValidationError` unless ``ds`` has labels and non-negative
    weights (any label values: the multinomial checks come from the census)."""
    if not ds.has_labels:
        raise DataValidationError(
            "Logistic regression needs labelled data: (features, label[, weight]) tuples, a "
            "label column, or a BlockDataset built with labels."
        )
    if ds.has_weights and ds.min_weight is not None and ds.min_weight < 0:
        raise DataValidationError(
            f"Sample weights must be >= 0, got a minimum weight of {ds.min_weight}."
        )


# ---------------------------------------------------------------- evaluation
def _evaluation_block(block: BlockView, params: tuple[np.ndarray, float, float]
                      ) -> tuple[EvalStats, ScoreCounts]:
    coef, intercept, threshold = params
    assert block.y is not None
    z = margins(block.X, coef, intercept)
    return (block_eval_stats(z, block.y, block.w, threshold),
            block_score_counts(sigmoid(z), block.y, block.w))


def _merge_evaluation(a: tuple[EvalStats, ScoreCounts],
                      b: tuple[EvalStats, ScoreCounts]) -> tuple[EvalStats, ScoreCounts]:
    return a[0].merge(b[0]), a[1].merge(b[1])


class _SplitEvaluation:
    """Cut a partition's (statistics, score counts) into the statistics record and one
    record per score range (a picklable callable holding the range edges)."""

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = edges

    def __call__(self, part: tuple[EvalStats, ScoreCounts]) -> list[tuple[int, Any]]:
        return [(EVAL_KEY, part[0]), *split_by_bucket(part[1], self.edges)]


def _finish_bucket(value: Any) -> Any:
    # Reduce a score range to three numbers before it goes to the driver.
    return value if isinstance(value, EvalStats) else auc_partial(value)


def evaluate_pass(
    ds: Dataset, coef: np.ndarray, intercept: float, threshold: float
) -> tuple[EvalStats, float | None]:
    """Confusion counts, log loss and the exact ROC AUC at ``(coef, intercept)``: one job.

    Each partition groups its rows by distinct predicted probability and cuts the
    sorted (score, positive weight, negative weight) arrays into fixed score ranges;
    a keyed aggregation merges each range across partitions (ties meet there exactly)
    and reduces it to (positives, negatives, concordant pairs) before the driver
    combines the ranges in score order. No row reaches the driver.
    """
    n_buckets = max(2, 2 * ds.num_partitions)
    reduced = ds.aggregate_by_key(
        _evaluation_block, (np.asarray(coef, dtype=np.float64), float(intercept),
                            float(threshold)),
        KeyedMerge(merge=_merge_evaluation, split=_SplitEvaluation(auc_bucket_edges(n_buckets)),
                   combine=_merge, finish=_finish_bucket, num_reducers=min(n_buckets, 16)),
    )
    stats = reduced.pop(EVAL_KEY, EvalStats.empty())
    auc = auc_from_partials([reduced[k] for k in sorted(reduced)])
    return stats, auc


# ======================================================= multinomial (softmax) passes
#: Class weights of a multinomial fit: one per class, or None.
ClassWeightVector = np.ndarray | None


def _softmax_loss_grad_block(
    block: BlockView, params: tuple[np.ndarray, np.ndarray, ClassWeightVector, Batch]
) -> SoftmaxLossGrad:
    coef, intercept, class_weights, batch = params
    assert block.y is not None
    keep = None if batch is None else batch_mask(block, *batch)
    if is_sparse(block.X):
        return csr_softmax_loss_grad(block.X, block.y, block.w, coef, intercept,
                                     class_weights, keep)
    return block_softmax_loss_grad(block.X, block.y, block.w, coef, intercept, class_weights,
                                   keep)


def softmax_loss_grad_pass(
    ds: Dataset,
    coef: np.ndarray,
    intercept: np.ndarray,
    *,
    class_weights: ClassWeightVector = None,
    batch: Batch = None,
) -> SoftmaxLossGrad:
    """Weighted softmax log-loss and gradient sums at ``(coef (K, d), intercept (K,))``:
    one Spark job; each partition sends K × (d + 1) + 3 numbers."""
    coef = np.asarray(coef, dtype=np.float64)
    params = (coef, np.asarray(intercept, dtype=np.float64), class_weights, batch)
    return ds.aggregate(_softmax_loss_grad_block, params,
                        SoftmaxLossGrad.empty(coef.shape[0], ds.n_features), _merge)


def _census_block(block: BlockView, _: None) -> LabelCensus:
    assert block.y is not None
    return block_label_census(block.X, block.y, block.w)


def label_census_pass(ds: Dataset) -> LabelCensus:
    """Per-class rows and weighted feature moments, and the invalid labels: one Spark job
    (the multinomial fit's statistics pass, which also counts the classes, for a dataset
    without :attr:`~rddml.engine.dataset.Dataset.label_census`, which equals it)."""
    return ds.aggregate(_census_block, None, LabelCensus.empty(ds.n_features), _merge)


def softmax_full_objective(theta: np.ndarray, *, ds: Dataset, scaling: Scaling,
                           n_classes: int, class_weights: ClassWeightVector,
                           l2: float) -> tuple[float, np.ndarray]:
    """The smooth multinomial objective and its gradient in the flat θ: one pass."""
    coef, intercept = theta_to_original(scaling, theta, n_classes)
    sums = softmax_loss_grad_pass(ds, coef, intercept, class_weights=class_weights)
    _check_total_weight(sums.weight)
    return softmax_objective(sums, theta, scaling, l2)


def softmax_batch_objective(iteration: int, theta: np.ndarray, *, ds: Dataset,
                            scaling: Scaling, n_classes: int,
                            class_weights: ClassWeightVector, l2: float, seed: int,
                            fraction: float) -> tuple[float, np.ndarray] | None:
    """The multinomial objective on iteration ``iteration``'s mini-batch (None if empty)."""
    coef, intercept = theta_to_original(scaling, theta, n_classes)
    batch = None if fraction >= 1.0 else (seed, iteration, fraction)
    sums = softmax_loss_grad_pass(ds, coef, intercept, class_weights=class_weights,
                                  batch=batch)
    if sums.weight <= 0:
        return None
    return softmax_objective(sums, theta, scaling, l2)


def _multi_evaluation_block(block: BlockView, params: tuple[np.ndarray, np.ndarray]
                            ) -> tuple[MultiEvalStats, list[ScoreCounts]]:
    coef, intercept = params
    assert block.y is not None
    return block_multi_eval(block.X, block.y, block.w, coef, intercept)


def _merge_multi_evaluation(a: tuple[MultiEvalStats, list[ScoreCounts]],
                            b: tuple[MultiEvalStats, list[ScoreCounts]]
                            ) -> tuple[MultiEvalStats, list[ScoreCounts]]:
    return a[0].merge(b[0]), [x.merge(y) for x, y in zip(a[1], b[1])]


class _SplitMultiEvaluation:
    """Cut a partition's (statistics, per-class score counts) into the statistics record
    and, per class k, one record per score range keyed ``k * n_buckets + range``."""

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = edges

    def __call__(self, part: tuple[MultiEvalStats, list[ScoreCounts]]
                 ) -> list[tuple[int, Any]]:
        n_buckets = self.edges.shape[0] + 1
        out: list[tuple[int, Any]] = [(EVAL_KEY, part[0])]
        for k, counts in enumerate(part[1]):
            out += [(k * n_buckets + b, c) for b, c in split_by_bucket(counts, self.edges)]
        return out


def _finish_multi_bucket(value: Any) -> Any:
    return auc_partial(value) if isinstance(value, ScoreCounts) else value


def multi_evaluate_pass(ds: Dataset, coef: np.ndarray, intercept: np.ndarray
                        ) -> tuple[MultiEvalStats, list[float | None]]:
    """Confusion matrix, log loss and every class's exact one-vs-rest ROC AUC: one job.

    The AUC of class k is the binary AUC of P(class k) against "label = k", computed as
    :func:`evaluate_pass` does (rows grouped by distinct score per partition, score
    ranges merged by key across partitions and reduced on the executors), with the
    ranges of all classes in the same keyed aggregation.
    """
    coef = np.asarray(coef, dtype=np.float64)
    n_classes = coef.shape[0]
    n_buckets = max(2, 2 * ds.num_partitions)
    reduced = ds.aggregate_by_key(
        _multi_evaluation_block, (coef, np.asarray(intercept, dtype=np.float64)),
        KeyedMerge(merge=_merge_multi_evaluation,
                   split=_SplitMultiEvaluation(auc_bucket_edges(n_buckets)),
                   combine=_merge, finish=_finish_multi_bucket,
                   num_reducers=min(n_buckets * n_classes, 16)),
    )
    stats = reduced.pop(EVAL_KEY, MultiEvalStats.empty(n_classes))
    ranges: list[list[tuple[float, float, float]]] = [[] for _ in range(n_classes)]
    for key in sorted(reduced):  # in score order within each class
        ranges[key // n_buckets].append(reduced[key])
    return stats, [auc_from_partials(r) for r in ranges]
