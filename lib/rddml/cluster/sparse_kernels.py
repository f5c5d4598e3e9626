"""k-means on sparse (CSR) rows with dense or sparse centres. NumPy and SciPy only.

The same math as :mod:`rddml.cluster.kernels`, from the stored values only:

- distances as ‖x‖² − 2x·c + ‖c‖², where ``x·c`` is one sparse-times-dense product per
  block (``X @ Cᵀ``, O(non-zeros × k)) and ‖x‖² a sum over the stored values;
- per-cluster sums as ``A @ X`` with ``A`` the (k, n) sparse one-hot matrix of the
  labels (times the weights): a sparse (k, d) matrix with at most the block's non-zeros.
  A partition adds its blocks' sums into one dense (k, d) array in place
  (:meth:`CsrLloydPartial.absorb_block`), so a k × d array is allocated once per
  partition and pass, not once per block;
- spherical k-means normalises the stored values of each row (:func:`unit_rows`).

The driver side of the initialisations (k-means++ on the few k-means|| candidates, and
a few Lloyd steps on them) works on the candidates as CSR rows and keeps its centres
sparse until the end (:func:`weighted_kmeans_plus_plus`, :func:`weighted_lloyd`):
with 2^18 columns a dense candidate set would hold hundreds of MiB. The random draws
and their order are those of the dense functions, so both layouts of the same data
start from the same centres.

Row sets (samples, candidates) are either dense arrays or CSR matrices; the helpers at
the end (:func:`stack_rows`, :func:`unique_rows_in_order`, :func:`sorted_rows`,
:func:`dense_rows`) take both.

Examples
--------
>>> import numpy as np
>>> from rddml.engine.sparse import csr_from_dense
>>> X = csr_from_dense(np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]]))
>>> labels, d2 = assign(X, np.array([[0.0, 0.5], [10.0, 10.0]]))
>>> labels.tolist(), d2.tolist()
([0, 0, 1], [0.25, 0.25, 0.0])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rddml.cluster.kernels import LloydStats, _top_order, greedy_kmeans_plus_plus
from rddml.engine.sparse import (
    canonical,
    csr,
    is_sparse,
    row_norms_sq,
    row_slice,
    segment_sums,
)
from rddml.engine.sparse import vstack as csr_vstack
from rddml.errors import DataValidationError

Rows = Any  # a dense (m, d) array or a CSR matrix


# ------------------------------------------------------------------ distances
class CentreTerms:
    """Dense (k, d) centres with the terms every block's product needs, made once per
    task and reused by all its blocks: the centres transposed into a C-contiguous (d, k)
    array and their squared norms.

    SciPy's CSR × dense product copies an operand that is not C-contiguous, and ``C.T``
    is not: with 2^18 features and k = 20 that was a 42 MB copy per block, per pass.
    Pickles as the centres alone (the terms are rebuilt where they are used).
    """

    __slots__ = ("C", "_sq", "_t")

    def __init__(self, C: np.ndarray) -> None:
        self.C = np.asarray(C, dtype=np.float64)
        self._t: np.ndarray | None = None
        self._sq: np.ndarray | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (CentreTerms, (self.C,))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.C.shape)

    def transposed(self) -> np.ndarray:
        if self._t is None:
            self._t = np.ascontiguousarray(self.C.T)
        return self._t

    def norms_sq(self) -> np.ndarray:
        if self._sq is None:
            self._sq = np.einsum("ij,ij->i", self.C, self.C)
        return self._sq


def centre_norms_sq(C: Rows | CentreTerms) -> np.ndarray:
    """‖c‖² of every centre (dense, CSR or :class:`CentreTerms`)."""
    if isinstance(C, CentreTerms):
        return C.norms_sq()
    if is_sparse(C):
        return row_norms_sq(C)
    return np.einsum("ij,ij->i", C, C)


def dot_centres(X: Any, C: Rows | CentreTerms) -> np.ndarray:
    """The (n, k) products ``x·c`` of CSR rows with centres (dense, CSR or
    :class:`CentreTerms`)."""
    P = X @ (C.transposed() if isinstance(C, CentreTerms) else C.T)
    return np.asarray(P.toarray() if is_sparse(P) else P, dtype=np.float64)


def nearest_scores(X: Any, C: Rows | CentreTerms) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre of each CSR row and the score min_c ‖c‖² − 2x·c (the first centre
    reaching the minimum wins, NumPy's tie rule, as in the dense kernels)."""
    scores = dot_centres(X, C)
    scores *= -2.0
    scores += centre_norms_sq(C)
    labels = np.argmin(scores, axis=1)
    return labels, scores[np.arange(scores.shape[0]), labels]


def squared_distances(X: Any, C: Rows) -> np.ndarray:
    """(n, k) squared Euclidean distances of CSR rows to centres, clipped at 0."""
    d2 = dot_centres(X, C)
    d2 *= -2.0
    d2 += row_norms_sq(X)[:, None]
    d2 += centre_norms_sq(C)[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


def assign(X: Any, C: Rows) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre and squared distance to it, for each CSR row."""
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    labels, best = nearest_scores(X, C)
    best += row_norms_sq(X)
    np.maximum(best, 0.0, out=best)
    return labels, best


def cluster_sums(X: Any, labels: np.ndarray, k: int, weights: np.ndarray | None) -> Any:
    """Per-cluster weighted sums of CSR rows as a sparse (k, d) matrix: ``A @ X`` with
    ``A[labels[i], i] = w_i``."""
    from scipy.sparse import csr_matrix

    n = X.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    A = csr_matrix((w, (np.asarray(labels, dtype=np.int64), np.arange(n))), shape=(k, n))
    return (A @ X).tocsr()


def _add_into(dense: np.ndarray, sums: Any) -> None:
    """``dense += sums`` in place for a sparse or dense (k, d) ``sums``."""
    if not is_sparse(sums):
        dense += sums
        return
    sums = sums.tocsr()
    sums.sum_duplicates()  # one stored value per (cluster, feature): += adds each once
    rows = np.repeat(np.arange(sums.shape[0]), np.diff(sums.indptr))
    dense[rows, sums.indices] += sums.data


def dense_sums(sums: Any) -> np.ndarray:
    """A (k, d) sums array as a new dense array."""
    if is_sparse(sums):
        return np.asarray(sums.toarray(), dtype=np.float64)
    return np.array(sums, dtype=np.float64, copy=True)


# ------------------------------------------------------------- Lloyd partial
@dataclass
class CsrLloydPartial:
    """:class:`~rddml.cluster.kernels.LloydStats` of CSR blocks, whose sums may be a
    sparse (k, d) matrix (one block's) or a dense array (a merge's).

    ``merge`` returns a new partial with dense sums and never modifies its arguments;
    :meth:`absorb_block` adds another partial into this one in place, which the engine's
    per-partition fold uses on its own accumulator (see
    :func:`rddml.engine.dataset.fold_blocks`), so a partition allocates its dense k × d
    sums once. :meth:`to_stats` gives the LloydStats the centre update reads.
    """

    sums: Any
    counts: np.ndarray
    cost: float
    far_dists: np.ndarray = field(default_factory=lambda: np.zeros(0))
    far_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    far_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    far_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_far: int = 0

    @staticmethod
    def empty(k: int, d: int) -> CsrLloydPartial:
        return CsrLloydPartial(np.zeros((k, d)), np.zeros(k), 0.0, far_points=np.zeros((0, d)))

    def _far(self) -> LloydStats:
        return LloydStats(np.zeros((0, 0)), np.zeros(0), 0.0, self.far_dists,
                          self.far_points, self.far_labels, self.far_weights, self.n_far)

    def _merged_far(self, other: CsrLloydPartial) -> LloydStats:
        if other.far_dists.size == 0 and other.n_far <= self.n_far:
            return self._far()
        if self.far_dists.size == 0 and self.n_far <= other.n_far:
            return other._far()
        return self._far().merge(other._far())

    def merge(self, other: CsrLloydPartial) -> CsrLloydPartial:
        """The partial of two disjoint slices (new arrays; the arguments are unchanged)."""
        sums = dense_sums(self.sums)
        _add_into(sums, other.sums)
        far = self._merged_far(other)
        return CsrLloydPartial(sums, self.counts + other.counts, self.cost + other.cost,
                               far.far_dists, far.far_points, far.far_labels,
                               far.far_weights, far.n_far)

    def absorb_block(self, other: CsrLloydPartial) -> CsrLloydPartial:
        """Add ``other`` into this partial, in place (the fold's own accumulator)."""
        if is_sparse(self.sums):
            self.sums = dense_sums(self.sums)
        _add_into(self.sums, other.sums)
        self.counts = self.counts + other.counts
        self.cost += other.cost
        if other.far_dists.size or other.n_far > self.n_far:
            far = self._merged_far(other)
            (self.far_dists, self.far_points, self.far_labels, self.far_weights,
             self.n_far) = (far.far_dists, far.far_points, far.far_labels,
                            far.far_weights, far.n_far)
        return self

    def to_stats(self) -> LloydStats:
        """The statistics as a dense :class:`~rddml.cluster.kernels.LloydStats`."""
        k = self.counts.shape[0]
        d = self.sums.shape[1]
        points = self.far_points if self.far_points.size else np.zeros((0, d))
        return LloydStats(dense_sums(self.sums).reshape(k, d), self.counts.copy(), self.cost,
                          self.far_dists, points, self.far_labels, self.far_weights,
                          self.n_far)

    @staticmethod
    def of_stats(stats: LloydStats) -> CsrLloydPartial:
        """A dense block's statistics as a partial (a dataset may mix layouts)."""
        return CsrLloydPartial(stats.sums, stats.counts, stats.cost, stats.far_dists,
                               stats.far_points, stats.far_labels, stats.far_weights,
                               stats.n_far)


def lloyd_partial(X: Any, weights: np.ndarray | None, C: Rows | CentreTerms, n_far: int
                  ) -> CsrLloydPartial:
    """Assignment step on one CSR block: sparse per-cluster sums, weights, cost and
    (``n_far`` > 0) the far-point candidates as dense rows. A pass gives ``C`` as
    :class:`CentreTerms`, so its blocks share one transposed copy."""
    k, d = C.shape
    if X.shape[0] == 0:
        return CsrLloydPartial.empty(k, d)
    labels, best = nearest_scores(X, C)
    sums = cluster_sums(X, labels, k, weights)
    counts = (np.bincount(labels, minlength=k).astype(np.float64) if weights is None
              else np.bincount(labels, weights=weights, minlength=k))
    x_sq = row_norms_sq(X)
    if n_far <= 0:
        total = x_sq + best
        cost = float(total.sum() if weights is None else total @ weights)
        return CsrLloydPartial(sums, counts, max(cost, 0.0), far_points=np.zeros((0, d)))
    d2 = np.maximum(best + x_sq, 0.0)
    weighted = d2 if weights is None else d2 * weights
    order = _top_order(weighted, n_far)
    return CsrLloydPartial(
        sums, counts, float(weighted.sum()), weighted[order],
        np.asarray(X[order].toarray(), dtype=np.float64), labels[order],
        np.ones(len(order)) if weights is None else np.asarray(weights)[order], n_far)


def unit_rows(X: Any) -> Any:
    """CSR rows scaled to unit Euclidean norm (spherical k-means); a zero row raises
    :class:`DataValidationError` (it has no direction)."""
    norms = np.sqrt(row_norms_sq(X))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise DataValidationError(
            f"distance='cosine' needs non-zero points, but row {int(zero[0])} of the block is "
            "all zeros.")
    scale = np.repeat(1.0 / norms, np.diff(X.indptr))
    return csr(np.asarray(X.data) * scale, X.indices, X.indptr, X.shape[1])


def zero_rows(X: Any) -> np.ndarray:
    """Indices of the all-zero rows of a CSR matrix (stored zeros count as zero)."""
    return np.flatnonzero(segment_sums(np.asarray(X.data) ** 2, X.indptr) == 0)


# ------------------------------------------------------ driver-side (few rows)
def _sq_dist_to_row(P: Any, c: Any) -> np.ndarray:
    """Exact ‖p − c‖² of every CSR row of ``P`` to one CSR row ``c`` (no expansion: a
    row equal to ``c`` is at distance 0 exactly, as in the dense code)."""
    m = P.shape[0]
    if m == 0:
        return np.zeros(0)
    nnz = c.nnz
    rep = csr(np.tile(np.asarray(c.data, dtype=np.float64), m),
              np.tile(np.asarray(c.indices), m),
              np.arange(m + 1, dtype=np.int64) * nnz, P.shape[1])
    diff = (P - rep).tocsr()
    return segment_sums(np.asarray(diff.data, dtype=np.float64) ** 2, diff.indptr)


def _sq_dist_to_point(points: Any, i: int) -> np.ndarray:
    return _sq_dist_to_row(points, points[int(i)])


def _sq_dist_to_points(points: Any, rows: np.ndarray) -> np.ndarray:
    return np.stack([_sq_dist_to_point(points, int(c)) for c in rows], axis=1)


def weighted_kmeans_plus_plus(points: Any, weights: np.ndarray, k: int,
                              rng: np.random.Generator) -> Any:
    """:func:`rddml.cluster.kernels.weighted_kmeans_plus_plus` on CSR points: the same
    draws, returning the chosen rows as CSR."""
    chosen = greedy_kmeans_plus_plus(weights, k, rng, functools.partial(_sq_dist_to_point, points),
                                     functools.partial(_sq_dist_to_points, points))
    return canonical(points[chosen])


def _centres_from_sums(sums: Any, counts: np.ndarray, centres: Any) -> Any:
    """CSR centres: the mean of each non-empty cluster, the old centre for an empty one
    (MLlib's "keep" rule, as :func:`rddml.cluster.kernels.weighted_lloyd` uses)."""
    from scipy.sparse import diags

    sums = sums.tocsr()
    nonempty = counts > 0
    inv = np.where(nonempty, 1.0 / np.where(nonempty, counts, 1.0), 0.0)
    means = (diags(inv) @ sums).tocsr()
    if nonempty.all():
        return canonical(means)
    keep = diags(np.where(nonempty, 0.0, 1.0)) @ canonical(centres)
    return canonical(means + keep)


def weighted_lloyd(points: Any, weights: np.ndarray, centres: Any, max_iter: int = 30
                   ) -> Any:
    """:func:`rddml.cluster.kernels.weighted_lloyd` on CSR points with CSR centres."""
    centres = canonical(centres)
    k = centres.shape[0]
    for _ in range(max_iter):
        labels, _ = nearest_scores(points, centres)
        sums = cluster_sums(points, labels, k, weights)
        counts = np.bincount(labels, weights=weights, minlength=k)
        new = _centres_from_sums(sums, counts, centres)
        if (new != centres).nnz == 0:
            break
        centres = new
    return centres


def weighted_cost(points: Any, weights: np.ndarray, centres: Rows) -> float:
    """Weighted sum of squared distances of CSR points to the closest centre."""
    return float(assign(points, centres)[1] @ weights)


# --------------------------------------------------------------- row sets
def _row_key(X: Any, i: int) -> bytes:
    """The values of CSR row ``i`` as bytes, stored zeros left out (equal rows, equal keys)."""
    lo, hi = int(X.indptr[i]), int(X.indptr[i + 1])
    vals = np.asarray(X.data[lo:hi], dtype=np.float64) + 0.0
    idx = np.asarray(X.indices[lo:hi], dtype=np.int64)
    keep = vals != 0.0
    return idx[keep].tobytes() + b"|" + vals[keep].tobytes()


def _row_cmp(X: Any, a: int, b: int) -> int:
    """Lexicographic comparison of two CSR rows as dense rows (the first column where
    they differ decides)."""
    la, ha = int(X.indptr[a]), int(X.indptr[a + 1])
    lb, hb = int(X.indptr[b]), int(X.indptr[b + 1])
    ia, va = np.asarray(X.indices[la:ha]), np.asarray(X.data[la:ha], dtype=np.float64)
    ib, vb = np.asarray(X.indices[lb:hb]), np.asarray(X.data[lb:hb], dtype=np.float64)
    cols = np.union1d(ia[va != 0], ib[vb != 0])
    if cols.size == 0:
        return 0
    ra = np.zeros(cols.size)
    rb = np.zeros(cols.size)
    ra[np.searchsorted(cols, ia[va != 0])] = va[va != 0]
    rb[np.searchsorted(cols, ib[vb != 0])] = vb[vb != 0]
    diff = np.flatnonzero(ra != rb)
    if diff.size == 0:
        return 0
    j = int(diff[0])
    return -1 if ra[j] < rb[j] else 1


def sorted_rows(rows: Rows) -> Rows:
    """The rows in lexicographic order of their values (ties keep their order), the
    order ``np.lexsort(rows.T[::-1])`` gives a dense set."""
    if not is_sparse(rows):
        return rows[np.lexsort(rows.T[::-1])] if rows.shape[0] else rows
    order = sorted(range(rows.shape[0]), key=functools.cmp_to_key(
        functools.partial(_row_cmp, rows)))
    return canonical(rows[order]) if order else rows


def unique_rows_in_order(rows: Rows) -> Rows:
    """The distinct rows, each at its first position (dense or CSR)."""
    if not is_sparse(rows):
        _, first = np.unique(rows, axis=0, return_index=True)
        return rows[np.sort(first)]
    seen: set[bytes] = set()
    keep: list[int] = []
    for i in range(rows.shape[0]):
        key = _row_key(rows, i)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return canonical(rows[keep]) if len(keep) < rows.shape[0] else rows


def stack_rows(a: Rows, b: Rows) -> Rows:
    """``a``'s rows then ``b``'s (CSR when either is)."""
    if is_sparse(a) or is_sparse(b):
        return csr_vstack([canonical(a), canonical(b)], a.shape[1])
    return np.vstack([a, b])


def add_distinct(chosen: Rows, extra: Rows, k: int) -> Rows:
    """Append rows of ``extra`` not already in ``chosen`` until there are ``k`` (CSR)."""
    chosen, extra = canonical(chosen), canonical(extra)
    seen = {_row_key(chosen, i) for i in range(chosen.shape[0])}
    picked: list[int] = []
    for i in range(extra.shape[0]):
        if chosen.shape[0] + len(picked) >= k:
            break
        key = _row_key(extra, i)
        if key not in seen:
            seen.add(key)
            picked.append(i)
    if not picked:
        return chosen
    return csr_vstack([chosen, canonical(extra[picked])], chosen.shape[1])


def dense_rows(rows: Rows) -> np.ndarray:
    """A row set as a dense float64 array."""
    if is_sparse(rows):
        return np.asarray(rows.toarray(), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64)


def rows_at(X: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of a CSR block as a canonical CSR matrix."""
    return canonical(X[np.asarray(index, dtype=np.int64)])


def split_rows(X: Any, size: int) -> list[Any]:
    """A CSR matrix cut into consecutive pieces of at most ``size`` rows."""
    return [row_slice(X, lo, min(X.shape[0], lo + size)) for lo in range(0, X.shape[0], size)]
