"""The Lloyd step of a block in BLAS form, for many features and centres.

The scores ‖c‖² − 2x·c of a block are a matrix product, which BLAS runs near the CPU's
peak; what costs time around it is everything else: an (n, k) score matrix that falls
out of the caches, NumPy's argmin over short rows, and per-cluster sums formed by ``d``
passes of ``np.bincount`` over strided columns (each as costly as the product at
d = k = 256). :func:`lloyd_block_blas` therefore:

- walks the block in chunks of rows (:func:`chunk_rows`), so the chunk's scores stay in
  the CPU's L2 cache while they are reduced, and allocates that buffer once per block;
- multiplies each chunk by the centres once, in the block's own dtype (float32 blocks
  run single-precision BLAS, twice the speed), with −2·centres kept (k, d) C-contiguous
  and passed transposed, as scikit-learn's Lloyd kernel does (measured a little faster
  than a (d, k) copy; both are one GEMM call per chunk);
- finds each row's closest centre and adds the row to its cluster's sums in one numba
  loop over the chunk (:func:`_assign_accumulate`), accumulating sums, weights and the
  cost in float64 whatever the block's dtype. The row's ‖x‖² is formed there too, from
  the row the sums read anyway: d multiply-adds against the product's d·k, so storing it
  at conversion would save less than one per cent of the work.

Without numba the same chunks are reduced by NumPy (argmin, then one sparse one-hot
product for the sums: a (k, n) CSR matrix times the block, O(n·d) like the loop).

Results agree with :func:`~rddml.cluster.kernels.lloyd_partial_stats`: the same labels
wherever a row's two best scores are not within rounding of each other (BLAS may sum a
chunk's dot products in another order than a whole block's), counts then exactly, sums
to rounding, and the cost to rounding (each row's distance is clipped at 0, as the fused
kernel does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.cluster.kernels import one_hot_sums

#: Bytes of one chunk's score matrix: it and the chunk's rows stay in a core's L2 cache.
CHUNK_SCORE_BYTES = 256 * 1024
#: Chunk rows never fewer (a GEMM of fewer rows runs below BLAS's speed) nor more.
MIN_CHUNK_ROWS = 256
MAX_CHUNK_ROWS = 4096


def chunk_rows(k: int, itemsize: int) -> int:
    """Rows per chunk for k centres and scores of ``itemsize`` bytes."""
    return int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_SCORE_BYTES // (itemsize * k))))


def compute_dtype(X: np.ndarray) -> np.dtype[Any]:
    """float32 for a float32 block, float64 for anything else."""
    return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)


def centre_terms(centres: np.ndarray, dtype: np.dtype[Any]) -> tuple[np.ndarray, np.ndarray]:
    """−2·centresᵀ (a transposed view of a C-contiguous (k, d) matrix of ``dtype``) and
    ‖c‖² in float64."""
    c64 = np.asarray(centres, dtype=np.float64)
    m2c = np.ascontiguousarray(-2.0 * c64, dtype=dtype)
    return m2c.T, np.einsum("ij,ij->i", c64, c64)


def _assign_accumulate(S: Any, c_sq: Any, X: Any, w: Any, has_w: bool, sums: Any,
                       counts: Any, labels: Any, dists: Any, assign_only: bool) -> float:
    """For each row of a chunk: the first centre with the lowest score ``S[i] + c_sq``
    (np.argmin's tie rule), then either its label and clipped squared distance are stored
    (``assign_only``) or the row is added, in float64, to that cluster's sums, weight and
    cost. Returns the chunk's cost."""
    n, d = X.shape
    k = S.shape[1]
    cost = 0.0
    for i in range(n):
        best = S[i, 0] + c_sq[0]
        label = 0
        for j in range(1, k):
            score = S[i, j] + c_sq[j]
            if score < best:
                best = score
                label = j
        xs = 0.0
        for t in range(d):
            v = np.float64(X[i, t])
            xs += v * v
        dist = xs + best
        if not dist > 0.0:
            dist = 0.0
        if assign_only:
            labels[i] = label
            dists[i] = dist
        elif has_w:
            wi = np.float64(w[i])
            for t in range(d):
                sums[label, t] += np.float64(X[i, t]) * wi
            counts[label] += wi
            cost += dist * wi
        else:
            for t in range(d):
                sums[label, t] += X[i, t]
            counts[label] += 1.0
            cost += dist
    return cost


_KERNELS: dict[str, Any] = {}


def _compiled() -> Any:
    return _jit.compiled_kernel(globals(), _KERNELS, "assign_accumulate", _assign_accumulate)


def _numpy_chunk(S: np.ndarray, c_sq: np.ndarray, X: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Labels and clipped squared distances of a chunk from its scores, by NumPy."""
    scores = S + c_sq  # float64: ‖c‖² is
    labels = np.argmin(scores, axis=1)
    best = np.take_along_axis(scores, labels[:, None], axis=1)[:, 0]
    best += np.einsum("ij,ij->i", X, X, dtype=np.float64)
    np.maximum(best, 0.0, out=best)
    return labels, best


def lloyd_block_blas(X: np.ndarray, w: np.ndarray | None, centres: np.ndarray, *,
                     numba_helpers: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-cluster sums (k, d) and weights (k,), float64, and the cost of one block.

    ``numba_helpers``: reduce each chunk's scores with the numba loop (else NumPy).
    """
    dtype = compute_dtype(X)
    X = np.ascontiguousarray(X, dtype=dtype)
    k, d = centres.shape
    n = X.shape[0]
    sums = np.zeros((k, d))
    counts = np.zeros(k)
    if n == 0:
        return sums, counts, 0.0
    m2cT, c_sq = centre_terms(centres, dtype)
    rows = min(n, chunk_rows(k, dtype.itemsize))
    buf = np.empty((rows, k), dtype=dtype)
    wv = None if w is None else np.ascontiguousarray(w, dtype=np.float64)
    cost = 0.0
    if numba_helpers:
        kernel = _compiled()
        none_i, none_f, no_w = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        for lo in range(0, n, rows):
            chunk = X[lo:lo + rows]
            S = buf[:chunk.shape[0]]
            np.matmul(chunk, m2cT, out=S)
            cost += kernel(S, c_sq, chunk, no_w if wv is None else wv[lo:lo + rows],
                           wv is not None, sums, counts, none_i, none_f, False)
        return sums, counts, float(cost)
    labels = np.empty(n, dtype=np.intp)
    dists = np.empty(n)
    for lo in range(0, n, rows):
        chunk = X[lo:lo + rows]
        S = buf[:chunk.shape[0]]
        np.matmul(chunk, m2cT, out=S)
        labels[lo:lo + rows], dists[lo:lo + rows] = _numpy_chunk(S, c_sq, chunk)
    sums = one_hot_sums(X, labels, k, wv)
    if wv is None:
        return sums, np.bincount(labels, minlength=k).astype(np.float64), float(dists.sum())
    return sums, np.bincount(labels, weights=wv, minlength=k), float(dists @ wv)


def assign_blas(X: np.ndarray, centres: np.ndarray, *, numba_helpers: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre (int64) and clipped squared distance (float64) per row, chunked."""
    dtype = compute_dtype(X)
    X = np.ascontiguousarray(X, dtype=dtype)
    k = centres.shape[0]
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int64)
    dists = np.empty(n)
    if n == 0:
        return labels, dists
    m2cT, c_sq = centre_terms(centres, dtype)
    rows = min(n, chunk_rows(k, dtype.itemsize))
    buf = np.empty((rows, k), dtype=dtype)
    kernel = _compiled() if numba_helpers else None
    none = np.zeros(0)
    for lo in range(0, n, rows):
        chunk = X[lo:lo + rows]
        S = buf[:chunk.shape[0]]
        np.matmul(chunk, m2cT, out=S)
        if kernel is not None:
            kernel(S, c_sq, chunk, none, False, none.reshape(0, 0), none,
                   labels[lo:lo + rows], dists[lo:lo + rows], True)
        else:
            labels[lo:lo + rows], dists[lo:lo + rows] = _numpy_chunk(S, c_sq, chunk)
    return labels, dists


def warm_up(dtypes: tuple[str, ...] = ("float64",)) -> bool:
    """Compile (or load from numba's cache) the chunk loop for blocks of ``dtypes``."""
    if not _jit.numba_available():
        return False
    for name in dtypes:
        X = np.arange(6.0, dtype=name).reshape(3, 2)
        C = np.array([[0.0, 1.0], [2.0, 3.0]])
        lloyd_block_blas(X, None, C, numba_helpers=True)
        lloyd_block_blas(X, np.ones(3), C, numba_helpers=True)
        assign_blas(X, C, numba_helpers=True)
    return True
