"""Fused logistic-regression kernel compiled with numba: loss and gradient in one pass.

The NumPy path (:func:`rddml.linear.kernels.block_loss_grad`) reads the block twice
(``X @ coef`` and ``X.T @ r``) and makes several passes over n-long temporaries between.
:func:`loss_grad_block_fused` walks the block in chunks of about 512 KiB of features
(:func:`chunk_rows`): a numba loop scores the chunk's rows (``z = x·coef + b``), NumPy's
vectorised ``exp`` and ``log1p`` (SIMD, where numba would call libm once per row)
give ``e = e^-|z|`` and ``log1p(e)``, and a second numba
loop adds the weighted log loss ``s·(log(1 + e^z) − y z)`` (np.logaddexp's overflow-free
form), the residual ``r = s·(σ(z) − y)`` and ``grad += r·x``, re-reading the chunk from
the CPU cache: the block still comes from memory once. ``s`` is the row weight times its
class weight; rows outside the optional ``keep`` mask are skipped.

Results agree with NumPy's to rounding (sums are taken in row order within a chunk
rather than BLAS's or NumPy's pairwise order), ``count`` exactly. numba is imported
lazily (see :mod:`rddml._jit`); call :func:`warm_up` before a timed pass (the
estimator's first pass over its first block is the natural place).

:func:`use_fused_logistic` encodes the rule measured on one block with
``tools/bench_fused.py`` (docs/benchmark/fused-kernels-2026-12-02.md): fused below d = 64,
NumPy above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.linear.kernels import LossGrad, block_loss_grad


def use_fused_logistic(d: int) -> bool:
    """Whether ``kernels="auto"`` runs the fused loss/gradient kernel: for d < 64.

    Faster than NumPy on one block at small d; at large d BLAS's two matrix-vector
    products run at cache speed and the transcendental functions are a small share.
    Importing numba is paid once per Python worker, since Spark reuses the workers
    (:func:`rddml._jit.freeze_worker_heap`, :func:`rddml.engine.dataset.call_task`).
    ``kernels="numpy"`` forces NumPy.
    """
    return d < 64


def fmuladd(a: float, b: float, c: float) -> float:
    """``a * b + c``; replaced by the numba intrinsic before the kernel is compiled."""
    return a * b + c


def _scores_kernel(X: Any, lo: int, hi: int, coef: Any, intercept: float, z: Any) -> None:
    """``z[:hi - lo] = X[lo:hi] @ coef + intercept``."""
    d = X.shape[1]
    for i in range(lo, hi):
        # Four interleaved partial sums: a single chain of d multiply-adds is latency-bound
        # at large d; BLAS does not sum in order either.
        z0 = 0.0
        z1 = 0.0
        z2 = 0.0
        z3 = 0.0
        t = 0
        while t + 4 <= d:
            z0 = fmuladd(X[i, t], coef[t], z0)
            z1 = fmuladd(X[i, t + 1], coef[t + 1], z1)
            z2 = fmuladd(X[i, t + 2], coef[t + 2], z2)
            z3 = fmuladd(X[i, t + 3], coef[t + 3], z3)
            t += 4
        while t < d:
            z0 = fmuladd(X[i, t], coef[t], z0)
            t += 1
        z[i - lo] = ((z0 + z1) + (z2 + z3)) + intercept


def _accumulate_kernel(
    X: Any, lo: int, hi: int, y: Any, w: Any, has_w: bool, z: Any, e: Any, lp: Any,
    cw0: float, cw1: float, keep: Any, has_keep: bool, grad: Any, sums: Any,
) -> int:
    """Add rows ``lo:hi``'s loss, residual-weighted features, residuals and weights to
    ``sums = [loss, grad_intercept, weight]`` and ``grad``; returns the rows counted.

    ``e = e^-|z|`` and ``lp = log1p(e)`` come in precomputed: one e^-|z| serves both
    log(1 + e^z) = max(z, 0) + log1p(e^-|z|) (np.logaddexp's form) and σ(z) = 1/(1 + e)
    for z ≥ 0, e/(1 + e) below (the sigmoid's). A NaN z stays NaN in both.
    """
    d = X.shape[1]
    loss = 0.0
    grad_b = 0.0
    weight = 0.0
    count = 0
    for i in range(lo, hi):
        if has_keep and not keep[i]:
            continue
        j = i - lo
        zi = z[j]
        ei = e[j]
        yi = y[i]
        s = w[i] if has_w else 1.0
        s *= cw1 if yi > 0.5 else cw0
        softplus = zi + lp[j] if zi > 0.0 else lp[j]
        p = 1.0 / (1.0 + ei) if zi >= 0.0 else ei / (1.0 + ei)
        loss += s * (softplus - yi * zi)
        r = s * (p - yi)
        for t in range(d):
            grad[t] += X[i, t] * r
        grad_b += r
        weight += s
        count += 1
    sums[0] += loss
    sums[1] += grad_b
    sums[2] += weight
    return count


_KERNELS: dict[str, Any] = {}
#: Bytes of features one chunk covers: the chunk's rows are read from memory once (to
#: score them) and again from the CPU cache (to add their gradient) after NumPy's
#: vectorised e^-|z| and log1p, which are much faster than the scalar calls a per-row
#: loop makes (numba has no vector exp without Intel's SVML).
CHUNK_BYTES = 1 << 19


def chunk_rows(d: int) -> int:
    """Rows per chunk for ``d`` features: about :data:`CHUNK_BYTES`, within 1024-16384."""
    return int(min(16384, max(1024, CHUNK_BYTES // (8 * max(d, 1)))))


def _compiled() -> tuple[Any, Any]:
    """The numba-compiled kernels (compiled, or loaded from the cache, on first use)."""
    return (_jit.compiled_kernel(globals(), _KERNELS, "scores", _scores_kernel),
            _jit.compiled_kernel(globals(), _KERNELS, "accumulate", _accumulate_kernel))


def loss_grad_block_fused(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    coef: np.ndarray,
    intercept: float,
    class_weights: tuple[float, float] | None = None,
    keep: np.ndarray | None = None,
) -> LossGrad:
    """:func:`~rddml.linear.kernels.block_loss_grad` in one pass over the block (numba).

    A block that is not C-contiguous float64 is copied into one first.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"expected a block (n, d), got shape {X.shape}")
    n, d = X.shape
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    yv = np.ascontiguousarray(y, dtype=np.float64)
    if coef.shape != (d,) or yv.shape != (n,):
        raise ValueError(f"coef {coef.shape} and labels {yv.shape} for a block {X.shape}")
    if n == 0:
        return LossGrad.empty(d)
    has_w = w is not None
    wv = np.ascontiguousarray(w, dtype=np.float64) if has_w else np.zeros(0)
    has_keep = keep is not None
    kv = np.ascontiguousarray(keep, dtype=np.bool_) if has_keep else np.zeros(0, dtype=np.bool_)
    if (has_w and wv.shape != (n,)) or (has_keep and kv.shape != (n,)):
        raise ValueError(f"weights {wv.shape} or mask {kv.shape} for a block of {n} rows")
    cw0, cw1 = (1.0, 1.0) if class_weights is None else map(float, class_weights)
    scores, accumulate = _compiled()
    step = chunk_rows(d)
    z, e, lp = np.empty(min(n, step)), np.empty(min(n, step)), np.empty(min(n, step))
    grad = np.zeros(d)
    sums = np.zeros(3)  # loss, grad_intercept, weight
    count = 0
    b = float(intercept)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        m = hi - lo
        zc, ec, lc = z[:m], e[:m], lp[:m]
        scores(X, lo, hi, coef, b, zc)
        np.abs(zc, out=ec)
        np.negative(ec, out=ec)
        np.exp(ec, out=ec)
        np.log1p(ec, out=lc)
        count += accumulate(X, lo, hi, yv, wv, has_w, zc, ec, lc, cw0, cw1, kv, has_keep,
                            grad, sums)
    if count == 0:
        return LossGrad.empty(d)
    return LossGrad(float(sums[0]), grad, float(sums[1]), float(sums[2]), int(count))


def loss_grad(X: np.ndarray, *args: Any, kernels: str = "auto", **kwargs: Any) -> LossGrad:
    """Loss and gradient sums of a block (the arguments of
    :func:`~rddml.linear.kernels.block_loss_grad`) by the fused kernel or NumPy, whichever
    ``kernels`` and :func:`use_fused_logistic` choose (NumPy without numba). A float32
    block always runs NumPy's single-precision products (the fused kernel reads float64)."""
    fused = X.dtype != np.float32 and _jit.use_fused(use_fused_logistic(X.shape[1]), kernels)
    return (loss_grad_block_fused if fused else block_loss_grad)(X, *args, **kwargs)


def warm_up(kernels: str = "auto") -> bool:
    """Compile (or load from the on-disk cache) the fused kernel on a tiny block, so no
    compilation happens inside a timed pass. Returns False when it will not run
    (``kernels="numpy"``, or numba unavailable)."""
    if not _jit.use_fused(True, kernels):
        return False
    X = np.array([[0.0, 1.0], [2.0, -3.0]])
    y = np.array([0.0, 1.0])
    loss_grad_block_fused(X, y, None, np.array([0.5, -0.5]), 0.1)
    loss_grad_block_fused(X, y, np.ones(2), np.zeros(2), 0.0, (1.0, 2.0), np.array([True, False]))
    _jit.freeze_worker_heap()  # the loaded kernels too (see there)
    return True
