"""k-means initialisations ("random", "k-means++", "k-means||"), written once.

Every random draw comes from the counter-based generator keyed on each row's key
(:meth:`~rddml.engine.dataset.BlockView.row_keys`): the global row index on the RDD
backend, a hash of the row's values on the DataFrame backend. So a seed gives the same
centres for any partitioning on either backend; the two backends draw different
numbers, so a seeded init differs between them (an explicit ``init`` array gives the
same centres on both).

Examples
--------
>>> centres = init_kmeans_parallel(ds, k=5, seed=0)  # doctest: +SKIP
>>> centres.shape  # doctest: +SKIP
(5, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rddml.cluster import kernels
from rddml.cluster import sparse_kernels as sparse_km
from rddml.cluster.kernels import n_local_trials
from rddml.cluster.passes import (
    candidate_weights,
    cost_pass,
    oversample,
    require_distinct,
    trial_costs,
    weighted_sample,
)
from rddml.engine.dataset import Dataset
from rddml.engine.sparse import is_sparse

LOCAL_RESTARTS = 10  # local k-means runs on the k-means|| candidates


def add_distinct(chosen: Any, extra: Any, k: int) -> Any:
    """Append rows of ``extra`` not already in ``chosen`` until there are ``k`` (CSR row
    sets of a sparse dataset too)."""
    if is_sparse(chosen) or is_sparse(extra):
        return sparse_km.add_distinct(chosen, extra, k)
    out = [row for row in chosen]
    seen = {row.tobytes() for row in chosen}
    for row in extra:
        if len(out) >= k:
            break
        if row.tobytes() not in seen:
            seen.add(row.tobytes())
            out.append(row)
    return np.array(out)


def unique_in_order(rows: Any) -> Any:
    """The distinct rows, each at its first position (dense or CSR)."""
    return sparse_km.unique_rows_in_order(rows)


def init_random(ds: Dataset, k: int, seed: int) -> np.ndarray:
    """k distinct points chosen uniformly at random (the write-up's ``takeSample``).

    The rows with the ``m`` smallest uniform keys form a uniform random subset; the
    first k distinct ones are kept (``m`` grows when duplicates leave fewer than k).
    Row weights do not matter here, as in the write-up.
    """
    m = min(ds.n_rows, 2 * k)
    while True:
        rows = unique_in_order(weighted_sample(ds, seed, 0, None, m, use_weights=False))
        if rows.shape[0] >= k:
            return sparse_km.dense_rows(rows[:k])
        if m >= ds.n_rows:
            break
        m = min(ds.n_rows, 4 * m)
    return sparse_km.dense_rows(add_distinct(rows, require_distinct(ds, k), k))


def init_kmeans_plus_plus(ds: Dataset, k: int, seed: int) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007; scikit-learn's variant).

    For each new centre, ``2 + ln k`` candidates are sampled with probability
    ∝ weight × D² to the centres so far, and the one that lowers the cost most is
    kept: two passes per centre.
    """
    centres = weighted_sample(ds, seed, 0, None, 1)
    trials = n_local_trials(k)
    for c in range(1, k):
        cands = weighted_sample(ds, seed, c, centres, trials)
        if cands.shape[0] == 0:  # every point coincides with a chosen centre
            return sparse_km.dense_rows(add_distinct(centres, require_distinct(ds, k), k))
        costs = trial_costs(ds, centres, cands)
        best = int(np.argmin(costs))
        centres = sparse_km.stack_rows(centres, cands[best:best + 1])
    return sparse_km.dense_rows(centres)


def init_kmeans_parallel(ds: Dataset, k: int, seed: int, steps: int = 2) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012), as Spark MLlib runs it.

    One sampled point, then ``steps`` rounds that each keep every point with
    probability min(1, 2k·w·D²/φ); the candidates are weighted by how much data is
    closest to them and reduced to k centres by seeded weighted k-means++ and Lloyd
    on the driver (the candidates are few, about 1 + 2k·steps, so the driver can
    afford several local runs and keep the cheapest).
    """
    candidates = weighted_sample(ds, seed, 0, None, 1)
    for step in range(1, steps + 1):
        phi = cost_pass(ds, candidates)
        if phi <= 0:
            break
        picked = oversample(ds, seed, step, candidates, 2.0 * k / phi)
        if picked.shape[0]:
            candidates = unique_in_order(sparse_km.stack_rows(candidates, picked))
    if candidates.shape[0] <= k:
        if candidates.shape[0] < k:
            candidates = add_distinct(candidates, require_distinct(ds, k), k)
        return sparse_km.dense_rows(candidates)
    weights = candidate_weights(ds, candidates)
    rng = np.random.default_rng(seed)
    points, w = candidates[np.flatnonzero(weights > 0)], weights[weights > 0]
    # The candidates of a sparse dataset stay CSR (the same draws, see sparse_kernels).
    local = sparse_km if is_sparse(points) else kernels
    best, best_cost = None, np.inf
    for _ in range(LOCAL_RESTARTS):
        centres = local.weighted_kmeans_plus_plus(points, w, k, rng)
        if centres.shape[0] < k:
            centres = add_distinct(centres, candidates, k)
        centres = local.weighted_lloyd(points, w, centres)
        cost = local.weighted_cost(points, w, centres)
        if cost < best_cost:
            best, best_cost = centres, cost
    assert best is not None
    return sparse_km.dense_rows(best)


INITIALISERS = {
    "random": init_random,
    "k-means++": init_kmeans_plus_plus,
    "k-means||": init_kmeans_parallel,
}
