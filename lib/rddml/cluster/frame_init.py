"""k-means initialisations on the DataFrame backend ("random", "k-means++", "k-means||").

The algorithms are those of :mod:`rddml.cluster.rdd_passes`, pass for pass. The one
difference is where the randomness comes from: the RDD backend keys its counter RNG
on each row's global index, which a DataFrame does not have; here every draw is
keyed on a hash of the row's feature values (:mod:`rddml.engine.content_keys`). So the same
seed gives the same centres for any partitioning, batch size or row order of the
same rows, on this backend. (The two backends draw different random numbers, so a
seeded random init differs between them; an explicit ``init`` array gives the same
centres on both.)

Rows with identical features share one draw: "random" picks k distinct points with
equal chances per distinct point, and the weighted samples treat duplicates as one
point carrying its own weight (see :mod:`rddml.engine.content_keys`).

Examples
--------
>>> centres = init_kmeans_parallel(fd, k=5, seed=0)  # doctest: +SKIP
>>> centres.shape  # doctest: +SKIP
(5, 2)
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np

from rddml.cluster.kernels import (
    closest_centre,
    n_local_trials,
    squared_distances,
    weighted_cost,
    weighted_kmeans_plus_plus,
    weighted_lloyd,
)
from rddml.cluster.rdd_passes import LOCAL_RESTARTS, _add_distinct, _unique_in_order
from rddml.engine.content_keys import row_keys
from rddml.engine.counter_rng import uniform_for_rows
from rddml.engine.frames import Batch, FrameDataset

SAMPLE_COLUMNS = (("key", "double"), ("tie", "long"), ("point", "array<double>"))


# ---------------------------------------------------------------- sampling
def _sample_task(batches: Iterator[Batch], *, seed: int, stream: int, centres: np.ndarray | None,
                 use_weights: bool, count: int) -> list[tuple[Any, ...]]:
    """A partition's ``count`` smallest Efraimidis–Spirakis keys −log(1−u)/weight.

    The weight is the row weight (when ``use_weights``), times the squared distance to
    the closest centre when centres are given. ``u`` and the tie-breaker come from the
    row's values, so a point's key is the same in any partition.
    """
    keys_all: list[np.ndarray] = []
    ties_all: list[np.ndarray] = []
    points_all: list[np.ndarray] = []
    for batch in batches:
        ties = row_keys(batch.X)
        weight = np.ones(len(ties)) if batch.w is None or not use_weights else batch.w.copy()
        if centres is not None and centres.shape[0]:
            weight *= squared_distances(batch.X, centres).min(axis=1)
        u = uniform_for_rows(seed, stream, ties)
        with np.errstate(divide="ignore"):
            keys = np.where(weight > 0, -np.log1p(-u) / weight, np.inf)
        best = _best(keys, ties, count)
        keys_all.append(keys[best])
        ties_all.append(ties[best])
        points_all.append(batch.X[best])
    if not keys_all:
        return []
    keys, ties = np.concatenate(keys_all), np.concatenate(ties_all)
    points = np.concatenate(points_all)
    best = _best(keys, ties, count)
    return [(float(keys[i]), int(ties[i].astype(np.int64)), points[i].tolist()) for i in best]


def _best(keys: np.ndarray, ties: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` smallest finite (key, tie) pairs, one per distinct tie."""
    order = np.lexsort((ties, keys))
    order = order[np.isfinite(keys[order])]
    _, first = np.unique(ties[order], return_index=True)
    return order[np.sort(first)][:count]


def weighted_sample(fd: FrameDataset, seed: int, stream: int, centres: np.ndarray | None,
                    count: int, use_weights: bool = True) -> np.ndarray:
    """Up to ``count`` distinct rows drawn without replacement with probability ∝ weight
    (× D² to ``centres``): the smallest keys over all partitions (one job)."""
    task = partial(_sample_task, seed=seed, stream=stream, centres=centres,
                   use_weights=use_weights, count=count)
    rows = fd.partials(task, SAMPLE_COLUMNS)
    if not rows:
        return np.zeros((0, fd.n_features))
    keys = np.array([r["key"] for r in rows], dtype=np.float64)
    ties = np.array([r["tie"] for r in rows], dtype=np.int64)
    best = _best(keys, ties, count)
    return np.array([rows[i]["point"] for i in best], dtype=np.float64).reshape(-1, fd.n_features)


def _distinct_task(batches: Iterator[Batch], *, limit: int) -> list[tuple[Any, ...]]:
    parts = [np.unique(b.X, axis=0)[:limit] for b in batches]
    if not parts:
        return []
    return [(row.tolist(),) for row in np.unique(np.concatenate(parts), axis=0)[:limit]]


def distinct_rows(fd: FrameDataset, limit: int) -> np.ndarray:
    """Up to ``limit`` distinct rows (used only when an init runs short of points)."""
    rows = fd.partials(partial(_distinct_task, limit=limit), (("point", "array<double>"),))
    if not rows:
        return np.zeros((0, fd.n_features))
    points = np.array([r["point"] for r in rows], dtype=np.float64).reshape(-1, fd.n_features)
    return np.unique(points, axis=0)[:limit]


def require_distinct(fd: FrameDataset, k: int) -> np.ndarray:
    """k distinct rows, or the RDD backend's error when there are fewer."""
    from rddml.errors import InvalidParameterError

    rows = distinct_rows(fd, k)
    if rows.shape[0] < k:
        raise InvalidParameterError(
            f"The 'k' parameter must be <= the number of distinct points "
            f"({rows.shape[0]}), got {k}."
        )
    return rows


# ------------------------------------------------------------------- inits
def init_random(fd: FrameDataset, k: int, seed: int) -> np.ndarray:
    """k distinct points, each distinct point equally likely (row weights ignored, as the
    RDD backend's ``takeSample``-style init)."""
    rows = weighted_sample(fd, seed, 0, None, k, use_weights=False)
    if rows.shape[0] >= k:
        return rows[:k]
    return _add_distinct(rows, require_distinct(fd, k), k)


def _trial_costs_task(batches: Iterator[Batch], *, centres: np.ndarray,
                      trials: np.ndarray) -> list[tuple[Any, ...]]:
    total = np.zeros(trials.shape[0])
    for batch in batches:
        current = squared_distances(batch.X, centres).min(axis=1)
        with_trial = np.minimum(current[:, None], squared_distances(batch.X, trials))
        total += with_trial.sum(axis=0) if batch.w is None else batch.w @ with_trial
    return [(total.tolist(),)]


def _sum_vectors(rows: list[Any], column: str, size: int) -> np.ndarray:
    total = np.zeros(size)
    for row in rows:
        total += np.asarray(row[column], dtype=np.float64)
    return total


def init_kmeans_plus_plus(fd: FrameDataset, k: int, seed: int) -> np.ndarray:
    """Greedy k-means++: for each new centre, ``2 + ln k`` candidates sampled ∝ w·D², the
    one lowering the cost most is kept (two passes per centre)."""
    centres = weighted_sample(fd, seed, 0, None, 1)
    trials = n_local_trials(k)
    for c in range(1, k):
        cands = weighted_sample(fd, seed, c, centres, trials)
        if cands.shape[0] == 0:  # every point coincides with a chosen centre
            return _add_distinct(centres, require_distinct(fd, k), k)
        task = partial(_trial_costs_task, centres=centres, trials=cands)
        costs = _sum_vectors(fd.partials(task, (("costs", "array<double>"),)), "costs",
                             cands.shape[0])
        centres = np.vstack([centres, cands[int(np.argmin(costs))]])
    return centres


def _oversample_task(batches: Iterator[Batch], *, seed: int, stream: int, centres: np.ndarray,
                     factor: float) -> list[tuple[Any, ...]]:
    kept: list[np.ndarray] = []
    for batch in batches:
        d2 = squared_distances(batch.X, centres).min(axis=1)
        weight = d2 if batch.w is None else d2 * batch.w
        u = uniform_for_rows(seed, stream, row_keys(batch.X))
        kept.append(batch.X[u < factor * weight])
    if not kept:
        return []
    return [(row.tolist(),) for row in _unique_in_order(np.concatenate(kept))]


def _candidate_weights_task(batches: Iterator[Batch], *,
                            centres: np.ndarray) -> list[tuple[Any, ...]]:
    total = np.zeros(centres.shape[0])
    for batch in batches:
        labels, _ = closest_centre(batch.X, centres)
        total += np.bincount(labels, weights=batch.w, minlength=centres.shape[0])
    return [(total.tolist(),)]


def init_kmeans_parallel(fd: FrameDataset, k: int, seed: int, steps: int = 2) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012) as the RDD backend runs it: one sampled point, then
    ``steps`` rounds keeping each point with probability min(1, 2k·w·D²/φ); candidates
    weighted by the data closest to them, reduced to k by seeded local k-means++/Lloyd."""
    from rddml.cluster.frame_passes import dataframe_cost

    candidates = weighted_sample(fd, seed, 0, None, 1)
    for step in range(1, steps + 1):
        phi = dataframe_cost(fd, candidates)
        if phi <= 0:
            break
        task = partial(_oversample_task, seed=seed, stream=step, centres=candidates,
                       factor=2.0 * k / phi)
        new = [r["point"] for r in fd.partials(task, (("point", "array<double>"),))]
        if new:
            # Partitions return their points in any order: sort them so it cannot matter.
            picked = _sorted_rows(np.array(new, dtype=np.float64).reshape(-1, fd.n_features))
            candidates = _unique_in_order(np.vstack([candidates, picked]))
    if candidates.shape[0] <= k:
        if candidates.shape[0] < k:
            candidates = _add_distinct(candidates, require_distinct(fd, k), k)
        return candidates
    task = partial(_candidate_weights_task, centres=candidates)
    weights = _sum_vectors(fd.partials(task, (("weights", "array<double>"),)), "weights",
                           candidates.shape[0])
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


def _sorted_rows(X: np.ndarray) -> np.ndarray:
    """Rows in lexicographic order (a canonical order independent of partitioning)."""
    return X[np.lexsort(X.T[::-1])] if X.shape[0] else X
