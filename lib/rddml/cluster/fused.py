"""Fused k-means kernels compiled with numba: the assignment step in one pass over a block.

The NumPy path (:func:`rddml.cluster.kernels.lloyd_partial_stats`) forms an (n, k) score
matrix with a matrix product, reduces it to labels, then makes ``d`` more passes over the
block for the per-cluster sums. :func:`lloyd_block_fused` reads each row once: the score
``‖c‖² − 2x·c`` of every centre, the first (lowest-index) minimum — np.argmin's tie rule,
which :func:`~rddml.cluster.kernels.nearest_scores` also follows — then the row is added
to its cluster's sums and weight and its squared distance, clipped at 0, to the cost.

Results agree with the NumPy path: labels and counts exactly (whenever the two scores of
a row are not within rounding of each other: the dot products are summed in order with
fused multiply-adds, as OpenBLAS's kernels do, but BLAS does not sum every shape the same
way), per-cluster sums bit for bit for the same labels (``np.bincount`` also adds in row
order), and the cost to rounding. The cost clips every row's distance at 0 where the
NumPy path clips the block's total: it is never lower and at least as accurate.

numba is imported lazily (see :mod:`rddml._jit`): importing this module never imports it.
Call :func:`warm_up` before a timed pass so no compilation lands inside one; with the
on-disk cache a later process loads the compiled code instead of compiling again. The
estimator's natural place is the first block of its first pass (the initialisation), where
one call per executor process costs a cache load (or, once per machine, a compilation).

:func:`use_fused_lloyd` encodes which implementation is faster per shape, measured on one
block with ``tools/bench_fused.py`` (docs/benchmark/fused-kernels-2026-12-02.md): the fused
kernel when k ≤ 8 or d·k ≤ 3000, where one pass over the rows beats NumPy's separate
passes; NumPy's BLAS product above, where the (n, k) scores dominate and BLAS computes them
faster.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.cluster import blas
from rddml.cluster.kernels import assign_block, lloyd_partial_stats

# Up to this many centres the fused kernel scores a row four centres at a time (four
# chains of d multiply-adds, in registers); above it, all centres at once, vectorised
# over the centres, which wins at larger k (docs/benchmark/fused-kernels-2026-12-02.md).
_FEW_CENTRES = 8


def use_fused_lloyd(d: int, k: int) -> bool:
    """Whether the fused Lloyd kernel beats the NumPy one for d features and k centres
    (the rule in this module's docstring)."""
    return k <= _FEW_CENTRES or d * k <= 3000


def use_fused_assign(d: int, k: int) -> bool:
    """Whether the fused assignment (labels and distances) beats NumPy's."""
    return use_fused_lloyd(d, k)


def fmuladd(a: float, b: float, c: float) -> float:
    """``a * b + c``; replaced in this module's globals by the numba intrinsic before the
    kernels are compiled (the kernels run as plain Python only in a debugger)."""
    return a * b + c


def _block_kernel(
    X: Any, w: Any, has_w: bool, m2c: Any, m2cT: Any, c_sq: Any, assign_only: bool,
    labels: Any, dists: Any,
) -> Any:
    """The one pass over a block behind both entry points.

    Each row's score ‖c‖² − 2x·c per centre uses one chain of multiply-adds in feature
    order (as BLAS's kernels sum a product's entries), so equal centres score equally and
    ties go to the lowest index. Few centres: four chains at a time, in registers; many:
    all centres at once, vectorised over the centres (``m2cT`` is −2·centresᵀ). Then
    either the row's label and clipped distance are stored (``assign_only``) or the row is
    added to its cluster's sums, weight and cost. (One kernel with the scoring written
    once: numba does not compile a separate scoring function, even inlined, as tightly.)
    """
    n, d = X.shape
    k = m2c.shape[0]
    sums = np.zeros((k, d))
    counts = np.zeros(k)
    acc = np.empty(k)
    cost = 0.0
    for i in range(n):
        xs = 0.0
        for t in range(d):
            xs = fmuladd(X[i, t], X[i, t], xs)
        best = 0.0
        label = 0
        if k <= _FEW_CENTRES:
            j0 = 0
            while j0 + 4 <= k:
                a0 = 0.0
                a1 = 0.0
                a2 = 0.0
                a3 = 0.0
                for t in range(d):
                    xt = X[i, t]
                    a0 = fmuladd(xt, m2c[j0, t], a0)
                    a1 = fmuladd(xt, m2c[j0 + 1, t], a1)
                    a2 = fmuladd(xt, m2c[j0 + 2, t], a2)
                    a3 = fmuladd(xt, m2c[j0 + 3, t], a3)
                score = a0 + c_sq[j0]
                if score < best or j0 == 0:
                    best = score
                    label = j0
                score = a1 + c_sq[j0 + 1]
                if score < best:
                    best = score
                    label = j0 + 1
                score = a2 + c_sq[j0 + 2]
                if score < best:
                    best = score
                    label = j0 + 2
                score = a3 + c_sq[j0 + 3]
                if score < best:
                    best = score
                    label = j0 + 3
                j0 += 4
            for j in range(j0, k):
                a0 = 0.0
                for t in range(d):
                    a0 = fmuladd(X[i, t], m2c[j, t], a0)
                score = a0 + c_sq[j]
                if score < best or j == 0:
                    best = score
                    label = j
        else:
            for j in range(k):
                acc[j] = 0.0
            for t in range(d):
                xt = X[i, t]
                for j in range(k):
                    acc[j] = fmuladd(xt, m2cT[t, j], acc[j])
            best = acc[0] + c_sq[0]
            for j in range(1, k):
                score = acc[j] + c_sq[j]
                if score < best:
                    best = score
                    label = j
        dist = xs + best
        if not dist > 0.0:
            dist = 0.0
        if assign_only:
            labels[i] = label
            dists[i] = dist
        elif has_w:
            wi = w[i]
            for t in range(d):
                sums[label, t] += X[i, t] * wi
            counts[label] += wi
            cost += dist * wi
        else:
            for t in range(d):
                sums[label, t] += X[i, t]
            counts[label] += 1.0
            cost += dist
    return sums, counts, cost


_KERNELS: dict[str, Any] = {}


def _compiled() -> Any:
    """The numba-compiled kernel (compiled, or loaded from the cache, on first use)."""
    return _jit.compiled_kernel(globals(), _KERNELS, "block", _block_kernel)


def _prepare(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, ...]:
    """C-contiguous block (float32 kept as it is, anything else as float64) and the
    float64 centre terms, as nearest_scores forms them."""
    X = np.ascontiguousarray(X, dtype=np.float32 if X.dtype == np.float32 else np.float64)
    centres = np.ascontiguousarray(centres, dtype=np.float64)
    if X.ndim != 2 or centres.ndim != 2 or X.shape[1] != centres.shape[1]:
        raise ValueError(f"expected a block (n, d) and centres (k, d), got {X.shape} and "
                         f"{centres.shape}")
    if centres.shape[0] == 0:
        raise ValueError("need at least one centre")
    m2c = -2.0 * centres
    c_sq = np.einsum("ij,ij->i", centres, centres)
    return X, m2c, np.ascontiguousarray(m2c.T), c_sq


def lloyd_block_fused(
    X: np.ndarray, w: np.ndarray | None, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-cluster sums (k, d), weights (k,) and cost of one block in one pass (numba).

    Equal to ``lloyd_partial_stats(X, w, centres, n_far=0)``'s sums, counts and cost (see
    the module docstring for how exactly). A float32 block is read as it is (each value
    widened to float64 as it is read: the scores, sums and cost are float64); any other
    block that is not C-contiguous float64 is copied into one first.
    """
    X, m2c, m2cT, c_sq = _prepare(X, centres)
    k, d = m2c.shape
    if X.shape[0] == 0:
        return np.zeros((k, d)), np.zeros(k), 0.0
    has_w = w is not None
    wv = np.ascontiguousarray(w, dtype=np.float64) if has_w else np.zeros(0)
    if has_w and wv.shape != (X.shape[0],):
        raise ValueError(f"weights of shape {wv.shape} for a block of {X.shape[0]} rows")
    none = np.zeros(0)
    sums, counts, cost = _compiled()(X, wv, has_w, m2c, m2cT, c_sq, False,
                                     none.astype(np.int64), none)
    return sums, counts, float(cost)


def assign_block_fused(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre (int64) and squared distance, clipped at 0, per row in one pass:
    :func:`~rddml.cluster.kernels.assign_block` for prediction and k-means|| costs."""
    X, m2c, m2cT, c_sq = _prepare(X, centres)
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    labels = np.empty(X.shape[0], dtype=np.int64)
    dists = np.empty(X.shape[0])
    _compiled()(X, np.zeros(0), False, m2c, m2cT, c_sq, True, labels, dists)
    return labels, dists


def lloyd_sums(
    X: np.ndarray, w: np.ndarray | None, centres: np.ndarray, kernels: str = "auto"
) -> tuple[np.ndarray, np.ndarray, float]:
    """Sums, weights and cost of a block by the fused kernel where ``kernels`` and
    :func:`use_fused_lloyd` choose it, else by the chunked BLAS form
    (:mod:`rddml.cluster.blas`, with numba's loop unless ``kernels="numpy"``) for many
    centres, else NumPy."""
    k, d = centres.shape
    rule = use_fused_lloyd(d, k)
    if _jit.use_fused(rule, kernels):
        return lloyd_block_fused(X, w, centres)
    if not rule or X.dtype == np.float32:
        return blas.lloyd_block_blas(X, w, centres,
                                     numba_helpers=_jit.use_numba_helpers(kernels))
    stats = lloyd_partial_stats(X, w, centres, n_far=0)
    return stats.sums, stats.counts, stats.cost


def assign(X: np.ndarray, centres: np.ndarray, kernels: str = "auto"
           ) -> tuple[np.ndarray, np.ndarray]:
    """Closest centre and clipped squared distance per row, fused, chunked BLAS or NumPy
    (as :func:`lloyd_sums` chooses)."""
    k, d = centres.shape
    rule = use_fused_assign(d, k)
    if _jit.use_fused(rule, kernels):
        return assign_block_fused(X, centres)
    if not rule or X.dtype == np.float32:
        return blas.assign_blas(X, centres, numba_helpers=_jit.use_numba_helpers(kernels))
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    labels, dists = assign_block(X, centres)
    return labels.astype(np.int64, copy=False), dists


def warm_up(kernels: str = "auto", d: int = 2, k: int = 2,
            dtypes: tuple[str, ...] = ("float64",)) -> bool:
    """Compile (or load from the on-disk cache) the kernels a pass with ``d`` features,
    ``k`` centres and blocks of ``dtypes`` runs under ``kernels``, on a tiny block, so no
    compilation happens inside a timed pass; then freeze the worker's heap
    (:func:`rddml._jit.freeze_worker_heap`). Returns False when no numba kernel runs."""
    if not (_jit.use_fused(True, kernels) or _jit.use_numba_helpers(kernels)):
        return False
    if _jit.use_fused(use_fused_lloyd(d, k), kernels):
        for name in dtypes:
            X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=name)
            w = np.ones(3)
            for kk in (1, _FEW_CENTRES + 1):  # both code paths are in one compiled function
                centres = np.arange(2.0 * kk).reshape(kk, 2)
                lloyd_block_fused(X, w, centres)
                lloyd_block_fused(X, None, centres)
                assign_block_fused(X, centres)
    else:
        blas.warm_up(dtypes)
    _jit.freeze_worker_heap()  # the loaded kernels too (see there)
    return True
