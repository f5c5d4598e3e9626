"""NumPy-only k-means math: distances, assignment, partial sums, centre update.

Nothing here imports Spark, so every function can be tested on plain arrays and
reused by any execution backend (RDD blocks, Arrow batches, a single machine).

Examples
--------
>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
>>> C = np.array([[0.0, 0.5], [10.0, 10.0]])
>>> closest_centre(X, C)[0].tolist()
[0, 0, 1]
>>> stats = lloyd_partial_stats(X, None, C, n_far=1)
>>> stats.sums.tolist(), stats.counts.tolist()
([[0.0, 1.0], [10.0, 10.0]], [2.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from rddml.errors import DataValidationError


def squared_distances(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, shape (n, k), as ‖x‖² − 2x·c + ‖c‖².

    The expansion turns the work into one matrix product; rounding can make a
    tiny distance negative, so the result is clipped at zero.
    """
    x_sq = np.einsum("ij,ij->i", X, X)
    c_sq = np.einsum("ij,ij->i", centres, centres)
    d2 = X @ (-2.0 * centres.T)
    d2 += x_sq[:, None]
    d2 += c_sq[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


def closest_centre(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the closest centre for each row and the squared distance to it."""
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return assign_block(X, centres)


def partial_sums(
    X: np.ndarray, labels: np.ndarray, k: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster weighted sums of the rows, shape (k, d), and total weights, shape (k,).

    ``np.bincount`` per feature is several times faster than ``np.add.at`` and than a
    dense one-hot matrix product for the few features of typical k-means; past
    :data:`FEW_FEATURES` its ``d`` passes over strided columns cost more than one sparse
    one-hot product (:func:`one_hot_sums`).
    """
    d = X.shape[1]
    if d > FEW_FEATURES:
        sums = one_hot_sums(X, labels, k, weights)
    else:
        sums = np.empty((k, d), dtype=np.float64)
        for j in range(d):
            col = X[:, j] if weights is None else X[:, j] * weights
            sums[:, j] = np.bincount(labels, weights=col, minlength=k)
    if weights is None:
        return sums, np.bincount(labels, minlength=k).astype(np.float64)
    return sums, np.bincount(labels, weights=weights, minlength=k)


#: Up to this many features the per-cluster sums are per-feature bincounts.
FEW_FEATURES = 8


def one_hot_sums(X: np.ndarray, labels: np.ndarray, k: int,
                 weights: np.ndarray | None) -> np.ndarray:
    """Per-cluster (weighted) sums of the rows in float64 as one sparse product, a (k, n)
    CSR one-hot matrix times the block: O(n·d), and each cluster's rows are added in row
    order, as ``np.bincount`` adds them."""
    from scipy import sparse

    n = X.shape[0]
    data = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    one_hot = sparse.csr_matrix((data, (labels, np.arange(n))), shape=(k, n))
    return np.asarray(one_hot @ np.asarray(X, dtype=np.float64))


@dataclass
class LloydStats:
    """What one Lloyd step needs from a slice of the data; ``merge`` is associative.

    ``far_dists``/``far_points``/``far_labels`` keep the ``n_far`` points farthest
    from their centre, the candidates for re-seeding empty clusters.
    """

    sums: np.ndarray
    counts: np.ndarray
    cost: float
    far_dists: np.ndarray
    far_points: np.ndarray
    far_labels: np.ndarray
    far_weights: np.ndarray
    # How many far points to keep. A slice with fewer rows returns fewer, so the lengths
    # alone would under-count when two such slices merge (0: not known, use the lengths).
    n_far: int = 0

    def merge(self, other: LloydStats) -> LloydStats:
        """Combine the statistics of two disjoint slices of the data."""
        n_far = max(self.n_far, other.n_far, len(self.far_dists), len(other.far_dists))
        dists = np.concatenate([self.far_dists, other.far_dists])
        order = _top_order(dists, n_far)
        return LloydStats(
            sums=self.sums + other.sums,
            counts=self.counts + other.counts,
            cost=self.cost + other.cost,
            far_dists=dists[order],
            far_points=np.concatenate([self.far_points, other.far_points])[order],
            far_labels=np.concatenate([self.far_labels, other.far_labels])[order],
            far_weights=np.concatenate([self.far_weights, other.far_weights])[order],
            n_far=max(self.n_far, other.n_far),
        )

    @staticmethod
    def empty(k: int, d: int) -> LloydStats:
        """Statistics of no points (the neutral element of ``merge``)."""
        return LloydStats(
            sums=np.zeros((k, d)),
            counts=np.zeros(k),
            cost=0.0,
            far_dists=np.zeros(0),
            far_points=np.zeros((0, d)),
            far_labels=np.zeros(0, dtype=np.int64),
            far_weights=np.zeros(0),
        )


def _top_order(dists: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest values, largest first, ties broken by position.

    ``argpartition`` finds the candidates in O(len) (a full sort of a block would cost
    more than the whole assignment step); the stable sort of those few keeps the
    order deterministic for ties, so the result does not depend on partitioning.
    """
    if n <= 0 or dists.size == 0:
        return np.zeros(0, dtype=np.int64)
    if dists.size > n:
        threshold = np.partition(dists, dists.size - n)[dists.size - n]
        candidates = np.flatnonzero(dists >= threshold)
    else:
        candidates = np.arange(dists.size)
    order = candidates[np.argsort(-dists[candidates], kind="stable")]
    return order[:n]


# Up to this many centres, one vectorised pass over n per centre beats NumPy's argmin
# along short rows, which it walks one short row at a time; above it, the argmin wins.
SMALL_K = 32


def nearest_scores(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre for each row and the score min_c ‖c‖² − 2x·c (the squared distance
    without ‖x‖², which the argmin does not need).

    For small k the scores are laid out (k, n): the minimum and the first centre reaching
    it (NumPy's tie rule) are then k passes over contiguous rows of length n, instead of
    n reductions over rows of length k, which NumPy does one short row at a time.
    """
    k = centres.shape[0]
    c_sq = np.einsum("ij,ij->i", centres, centres)
    if k > SMALL_K:
        scores = X @ (-2.0 * centres.T)
        scores += c_sq
        labels = np.argmin(scores, axis=1)
        return labels, np.take_along_axis(scores, labels[:, None], axis=1)[:, 0]
    by_centre = (-2.0 * centres) @ X.T
    by_centre += c_sq[:, None]
    best = by_centre.min(axis=0)
    n = X.shape[0]
    labels = np.zeros(n, dtype=np.intp)
    found = by_centre[0] == best
    hit = np.empty(n, dtype=bool)
    for j in range(1, k):
        np.equal(by_centre[j], best, out=hit)
        np.greater(hit, found, out=hit)  # a hit not already claimed by a lower index
        found |= hit
        labels += hit * np.intp(j)
    return labels, best


def row_norms_sq(X: np.ndarray) -> np.ndarray:
    """‖x‖² per row (a column loop for few features: einsum is slow on 2-wide rows)."""
    if X.shape[1] > 8:
        return np.einsum("ij,ij->i", X, X)
    out = X[:, 0] * X[:, 0]
    for j in range(1, X.shape[1]):
        out += X[:, j] * X[:, j]
    return out


def assign_block(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre and squared distance to it (‖x‖² added to the n minima only)."""
    labels, best = nearest_scores(X, centres)
    best += row_norms_sq(X)
    np.maximum(best, 0.0, out=best)
    return labels, best


def lloyd_partial_stats(
    X: np.ndarray, weights: np.ndarray | None, centres: np.ndarray, n_far: int
) -> LloydStats:
    """Assignment step on one block: partial sums, weights, cost and far-point candidates.

    Without far points (``n_far=0``, the usual Lloyd step) no per-point distance is
    formed: the block's cost is Σ‖x‖² + Σ min-score, and Σ‖x‖² is one dot product.
    """
    k, d = centres.shape
    if X.shape[0] == 0:
        return LloydStats.empty(k, d)
    labels, best = nearest_scores(X, centres) if n_far <= 0 else assign_block(X, centres)
    sums, counts = partial_sums(X, labels, k, weights)
    if n_far <= 0:
        flat = X.reshape(-1)
        if weights is None:
            cost = float(flat @ flat) + float(best.sum())
        else:
            cost = float(row_norms_sq(X) @ weights) + float(best @ weights)
        stats = LloydStats.empty(k, d)
        stats.sums, stats.counts, stats.cost = sums, counts, max(cost, 0.0)
        return stats
    weighted = best if weights is None else best * weights
    order = _top_order(weighted, n_far)
    return LloydStats(
        sums=sums,
        counts=counts,
        cost=float(weighted.sum()),
        far_dists=weighted[order],
        far_points=X[order].copy(),
        far_labels=labels[order],
        far_weights=np.ones(len(order)) if weights is None else weights[order],
        n_far=n_far,
    )


def update_centres(
    stats: LloydStats, centres: np.ndarray, empty_cluster: str
) -> tuple[np.ndarray, int]:
    """New centres from merged statistics; returns them and the number of empty clusters.

    ``empty_cluster``:
    - ``"farthest"``: move each empty centre onto the point farthest from its own centre
      (scikit-learn's rule) and take that point out of the cluster it was in;
    - ``"keep"``: leave an empty centre where it was (Spark MLlib's rule);
    - ``"error"``: raise :class:`DataValidationError`.
    """
    sums = stats.sums.copy()
    counts = stats.counts.copy()
    empty = np.flatnonzero(counts <= 0)
    new = centres.copy()
    if empty.size and empty_cluster == "error":
        raise DataValidationError(
            f"k-means produced {empty.size} empty cluster(s) {empty.tolist()}: no point is "
            "closest to their centre. Use empty_cluster='farthest' or 'keep', a smaller k, "
            "or a different init."
        )
    if empty.size and empty_cluster == "farthest":
        used = 0
        for j in empty:
            # Skip candidates whose removal would empty their own cluster.
            while used < len(stats.far_dists):
                src = int(stats.far_labels[used])
                w = float(stats.far_weights[used])
                point = stats.far_points[used]
                used += 1
                if counts[src] - w > 0 and stats.far_dists[used - 1] > 0:
                    sums[src] -= w * point
                    counts[src] -= w
                    sums[j] = w * point
                    counts[j] = w
                    break
    nonempty = counts > 0
    new[nonempty] = sums[nonempty] / counts[nonempty, None]
    return new, int(empty.size)


def centre_shift(old: np.ndarray, new: np.ndarray) -> float:
    """Largest Euclidean distance any centre moved."""
    return float(np.sqrt(((old - new) ** 2).sum(axis=1)).max())


def normalise_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (for cosine / spherical k-means).

    Raises :class:`DataValidationError` for a zero row: it has no direction.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise DataValidationError(
            f"distance='cosine' needs non-zero points, but row {int(zero[0])} of the block is "
            "all zeros."
        )
    return X / norms[:, None]


def n_local_trials(k: int) -> int:
    """Candidates tried per greedy k-means++ step: 2 + ⌊ln k⌋, as scikit-learn does."""
    return 2 + int(np.log(k))


def greedy_kmeans_plus_plus(
    weights: np.ndarray, k: int, rng: np.random.Generator,
    to_row: Callable[[int], np.ndarray], to_rows: Callable[[np.ndarray], np.ndarray],
) -> list[int]:
    """The rows greedy k-means++ seeding chooses among weighted points, in order.

    The first is drawn with probability proportional to weight; each next one is the
    best (lowest resulting cost) of ``n_local_trials(k)`` candidates drawn with
    probability proportional to weight × squared distance to the closest chosen row.
    ``to_row(i)`` gives every point's squared distance to point ``i`` (n,), ``to_rows``
    those to each of several points (n, len(rows)): the points' layout stays theirs.
    """
    n = weights.shape[0]
    chosen = [int(rng.choice(n, p=weights / weights.sum()))]
    d2 = to_row(chosen[0])
    trials = n_local_trials(k)
    for _ in range(1, k):
        p = weights * d2
        total = p.sum()
        if total <= 0:
            break
        cands = rng.choice(n, size=trials, p=p / total)
        cand_d2 = to_rows(cands)  # (n, trials)
        costs = (np.minimum(d2[:, None], cand_d2) * weights[:, None]).sum(axis=0)
        best = int(cands[int(np.argmin(costs))])
        chosen.append(best)
        d2 = np.minimum(d2, to_row(best))
    return chosen


def _sq_dist_to_row(points: np.ndarray, i: int) -> np.ndarray:
    return np.asarray(((points - points[i]) ** 2).sum(axis=1))


def _sq_dist_to_rows(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return squared_distances(points, points[rows])


def weighted_kmeans_plus_plus(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Greedy k-means++ seeding on a small weighted set of points (driver side of k-means||):
    the rows :func:`greedy_kmeans_plus_plus` chooses."""
    chosen = greedy_kmeans_plus_plus(weights, k, rng, partial(_sq_dist_to_row, points),
                                     partial(_sq_dist_to_rows, points))
    return points[chosen].copy()


def weighted_cost(points: np.ndarray, weights: np.ndarray, centres: np.ndarray) -> float:
    """Weighted sum of squared distances to the closest centre."""
    return float(closest_centre(points, centres)[1] @ weights)


def weighted_lloyd(
    points: np.ndarray, weights: np.ndarray, centres: np.ndarray, max_iter: int = 30
) -> np.ndarray:
    """A few Lloyd iterations on a small weighted set; empty centres stay where they are."""
    for _ in range(max_iter):
        stats = lloyd_partial_stats(points, weights, centres, n_far=0)
        new, _ = update_centres(stats, centres, "keep")
        if np.array_equal(new, centres):
            break
        centres = new
    return centres
