"""The passes of k-means over an engine dataset: Lloyd step, cost, rows, samples.

Each function runs one Spark job through the :class:`~rddml.engine.dataset.Dataset`
interface, so it runs unchanged on the RDD and the DataFrame backend. The math of
each block is :mod:`rddml.cluster.kernels`; block functions are module-level and take
their parameters as an argument, so closures never capture loop variables.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.cluster import fused
from rddml.cluster.fused import lloyd_sums
from rddml.cluster.kernels import (
    LloydStats,
    closest_centre,
    lloyd_partial_stats,
    normalise_rows,
    squared_distances,
)
from rddml.engine.counter_rng import uniform_for_rows
from rddml.engine.dataset import BlockView, Dataset, KeyedMerge
from rddml.errors import DataValidationError, InvalidParameterError

COST_KEY = -1  # keyed aggregation: the record carrying the cost and the far-point candidates
AGGREGATIONS = ("tree", "reduceByKey")
#: Above this many centre coordinates the reduceByKey shuffle spreads the clusters over
#: as many reducers as there are partitions (one reducer keeps the common case one task).
MANY_COORDINATES = 1_000_000


# ------------------------------------------------------------------ Lloyd pass
def _lloyd_block(block: BlockView, params: tuple[np.ndarray, int, str]) -> LloydStats:
    centres, n_far, kernels = params
    _jit.limit_blas_threads()
    if n_far > 0:  # rare (a cluster emptied): the NumPy path keeps far-point candidates
        return lloyd_partial_stats(block.X, block.w, centres, n_far)
    stats = LloydStats.empty(*centres.shape)
    stats.sums, stats.counts, stats.cost = lloyd_sums(block.X, block.w, centres, kernels)
    return stats


def _warm_up(params: tuple[str, int, int, tuple[str, ...]]) -> bool:
    kernels, d, k, dtypes = params
    _jit.limit_blas_threads()
    return fused.warm_up(kernels, d, k, dtypes)


def warm_up_kernels(ds: Dataset, k: int, kernels: str, dtype: str = "float64") -> None:
    """Compile (or load from numba's cache) the numba kernels a Lloyd pass with this
    ``kernels`` mode will run, in every partition's worker, before the first timed pass
    (only where one will run); reads no block. The executors decide with the same mode."""
    d = ds.n_features
    if _jit.use_fused(fused.use_fused_lloyd(d, k), kernels) or _jit.use_numba_helpers(kernels):
        ds.per_partition(_warm_up, (kernels, d, k, (dtype,)))


def _merge(a: Any, b: Any) -> Any:
    return a.merge(b)


def _far_record(stats: LloydStats) -> tuple[Any, ...]:
    return (stats.far_dists, stats.far_points, stats.far_labels, stats.far_weights,
            stats.n_far)


def _split_by_cluster(stats: LloydStats) -> list[tuple[int, Any]]:
    """At most k + 1 records per partition: (cluster, (sum, weight)) and the cost record."""
    records: list[tuple[int, Any]] = [
        (j, (stats.sums[j], float(stats.counts[j])))
        for j in np.flatnonzero(stats.counts > 0).tolist()
    ]
    records.append((COST_KEY, (stats.cost, _far_record(stats))))
    return records


def _combine_keyed(a: Any, b: Any) -> Any:
    if isinstance(a[0], float) and isinstance(a[1], tuple):  # the cost record
        left = LloydStats(np.zeros((0, 0)), np.zeros(0), a[0], *a[1])
        merged = left.merge(LloydStats(np.zeros((0, 0)), np.zeros(0), b[0], *b[1]))
        return (merged.cost, _far_record(merged))
    return (a[0] + b[0], a[1] + b[1])


def lloyd_pass(ds: Dataset, centres: np.ndarray, *, aggregation: str, n_far: int,
               kernels: str = "auto") -> LloydStats:
    """One assignment + partial-sum pass: per-cluster sums and weights, the cost and
    ``n_far`` far-point candidates. One Spark job (two stages with ``reduceByKey``).

    ``aggregation="tree"`` tree-aggregates the k×d partials; ``"reduceByKey"`` is the
    write-up's design: each partition emits at most k + 1 records keyed by cluster and
    a shuffle combines them. Both give the same statistics. ``kernels`` is the fit's
    resolved kernel mode (:func:`rddml._jit.resolve_kernels`), passed to every task.
    """
    if aggregation not in AGGREGATIONS:
        raise InvalidParameterError(
            f"The 'aggregation' parameter must be one of {list(AGGREGATIONS)}, got "
            f"{aggregation!r}."
        )
    k, d = centres.shape
    params = (np.asarray(centres, dtype=np.float64), int(n_far), _jit.check_mode(kernels))
    if aggregation == "tree":
        return ds.aggregate(_lloyd_block, params, LloydStats.empty(k, d), _merge)
    reducers = 1 if k * d <= MANY_COORDINATES else ds.num_partitions
    by_key = ds.aggregate_by_key(_lloyd_block, params, KeyedMerge(
        merge=_merge, split=_split_by_cluster, combine=_combine_keyed, num_reducers=reducers))
    stats = LloydStats.empty(k, d)
    for j, (total, weight) in ((j, v) for j, v in by_key.items() if j != COST_KEY):
        stats.sums[j] = total
        stats.counts[j] = weight
    if COST_KEY in by_key:
        stats.cost, far = by_key[COST_KEY]
        (stats.far_dists, stats.far_points, stats.far_labels, stats.far_weights,
         stats.n_far) = far
    return stats


def _cost_block(block: BlockView, centres: np.ndarray) -> float:
    _, d2 = closest_centre(block.X, centres)
    return float(d2.sum() if block.w is None else d2 @ block.w)


def _add(a: Any, b: Any) -> Any:
    return a + b


def cost_pass(ds: Dataset, centres: np.ndarray) -> float:
    """Weighted sum of squared distances to the closest centre (the inertia): one job."""
    return float(ds.aggregate(_cost_block, np.asarray(centres, dtype=np.float64), 0.0, _add))


# ------------------------------------------------------------ unit-length rows
def _unit_block(block: BlockView, _: None) -> BlockView:
    return block._replace(X=normalise_rows(block.X))


def _first_zero_row(block: BlockView, _: None) -> list[tuple[int, int]]:
    """(row key, position) of the block's first all-zero row, if any."""
    zero = np.flatnonzero(np.einsum("ij,ij->i", block.X, block.X) == 0)
    if not zero.size:
        return []
    where = -1 if block.first_row is None else block.first_row + int(zero[0])
    return [(where, int(zero[0]))]


def unit_rows_view(ds: Dataset) -> Dataset:
    """A view of ``ds`` with unit-length rows (spherical k-means), without a second copy.

    One pass checks that no row is all zeros (its direction is undefined); each later
    pass normalises the rows of a block as it reads them.
    """
    zeros = ds.rows(_first_zero_row, None)
    if zeros:
        row = zeros[0][0]
        where = f"row {row}" if row >= 0 else "a row"
        raise DataValidationError(
            f"distance='cosine' needs non-zero points, but {where} is all zeros")
    return ds.transform(_unit_block, None)


# -------------------------------------------------------------- row selection
def _best(keys: np.ndarray, ties: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` smallest finite (key, tie) pairs, one per distinct tie."""
    order = np.lexsort((ties, keys))
    order = order[np.isfinite(keys[order])]
    _, first = np.unique(ties[order], return_index=True)
    return order[np.sort(first)][:count]


def _sample_block(block: BlockView, params: tuple[int, int, np.ndarray | None, bool, int]
                  ) -> list[tuple[float, int, np.ndarray]]:
    """A block's ``count`` smallest Efraimidis–Spirakis keys −log(1−u)/weight.

    The weight is the row weight (when ``use_weights``), times the squared distance to
    the closest centre when centres are given (k-means++ sampling). ``u`` and the
    tie-breaker are the row's key (:meth:`BlockView.row_keys`), so a row's key does not
    depend on which partition or block holds it.
    """
    seed, stream, centres, use_weights, count = params
    ties = block.row_keys()
    weight = np.ones(len(ties)) if block.w is None or not use_weights else block.w.copy()
    if centres is not None and centres.shape[0]:
        weight *= squared_distances(block.X, centres).min(axis=1)
    u = uniform_for_rows(seed, stream, ties)
    with np.errstate(divide="ignore"):
        keys = np.where(weight > 0, -np.log1p(-u) / weight, np.inf)
    best = _best(keys, ties, count)
    return [(float(keys[i]), int(ties[i]), block.X[i]) for i in best]


def weighted_sample(ds: Dataset, seed: int, stream: int, centres: np.ndarray | None,
                    count: int, use_weights: bool = True) -> np.ndarray:
    """Up to ``count`` rows drawn without replacement with probability ∝ weight (× D² to
    ``centres``): the smallest keys over all blocks (one job). Rows sharing a key (the
    same values, on the DataFrame backend) count once."""
    params = (seed, stream, None if centres is None else np.asarray(centres, dtype=np.float64),
              use_weights, count)
    found = ds.rows(_sample_block, params)
    if not found:
        return np.zeros((0, ds.n_features))
    keys = np.array([f[0] for f in found], dtype=np.float64)
    ties = np.array([f[1] for f in found], dtype=np.int64)
    best = _best(keys, ties, count)
    return np.array([found[i][2] for i in best], dtype=np.float64).reshape(-1, ds.n_features)


def _distinct_block(block: BlockView, limit: int) -> list[np.ndarray]:
    return [np.unique(block.X, axis=0)[:limit]]


def distinct_rows(ds: Dataset, limit: int) -> np.ndarray:
    """Up to ``limit`` distinct rows of the data (used only when an init runs short)."""
    parts = ds.rows(_distinct_block, limit)
    if not parts:
        return np.zeros((0, ds.n_features))
    return np.unique(np.concatenate(parts), axis=0)[:limit]


def require_distinct(ds: Dataset, k: int) -> np.ndarray:
    """k distinct rows, or an error naming how many distinct points there are."""
    rows = distinct_rows(ds, k)
    if rows.shape[0] < k:
        raise InvalidParameterError(
            f"The 'k' parameter must be <= the number of distinct points "
            f"({rows.shape[0]}), got {k}."
        )
    return rows


def _trial_costs_block(block: BlockView, params: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    centres, trials = params
    current = squared_distances(block.X, centres).min(axis=1)
    with_trial = np.minimum(current[:, None], squared_distances(block.X, trials))
    return with_trial.sum(axis=0) if block.w is None else block.w @ with_trial


def trial_costs(ds: Dataset, centres: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """The cost with each trial centre added to ``centres`` (one job)."""
    return ds.aggregate(_trial_costs_block, (centres, trials), np.zeros(trials.shape[0]), _add)


def _oversample_block(block: BlockView, params: tuple[int, int, np.ndarray, float]
                      ) -> list[np.ndarray]:
    seed, stream, centres, factor = params
    d2 = squared_distances(block.X, centres).min(axis=1)
    weight = d2 if block.w is None else d2 * block.w
    u = uniform_for_rows(seed, stream, block.row_keys())
    return [block.X[u < factor * weight]]


def oversample(ds: Dataset, seed: int, stream: int, centres: np.ndarray,
               factor: float) -> np.ndarray:
    """Every row kept with probability min(1, factor·w·D²), in a canonical order (one job)."""
    parts = ds.rows(_oversample_block, (seed, stream, centres, factor))
    picked = np.concatenate(parts) if parts else np.zeros((0, ds.n_features))
    # Blocks arrive in partition order; sorting makes the order independent of it.
    return picked[np.lexsort(picked.T[::-1])] if picked.shape[0] else picked


def _candidate_weights_block(block: BlockView, centres: np.ndarray) -> np.ndarray:
    labels, _ = closest_centre(block.X, centres)
    return np.bincount(labels, weights=block.w, minlength=centres.shape[0]).astype(float)


def candidate_weights(ds: Dataset, candidates: np.ndarray) -> np.ndarray:
    """The total weight of the rows closest to each candidate (one job)."""
    return ds.aggregate(_candidate_weights_block, candidates, np.zeros(candidates.shape[0]),
                        _add)
