"""k-means on the DataFrame API only: the backend for Spark Connect (no RDDs).

The same Lloyd iterations as :mod:`rddml.kmeans_steps`, expressed with
``mapInArrow``: each partition turns its Arrow batches into NumPy arrays and reduces
them with the kernels of :mod:`rddml.kmeans_kernels` to at most ``k + 1`` small rows
(per-cluster sums and weights, plus one row with the cost and the far-point
candidates for ``empty_cluster="farthest"``). Those rows are combined either

- on the driver after a ``collect`` (``"collect"``: one stage, no shuffle; the
  analogue of a one-level ``treeAggregate``), or
- by ``groupBy("cluster").agg(sum ...)`` (``"groupBy"``: a shuffle of the partials,
  then k + 1 rows to the driver).

Both give the same centres. Measured on 2 local cores, per Lloyd pass (median of
4; classic session / Spark Connect):

==========================================  =============  =============
data                                        collect        groupBy
==========================================  =============  =============
100 000 × 10, k = 10, 8 partitions          1.0 s / 1.6 s  1.9 s / 2.5 s
40 000 × 50, k = 50, 64 partitions          5.9 s / 5.2 s  16.8 s / 16.4 s
==========================================  =============  =============

The partials are a few KB per partition, so the shuffle, the extra stage and the
``k·d`` aggregate expressions of ``groupBy`` cost more than they save: ``"auto"``
(what the fit uses) collects, and switches to ``groupBy`` only when the partials
would exceed :data:`MAX_COLLECT_VALUES` numbers (partitions × (k + 1) × d), to
spare the driver's memory. The estimator's ``aggregation`` parameter names RDD
operations and does not apply here. The centres travel inside the task's
:func:`functools.partial` (Spark Connect has no broadcast).

Entry points for the estimator (see :func:`fit_kmeans_dataframe`):
``fit_kmeans_dataframe(df, **KMeans(...).get_params())`` returns the fitted
attributes, and :func:`compute_cost_dataframe` backs ``KMeans.compute_cost``.

Examples
--------
>>> attrs = fit_kmeans_dataframe(df, k=2, init=[[0, 0], [9, 9]], seed=0)  # doctest: +SKIP
>>> attrs["cluster_centers_"]  # doctest: +SKIP
array([[0. , 0.5],
       [9. , 8.5]])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np

from rddml.errors import InvalidParameterError
from rddml.frames import Batch, FrameDataset, as_frame_dataset
from rddml.kmeans_dataframe_init import init_kmeans_parallel, init_kmeans_plus_plus, init_random
from rddml.kmeans_kernels import (
    LloydStats,
    centre_shift,
    closest_centre,
    lloyd_partial_stats,
    update_centres,
)

logger = logging.getLogger(__name__)

COST_KEY = -1  # the partial row carrying the cost and the far-point candidates
#: Above this many partial numbers (partitions × (k + 1) × d) "auto" uses groupBy.
MAX_COLLECT_VALUES = 16_000_000
FRAME_AGGREGATIONS = ("auto", "collect", "groupBy")
LLOYD_COLUMNS = (
    ("cluster", "long"), ("weight", "double"), ("sums", "array<double>"), ("cost", "double"),
    ("far_dists", "array<double>"), ("far_labels", "array<long>"),
    ("far_weights", "array<double>"), ("far_points", "array<double>"),
)


# ------------------------------------------------------------------- Lloyd pass
def _fold_lloyd(batches: Iterator[Batch], centres: np.ndarray, n_far: int) -> LloydStats | None:
    stats: LloydStats | None = None
    for batch in batches:
        part = lloyd_partial_stats(batch.X, batch.w, centres, n_far)
        stats = part if stats is None else stats.merge(part)
    return stats


def _lloyd_task(batches: Iterator[Batch], *, centres: np.ndarray,
                n_far: int) -> list[tuple[Any, ...]]:
    """At most k + 1 rows per partition: (cluster, weight, sums) and the cost row."""
    stats = _fold_lloyd(batches, centres, n_far)
    if stats is None:
        return []
    rows: list[tuple[Any, ...]] = [
        (j, float(stats.counts[j]), stats.sums[j].tolist(), None, None, None, None, None)
        for j in np.flatnonzero(stats.counts > 0).tolist()
    ]
    rows.append((COST_KEY, None, None, stats.cost, stats.far_dists.tolist(),
                 stats.far_labels.tolist(), stats.far_weights.tolist(),
                 stats.far_points.ravel().tolist()))
    return rows


def _far_stats(cost: float, row: Any, k: int, d: int) -> LloydStats:
    """A cost row's cost and far-point candidates as LloydStats (zero sums), for ``merge``."""
    stats = LloydStats.empty(k, d)
    stats.cost = float(cost)
    if row["far_dists"]:
        stats.far_dists = np.asarray(row["far_dists"], dtype=np.float64)
        stats.far_labels = np.asarray(row["far_labels"], dtype=np.int64)
        stats.far_weights = np.asarray(row["far_weights"], dtype=np.float64)
        stats.far_points = np.asarray(row["far_points"], dtype=np.float64).reshape(-1, d)
    return stats


def _merge_rows(rows: list[Any], k: int, d: int) -> LloydStats:
    """Add the partial rows in the order given (partition order after a collect)."""
    sums, counts = np.zeros((k, d)), np.zeros(k)
    far = LloydStats.empty(k, d)
    for row in rows:
        if row["cluster"] == COST_KEY:
            far = far.merge(_far_stats(row["cost"], row, k, d))
        else:
            sums[row["cluster"]] += np.asarray(row["sums"], dtype=np.float64)
            counts[row["cluster"]] += float(row["weight"])
    far.sums, far.counts = sums, counts
    return far


def _grouped_lloyd(fd: FrameDataset, task: Any, k: int, d: int) -> LloydStats:
    """``groupBy(cluster)`` over the partial rows: k + 1 rows reach the driver."""
    from pyspark.sql import functions as F

    partials = fd.partial_frame(fd.task_runner(task, LLOYD_COLUMNS), LLOYD_COLUMNS)
    far = F.struct("far_dists", "far_labels", "far_weights", "far_points")
    grouped = partials.groupBy("cluster").agg(
        F.sum("weight").alias("weight"),
        F.array(*[F.sum(F.col("sums")[i]) for i in range(d)]).alias("sums"),
        F.sum("cost").alias("cost"),
        # One candidate list per partition; only the cost row has them (nulls are skipped).
        F.collect_list(F.when(F.col("cluster") == COST_KEY, far)).alias("far"),
    )
    sums, counts = np.zeros((k, d)), np.zeros(k)
    far_stats = LloydStats.empty(k, d)
    for row in grouped.collect():
        if row["cluster"] == COST_KEY:
            far_stats.cost = float(row["cost"])
            for part in row["far"]:
                far_stats = far_stats.merge(_far_stats(0.0, part, k, d))
        else:
            sums[row["cluster"]] = np.asarray(row["sums"], dtype=np.float64)
            counts[row["cluster"]] = float(row["weight"])
    far_stats.sums, far_stats.counts = sums, counts
    return far_stats


def dataframe_lloyd_pass(fd: FrameDataset, centres: np.ndarray, n_far: int,
                         aggregation: str = "auto") -> LloydStats:
    """One assignment + partial-sum pass: one Spark job.

    Parameters
    ----------
    fd : FrameDataset
    centres : ndarray of shape (k, d)
    n_far : int
        Far-point candidates to keep (``k`` for ``empty_cluster="farthest"``, else 0).
    aggregation : {"auto", "collect", "groupBy"}, default="auto"
        Merge the partials on the driver after a collect, or with ``groupBy``; "auto"
        collects unless the partials exceed :data:`MAX_COLLECT_VALUES` numbers.

    Returns
    -------
    LloydStats
        The merged sums, weights, cost and far-point candidates, as the RDD pass.
    """
    from rddml.params import check_choice

    check_choice("aggregation", aggregation, FRAME_AGGREGATIONS)
    k, d = centres.shape
    if aggregation == "auto":
        big = fd.num_partitions * (k + 1) * d > MAX_COLLECT_VALUES
        aggregation = "groupBy" if big else "collect"
    task = partial(_lloyd_task, centres=np.asarray(centres, dtype=np.float64), n_far=n_far)
    if aggregation == "groupBy":
        return _grouped_lloyd(fd, task, k, d)
    return _merge_rows(fd.partials(task, LLOYD_COLUMNS), k, d)


def _cost_task(batches: Iterator[Batch], *, centres: np.ndarray) -> list[tuple[Any, ...]]:
    total = 0.0
    for batch in batches:
        _, d2 = closest_centre(batch.X, centres)
        total += float(d2.sum() if batch.w is None else d2 @ batch.w)
    return [(total,)]


def dataframe_cost(fd: FrameDataset, centres: np.ndarray) -> float:
    """Weighted sum of squared distances to the closest centre (the inertia): one job."""
    task = partial(_cost_task, centres=np.asarray(centres, dtype=np.float64))
    return float(sum(row["cost"] for row in fd.partials(task, (("cost", "double"),))))


# --------------------------------------------------------------------- the fit
def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.sqrt((X * X).sum(axis=1))
    norms[norms == 0] = 1.0
    return X / norms[:, None]


def _initial_centres(fd: FrameDataset, init: Any, k: int, seed: int, cosine: bool) -> np.ndarray:
    from rddml.params import check_matrix

    if not isinstance(init, str):
        centres = check_matrix("init", init, shape=(k, fd.n_features))
        return _unit_rows(centres) if cosine else centres.copy()
    if init == "random":
        return init_random(fd, k, seed)
    if init == "k-means++":
        return init_kmeans_plus_plus(fd, k, seed)
    return init_kmeans_parallel(fd, k, seed)


def fit_kmeans_dataframe(data: Any, **params: Any) -> dict[str, Any]:
    """Fit k-means on a DataFrame with the DataFrame API only; return the fitted attributes.

    Parameters
    ----------
    data : DataFrame (classic or Spark Connect) or FrameDataset
    **params
        Exactly :meth:`rddml.KMeans.get_params` (``k``, ``init``, ``max_iter``, ``tol``,
        ``seed``, ``distance``, ``empty_cluster``, ``aggregation`` (RDD-only, ignored
        here), the column names, and ``backend`` once the estimator has it); validated
        as the estimator does.

    Returns
    -------
    dict
        ``cluster_centers_``, ``inertia_``, ``n_iter_``, ``converged_``, ``history_``,
        ``init_centers_``, ``seed_`` and ``n_features_in_``, with the meanings of
        :class:`rddml.KMeans`; ``KMeans.fit`` sets them with ``vars(self).update(...)``.

    Examples
    --------
    >>> fitted = fit_kmeans_dataframe(df, **KMeans(k=3, seed=1).get_params())  # doctest: +SKIP
    >>> fitted["n_iter_"] <= 20  # doctest: +SKIP
    True
    """
    from rddml.kmeans import KMeans

    est = KMeans(**params)
    est._validate_params()
    cosine = est.distance == "cosine"
    fd, owned = as_frame_dataset(data, features_col=est.features_col,
                                 feature_cols=est.feature_cols, weight_col=est.weight_col,
                                 unit_norm=cosine)
    try:
        return _fit(fd, est, cosine)
    finally:
        if owned:
            fd.unpersist()


def _fit(fd: FrameDataset, est: Any, cosine: bool) -> dict[str, Any]:
    k = int(est.k)
    if fd.has_weights and fd.min_weight is not None and fd.min_weight < 0:
        raise InvalidParameterError(
            f"Sample weights must be >= 0, got a minimum weight of {fd.min_weight}."
        )
    if k > fd.n_rows:
        raise InvalidParameterError(
            f"The 'k' parameter must be <= the number of points ({fd.n_rows}), got {k}."
        )
    seed = est.seed if est.seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
    started = time.perf_counter()
    centres = _initial_centres(fd, est.init, k, seed, cosine)
    logger.info("k-means (DataFrame backend) init %s: %d centres in %.2fs",
                est.init if isinstance(est.init, str) else "explicit", k,
                time.perf_counter() - started)
    init_centres = centres.copy()
    history: list[dict[str, Any]] = []
    converged = False
    n_far = k if est.empty_cluster == "farthest" else 0
    for it in range(1, int(est.max_iter) + 1):
        t0 = time.perf_counter()
        stats = dataframe_lloyd_pass(fd, centres, n_far, "auto")
        new, n_empty = update_centres(stats, centres, est.empty_cluster)
        if cosine:
            new = _unit_rows(new)
        shift = centre_shift(centres, new)
        cost = stats.cost / 2 if cosine else stats.cost
        seconds = time.perf_counter() - t0
        history.append({"iteration": it, "cost": cost, "shift": shift,
                        "empty_clusters": n_empty, "seconds": seconds})
        logger.info("k-means iteration %d/%d cost=%.6g shift=%.3g empty=%d %.3fs",
                    it, est.max_iter, cost, shift, n_empty, seconds)
        centres = new
        if shift < est.tol and n_empty == 0:
            converged = True
            break
    inertia = dataframe_cost(fd, centres)
    return {
        "cluster_centers_": centres,
        "inertia_": inertia / 2 if cosine else inertia,
        "n_iter_": len(history),
        "converged_": converged,
        "history_": history,
        "init_centers_": init_centres,
        "seed_": seed,
        "n_features_in_": fd.n_features,
    }


def compute_cost_dataframe(
    data: Any,
    centres: np.ndarray,
    *,
    distance: str = "euclidean",
    features_col: str | None = "features",
    feature_cols: list[str] | None = None,
    weight_col: str | None = None,
) -> float:
    """``KMeans.compute_cost`` on the DataFrame backend: the weighted squared distances of
    ``data`` to ``centres`` (``1 - cos`` summed for ``distance="cosine"``)."""
    cosine = distance == "cosine"
    fd, owned = as_frame_dataset(data, features_col=features_col, feature_cols=feature_cols,
                                 weight_col=weight_col, unit_norm=cosine)
    try:
        cost = dataframe_cost(fd, centres)
    finally:
        if owned:
            fd.unpersist()
    return cost / 2 if cosine else cost
