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
from rddml.cluster import sparse_kernels as sparse_km
from rddml.cluster.fused import lloyd_sums
from rddml.cluster.kernels import (
    LloydStats,
    closest_centre,
    lloyd_partial_stats,
    normalise_rows,
    squared_distances,
)
from rddml.cluster.sparse_kernels import CsrLloydPartial
from rddml.engine.counter_rng import uniform_for_rows
from rddml.engine.dataset import BlockView, Dataset, KeyedMerge
from rddml.engine.sparse import csr_from_dense, empty_csr, is_sparse
from rddml.engine.sparse import vstack as csr_vstack
from rddml.errors import DataValidationError, InvalidParameterError

COST_KEY = -1  # keyed aggregation: the record carrying the cost and the far-point candidates
AGGREGATIONS = ("tree", "reduceByKey")
#: Above this many centre coordinates the reduceByKey shuffle spreads the clusters over
#: as many reducers as there are partitions (one reducer keeps the common case one task).
MANY_COORDINATES = 1_000_000


# ------------------------------------------------------------------ Lloyd pass
def _sparse_lloyd_block(block: BlockView, params: tuple[sparse_km.CentreTerms, int, str]
                        ) -> CsrLloydPartial:
    """The Lloyd partial of a block of a sparse dataset (a dense block's as a partial too:
    :class:`~rddml.cluster.sparse_kernels.CsrLloydPartial` merges both). A CSR block has
    its own kernels (:mod:`rddml.cluster.sparse_kernels`); ``kernels`` applies to dense
    blocks only."""
    terms, n_far, kernels = params
    if is_sparse(block.X):
        _jit.limit_blas_threads()
        return sparse_km.lloyd_partial(block.X, block.w, terms, n_far)
    return CsrLloydPartial.of_stats(_lloyd_block(block, (terms.C, n_far, kernels)))


def _split_sparse(part: CsrLloydPartial) -> list[tuple[int, Any]]:
    return _split_by_cluster(part.to_stats())


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
    (only where one will run: a sparse dataset's CSR kernels are NumPy/SciPy); reads no
    block. The executors decide with the same mode."""
    d = ds.n_features
    if ds.layout == "sparse":
        return
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
    sparse = ds.layout == "sparse"
    sparse_params = (sparse_km.CentreTerms(params[0]), *params[1:])
    if aggregation == "tree":
        if sparse:  # per-block sums are sparse; each partition adds them into one array
            part = ds.aggregate(_sparse_lloyd_block, sparse_params,
                                CsrLloydPartial.empty(k, d), _merge)
            return part.to_stats()
        return ds.aggregate(_lloyd_block, params, LloydStats.empty(k, d), _merge)
    reducers = 1 if k * d <= MANY_COORDINATES else ds.num_partitions
    by_key = ds.aggregate_by_key(
        _sparse_lloyd_block if sparse else _lloyd_block,
        sparse_params if sparse else params, KeyedMerge(
            merge=_merge, split=_split_sparse if sparse else _split_by_cluster,
            combine=_combine_keyed, num_reducers=reducers))
    stats = LloydStats.empty(k, d)
    for j, (total, weight) in ((j, v) for j, v in by_key.items() if j != COST_KEY):
        stats.sums[j] = total
        stats.counts[j] = weight
    if COST_KEY in by_key:
        stats.cost, far = by_key[COST_KEY]
        (stats.far_dists, stats.far_points, stats.far_labels, stats.far_weights,
         stats.n_far) = far
    return stats


def _squared_distances(X: Any, centres: Any) -> np.ndarray:
    """(n, k) squared distances of a block's rows (dense or CSR) to centres (dense or CSR)."""
    if is_sparse(X):
        return sparse_km.squared_distances(X, centres)
    return squared_distances(X, sparse_km.dense_rows(centres))


def _closest(X: Any, centres: Any) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre and squared distance of each row of a dense or CSR block."""
    if is_sparse(X):
        return sparse_km.assign(X, centres)
    return closest_centre(X, sparse_km.dense_rows(centres))


def _cost_block(block: BlockView, centres: np.ndarray) -> float:
    _, d2 = _closest(block.X, centres)
    return float(d2.sum() if block.w is None else d2 @ block.w)


def _add(a: Any, b: Any) -> Any:
    return a + b


def cost_pass(ds: Dataset, centres: np.ndarray) -> float:
    """Weighted sum of squared distances to the closest centre (the inertia): one job."""
    return float(ds.aggregate(_cost_block, _centres_param(centres), 0.0, _add))


def _centres_param(centres: Any) -> Any:
    """Centres as a pass's parameter: a float64 array, or a CSR row set as it is."""
    return centres if is_sparse(centres) else np.asarray(centres, dtype=np.float64)


# ------------------------------------------------------------ unit-length rows
def _unit_block(block: BlockView, _: None) -> BlockView:
    if is_sparse(block.X):
        return block._replace(X=sparse_km.unit_rows(block.X))
    return block._replace(X=normalise_rows(block.X))


def _first_zero_row(block: BlockView, _: None) -> list[tuple[int, int]]:
    """(row key, position) of the block's first all-zero row, if any."""
    zero = (sparse_km.zero_rows(block.X) if is_sparse(block.X)
            else np.flatnonzero(np.einsum("ij,ij->i", block.X, block.X) == 0))
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


def _sample_block(block: BlockView, params: tuple[int, int, Any, bool, int]
                  ) -> list[tuple[float, int, Any]]:
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
        weight *= _squared_distances(block.X, centres).min(axis=1)
    u = uniform_for_rows(seed, stream, ties)
    with np.errstate(divide="ignore"):
        keys = np.where(weight > 0, -np.log1p(-u) / weight, np.inf)
    best = _best(keys, ties, count)
    if is_sparse(block.X):  # a row as a one-row CSR matrix
        return [(float(keys[i]), int(ties[i]), sparse_km.rows_at(block.X, np.array([i])))
                for i in best]
    return [(float(keys[i]), int(ties[i]), block.X[i]) for i in best]


def _row_set(rows: list[Any], d: int, sparse: bool) -> Any:
    """Rows gathered from blocks as one row set: CSR for a sparse dataset, else dense."""
    if sparse:
        parts = [r if is_sparse(r) else csr_from_dense(np.atleast_2d(r)) for r in rows]
        return csr_vstack(parts, d) if parts else empty_csr(d)
    return np.array(rows, dtype=np.float64).reshape(-1, d)


def weighted_sample(ds: Dataset, seed: int, stream: int, centres: Any,
                    count: int, use_weights: bool = True) -> Any:
    """Up to ``count`` rows drawn without replacement with probability ∝ weight (× D² to
    ``centres``): the smallest keys over all blocks (one job). Rows sharing a key (the
    same values, on the DataFrame backend) count once. A sparse dataset's rows come back
    as a CSR matrix."""
    params = (seed, stream, None if centres is None else _centres_param(centres),
              use_weights, count)
    found = ds.rows(_sample_block, params)
    sparse = ds.layout == "sparse"
    if not found:
        return _row_set([], ds.n_features, sparse)
    keys = np.array([f[0] for f in found], dtype=np.float64)
    ties = np.array([f[1] for f in found], dtype=np.int64)
    best = _best(keys, ties, count)
    return _row_set([found[i][2] for i in best], ds.n_features, sparse)


def _distinct_block(block: BlockView, limit: int) -> list[Any]:
    if is_sparse(block.X):
        return [sparse_km.sorted_rows(sparse_km.unique_rows_in_order(block.X))[:limit]]
    return [np.unique(block.X, axis=0)[:limit]]


def distinct_rows(ds: Dataset, limit: int) -> Any:
    """Up to ``limit`` distinct rows of the data (used only when an init runs short), in
    lexicographic order (CSR for a sparse dataset)."""
    parts = ds.rows(_distinct_block, limit)
    if ds.layout == "sparse":
        rows = _row_set(parts, ds.n_features, True)
        return sparse_km.sorted_rows(sparse_km.unique_rows_in_order(rows))[:limit]
    if not parts:
        return np.zeros((0, ds.n_features))
    return np.unique(np.concatenate(parts), axis=0)[:limit]


def require_distinct(ds: Dataset, k: int) -> Any:
    """k distinct rows, or an error naming how many distinct points there are."""
    rows = distinct_rows(ds, k)
    if rows.shape[0] < k:
        raise InvalidParameterError(
            f"The 'k' parameter must be <= the number of distinct points "
            f"({rows.shape[0]}), got {k}."
        )
    return rows


def _trial_costs_block(block: BlockView, params: tuple[Any, Any]) -> np.ndarray:
    centres, trials = params
    current = _squared_distances(block.X, centres).min(axis=1)
    with_trial = np.minimum(current[:, None], _squared_distances(block.X, trials))
    return with_trial.sum(axis=0) if block.w is None else block.w @ with_trial


def trial_costs(ds: Dataset, centres: Any, trials: Any) -> np.ndarray:
    """The cost with each trial centre added to ``centres`` (one job)."""
    return ds.aggregate(_trial_costs_block, (centres, trials), np.zeros(trials.shape[0]), _add)


def _oversample_block(block: BlockView, params: tuple[int, int, Any, float]
                      ) -> list[Any]:
    seed, stream, centres, factor = params
    d2 = _squared_distances(block.X, centres).min(axis=1)
    weight = d2 if block.w is None else d2 * block.w
    u = uniform_for_rows(seed, stream, block.row_keys())
    keep = u < factor * weight
    if is_sparse(block.X):
        return [sparse_km.rows_at(block.X, np.flatnonzero(keep))]
    return [block.X[keep]]


def oversample(ds: Dataset, seed: int, stream: int, centres: Any,
               factor: float) -> Any:
    """Every row kept with probability min(1, factor·w·D²), in a canonical order (one job;
    CSR rows for a sparse dataset)."""
    parts = ds.rows(_oversample_block, (seed, stream, _centres_param(centres), factor))
    if ds.layout == "sparse":
        picked = _row_set(parts, ds.n_features, True)
    else:
        picked = np.concatenate(parts) if parts else np.zeros((0, ds.n_features))
    # Blocks arrive in partition order; sorting makes the order independent of it.
    return sparse_km.sorted_rows(picked)


def _candidate_weights_block(block: BlockView, centres: Any) -> np.ndarray:
    labels, _ = _closest(block.X, centres)
    return np.bincount(labels, weights=block.w, minlength=centres.shape[0]).astype(float)


def candidate_weights(ds: Dataset, candidates: Any) -> np.ndarray:
    """The total weight of the rows closest to each candidate (one job)."""
    return ds.aggregate(_candidate_weights_block, _centres_param(candidates),
                        np.zeros(candidates.shape[0]), _add)
