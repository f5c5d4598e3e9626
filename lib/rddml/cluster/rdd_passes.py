"""The Spark side of k-means: one Lloyd pass, the cost pass and the initialisations.

Each function runs one (or a few) Spark jobs over a :class:`BlockDataset`; the
math lives in :mod:`rddml.cluster.kernels`. Task functions are module-level and
bound with :func:`functools.partial`, so closures never capture loop variables
or an estimator.
"""

from __future__ import annotations

import heapq
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.cluster.kernels import (
    LloydStats,
    closest_centre,
    lloyd_partial_stats,
    n_local_trials,
    squared_distances,
    weighted_cost,
    weighted_kmeans_plus_plus,
    weighted_lloyd,
)
from rddml.engine.aggregation import reduce_by_key, tree_aggregate
from rddml.engine.blocks import Block, BlockDataset
from rddml.engine.counter_rng import uniform_for_rows
from rddml.errors import InvalidParameterError

if TYPE_CHECKING:
    from pyspark import Broadcast

COST_KEY = -1  # reduceByKey key carrying the cost and the far-point candidates
LOCAL_RESTARTS = 10  # local k-means runs on the k-means|| candidates


# ------------------------------------------------------------------ Lloyd pass
def _block_stats(block: Block, *, centres: Broadcast[np.ndarray], n_far: int) -> LloydStats:
    return lloyd_partial_stats(block.X, block.w, centres.value, n_far)


def _merge(a: LloydStats, b: LloydStats) -> LloydStats:
    return a.merge(b)


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


def _far_record(stats: LloydStats) -> tuple[Any, ...]:
    return (stats.far_dists, stats.far_points, stats.far_labels, stats.far_weights,
            stats.n_far)


def lloyd_pass(ds: BlockDataset, centres: np.ndarray, *, aggregation: str, n_far: int) -> LloydStats:
    """One assignment + partial-sum pass over the data: one Spark job (two stages with
    ``reduceByKey``). The centres travel as a broadcast that is released afterwards."""
    k, d = centres.shape
    sc = ds.rdd.context
    bc = sc.broadcast(centres)
    try:
        partial_fn = partial(_block_stats, centres=bc, n_far=n_far)
        if aggregation == "tree":
            return tree_aggregate(ds.rdd, partial_fn, _merge, LloydStats.empty(k, d))
        reducers = 1 if k * d <= 1_000_000 else ds.num_partitions
        by_key = reduce_by_key(
            ds.rdd, partial_fn, _merge, _split_by_cluster, _combine_keyed, reducers
        )
        stats = LloydStats.empty(k, d)
        for j, (total, weight) in ((j, v) for j, v in by_key.items() if j != COST_KEY):
            stats.sums[j] = total
            stats.counts[j] = weight
        if COST_KEY in by_key:
            stats.cost, far = by_key[COST_KEY]
            (stats.far_dists, stats.far_points, stats.far_labels, stats.far_weights,
             stats.n_far) = far
        return stats
    finally:
        bc.unpersist()


def _block_cost(block: Block, *, centres: Broadcast[np.ndarray]) -> float:
    _, d2 = closest_centre(block.X, centres.value)
    return float(d2.sum() if block.w is None else d2 @ block.w)


def _add(a: float, b: float) -> float:
    return a + b


def cost_pass(ds: BlockDataset, centres: np.ndarray) -> float:
    """Weighted sum of squared distances to the closest centre (the inertia)."""
    bc = ds.rdd.context.broadcast(centres)
    try:
        return float(tree_aggregate(ds.rdd, partial(_block_cost, centres=bc), _add, 0.0))
    finally:
        bc.unpersist()


# -------------------------------------------------------------- row selection
def _global_rows(block: Block, offsets: np.ndarray) -> np.ndarray:
    start = int(offsets[block.partition]) + block.start
    return np.arange(start, start + block.X.shape[0], dtype=np.int64)


def _rows_by_index(block: Block, *, offsets: np.ndarray, wanted: np.ndarray) -> list[Any]:
    rows = _global_rows(block, offsets)
    hit = np.isin(rows, wanted)
    return [(int(r), x) for r, x in zip(rows[hit].tolist(), block.X[hit])]


def fetch_rows(ds: BlockDataset, indices: np.ndarray) -> np.ndarray:
    """The rows with the given global indices, in the order given (one job)."""
    wanted = np.unique(indices.astype(np.int64))
    found = dict(
        ds.rdd.flatMap(partial(_rows_by_index, offsets=ds.partition_offsets, wanted=wanted))
        .collect()
    )
    return np.array([found[int(i)] for i in indices.tolist()], dtype=np.float64).reshape(
        len(indices), ds.n_features
    )


def _distinct_in_block(block: Block, *, limit: int) -> list[np.ndarray]:
    return [np.unique(block.X, axis=0)[:limit]]


def distinct_rows(ds: BlockDataset, limit: int) -> np.ndarray:
    """Up to ``limit`` distinct rows of the data (used only when an init runs short)."""
    parts = ds.rdd.flatMap(partial(_distinct_in_block, limit=limit)).collect()
    if not parts:
        return np.zeros((0, ds.n_features))
    return np.unique(np.concatenate(parts), axis=0)[:limit]


def _require_distinct(ds: BlockDataset, k: int) -> np.ndarray:
    rows = distinct_rows(ds, k)
    if rows.shape[0] < k:
        raise InvalidParameterError(
            f"The 'k' parameter must be <= the number of distinct points "
            f"({rows.shape[0]}), got {k}."
        )
    return rows


def _add_distinct(chosen: np.ndarray, extra: np.ndarray, k: int) -> np.ndarray:
    """Append rows of ``extra`` not already in ``chosen`` until there are ``k``."""
    out = [row for row in chosen]
    seen = {row.tobytes() for row in chosen}
    for row in extra:
        if len(out) >= k:
            break
        if row.tobytes() not in seen:
            seen.add(row.tobytes())
            out.append(row)
    return np.array(out)


def _unique_in_order(rows: np.ndarray) -> np.ndarray:
    _, first = np.unique(rows, axis=0, return_index=True)
    return rows[np.sort(first)]


# ------------------------------------------------------------------------ init
def init_random(ds: BlockDataset, k: int, seed: int) -> np.ndarray:
    """k distinct points chosen uniformly at random (the write-up's takeSample init).

    Indices are drawn on the driver from the global row numbering, so the choice
    does not depend on how the data is partitioned.
    """
    rng = np.random.default_rng(seed)
    n = ds.n_rows
    m = min(n, 2 * k)
    while True:
        indices = rng.choice(n, size=m, replace=False)
        rows = _unique_in_order(fetch_rows(ds, indices))
        if rows.shape[0] >= k:
            return rows[:k]
        if m == n:
            break
        m = min(n, 4 * m)
    return _add_distinct(rows, _require_distinct(ds, k), k)


def _sample_keys(
    block: Block, *, offsets: np.ndarray, seed: int, stream: int,
    centres: Broadcast[np.ndarray] | None, count: int,
) -> list[tuple[float, int, np.ndarray]]:
    """Efraimidis–Spirakis keys −log(u)/weight; the smallest keys form a weighted sample.

    The weight is the row weight, times the squared distance to the closest centre
    when centres are given (k-means++ sampling). Keys come from the row's global
    index, so the sample is the same for any partitioning.
    """
    rows = _global_rows(block, offsets)
    weight = np.ones(len(rows)) if block.w is None else block.w.copy()
    if centres is not None and centres.value.shape[0]:
        weight *= squared_distances(block.X, centres.value).min(axis=1)
    u = uniform_for_rows(seed, stream, rows)
    with np.errstate(divide="ignore"):
        keys = np.where(weight > 0, -np.log1p(-u) / weight, np.inf)
    best = np.argsort(keys, kind="stable")[:count]
    return [(float(keys[i]), int(rows[i]), block.X[i]) for i in best if np.isfinite(keys[i])]


def weighted_sample(
    ds: BlockDataset, seed: int, stream: int, centres: np.ndarray | None, count: int
) -> np.ndarray:
    """``count`` rows sampled without replacement with probability ∝ weight (× D²)."""
    bc = ds.rdd.context.broadcast(centres if centres is not None else np.zeros((0, ds.n_features)))
    try:
        keyed = ds.rdd.flatMap(
            partial(_sample_keys, offsets=ds.partition_offsets, seed=seed, stream=stream,
                    centres=bc, count=count)
        ).collect()
    finally:
        bc.unpersist()
    best = heapq.nsmallest(count, keyed, key=lambda t: (t[0], t[1]))
    return np.array([x for _, _, x in best]).reshape(len(best), ds.n_features)


def _trial_costs(
    block: Block, *, centres: Broadcast[np.ndarray], trials: Broadcast[np.ndarray]
) -> np.ndarray:
    current = squared_distances(block.X, centres.value).min(axis=1)
    with_trial = np.minimum(current[:, None], squared_distances(block.X, trials.value))
    return with_trial.sum(axis=0) if block.w is None else block.w @ with_trial


def init_kmeans_plus_plus(ds: BlockDataset, k: int, seed: int) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007; scikit-learn's variant).

    For each new centre, ``2 + ln k`` candidates are sampled with probability
    ∝ weight × D² to the centres so far, and the one that lowers the cost most is
    kept: two passes per centre.
    """
    sc = ds.rdd.context
    centres = weighted_sample(ds, seed, 0, None, 1)
    trials = n_local_trials(k)
    for c in range(1, k):
        cands = weighted_sample(ds, seed, c, centres, trials)
        if cands.shape[0] == 0:  # every point coincides with a chosen centre
            return _add_distinct(centres, _require_distinct(ds, k), k)
        bc_centres, bc_trials = sc.broadcast(centres), sc.broadcast(cands)
        try:
            costs = tree_aggregate(
                ds.rdd, partial(_trial_costs, centres=bc_centres, trials=bc_trials),
                _add_arrays, np.zeros(cands.shape[0]),
            )
        finally:
            bc_centres.unpersist()
            bc_trials.unpersist()
        centres = np.vstack([centres, cands[int(np.argmin(costs))]])
    return centres


def _oversample(
    block: Block, *, offsets: np.ndarray, seed: int, stream: int,
    centres: Broadcast[np.ndarray], factor: float,
) -> list[np.ndarray]:
    rows = _global_rows(block, offsets)
    d2 = squared_distances(block.X, centres.value).min(axis=1)
    weight = d2 if block.w is None else d2 * block.w
    u = uniform_for_rows(seed, stream, rows)
    return [block.X[u < factor * weight]]


def _candidate_weights(block: Block, *, centres: Broadcast[np.ndarray]) -> np.ndarray:
    labels, _ = closest_centre(block.X, centres.value)
    w = None if block.w is None else block.w
    return np.bincount(labels, weights=w, minlength=centres.value.shape[0]).astype(float)


def _add_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def init_kmeans_parallel(ds: BlockDataset, k: int, seed: int, steps: int = 2) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012), as Spark MLlib runs it.

    One uniform point, then ``steps`` rounds that each keep every point with
    probability min(1, 2k·w·D²/φ); the candidates are weighted by how much data is
    closest to them and reduced to k centres by weighted k-means++ and Lloyd on
    the driver.
    """
    sc = ds.rdd.context
    candidates = weighted_sample(ds, seed, 0, None, 1)
    for step in range(1, steps + 1):
        phi = cost_pass(ds, candidates)
        if phi <= 0:
            break
        bc = sc.broadcast(candidates)
        try:
            new = ds.rdd.flatMap(
                partial(_oversample, offsets=ds.partition_offsets, seed=seed, stream=step,
                        centres=bc, factor=2.0 * k / phi)
            ).collect()
        finally:
            bc.unpersist()
        if new:
            candidates = _unique_in_order(np.vstack([candidates, *new]))
    if candidates.shape[0] <= k:
        if candidates.shape[0] < k:
            candidates = _add_distinct(candidates, _require_distinct(ds, k), k)
        return candidates
    bc = sc.broadcast(candidates)
    try:
        weights = tree_aggregate(
            ds.rdd, partial(_candidate_weights, centres=bc), _add_arrays,
            np.zeros(candidates.shape[0]),
        )
    finally:
        bc.unpersist()
    # The candidates are few (about 1 + 2k·steps), so the driver can afford several
    # seeded local k-means runs and keep the cheapest one.
    rng = np.random.default_rng(seed)
    points, w = candidates[weights > 0], weights[weights > 0]
    best, best_cost = None, np.inf
    for _ in range(LOCAL_RESTARTS):
        centres = weighted_kmeans_plus_plus(points, w, k, rng)
        if centres.shape[0] < k:
            centres = _add_distinct(centres, candidates, k)
        centres = weighted_lloyd(points, w, centres)
        cost = weighted_cost(points, w, centres)
        if cost < best_cost:
            best, best_cost = centres, cost
    assert best is not None
    return best
