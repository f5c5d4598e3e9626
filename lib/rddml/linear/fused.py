"""Fused logistic-regression kernel compiled with numba: loss and gradient in one pass.

The NumPy path (:func:`rddml.linear.kernels.block_loss_grad`) reads the block twice
(``X @ coef`` and ``X.T @ r``) and makes several passes over n-long temporaries between.
:func:`loss_grad_block_fused` reads each row once: ``z = x·coef + b``, the weighted log
loss ``s·(log(1 + e^z) − y z)`` in the same overflow-free form as ``np.logaddexp(0, z)``,
the residual ``r = s·(σ(z) − y)`` and ``grad += r·x``. ``s`` is the row weight times its
class weight; rows outside the optional ``keep`` mask are skipped.

Results agree with NumPy's to rounding (sums are taken in row order rather than BLAS's
or NumPy's pairwise order), ``count`` exactly. numba is imported lazily (see
:mod:`rddml._jit`); call :func:`warm_up` before a timed pass (the estimator's first
pass over its first block is the natural place).

Measured on one core (``OPENBLAS_NUM_THREADS=1``), blocks of 4 MiB of features
(``default_block_rows(d)`` rows), milliseconds per block, minimum of several runs,
machine shared with other jobs (2 cores, AMD EPYC, AVX2/FMA)::

      d    rows   NumPy ms   fused ms   speed-up   fused GB/s   NumPy GB/s
      2  262144      20.61      13.34      1.54x         0.31         0.20
     10   52428       5.19       3.34      1.55x         1.25         0.81
     20   26214       2.65       1.87      1.42x         2.25         1.58
     50   10485       1.88       1.09      1.73x         3.86         2.23
    100    5242       1.08       0.80      1.35x         5.23         3.88

:func:`use_fused_logistic` encodes the rule drawn from it: the fused kernel at every d
(it won every cell, 1.35-1.75x; it reads the block once where NumPy reads it twice; not
measured above d = 100). Re-measure with ``tools/bench_fused.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.linear.kernels import LossGrad, block_loss_grad


def use_fused_logistic(d: int) -> bool:
    """Whether ``RDDML_KERNELS=auto`` runs the fused loss/gradient kernel: yes, at every d.

    It won every cell of this module's table (1.35–1.75× NumPy on one block) and reads
    each block once. It used to be off because every new Python worker paid 1–2 s to
    import numba; since Spark reuses the workers (:func:`rddml._jit.freeze_worker_heap`,
    :func:`rddml.engine.dataset.call_task`) only the first task per worker pays it, and
    the benchmark's logistic regression at 5e6 × 10 measured 0.090 s per pass against
    NumPy's 0.139 s (README "Performance"). ``RDDML_KERNELS=numpy`` forces NumPy.
    """
    return True


def fmuladd(a: float, b: float, c: float) -> float:
    """``a * b + c``; replaced by the numba intrinsic before the kernel is compiled."""
    return a * b + c


def _loss_grad_kernel(
    X: Any, y: Any, w: Any, has_w: bool, coef: Any, intercept: float, cw0: float, cw1: float,
    keep: Any, has_keep: bool,
) -> Any:
    n, d = X.shape
    grad = np.zeros(d)
    loss = 0.0
    grad_b = 0.0
    weight = 0.0
    count = 0
    for i in range(n):
        if has_keep and not keep[i]:
            continue
        # Four interleaved partial sums: a single chain of d multiply-adds is latency-bound
        # (measured 1.6-1.8x slower at d = 50..100); BLAS does not sum in order either.
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
        z = ((z0 + z1) + (z2 + z3)) + intercept
        yi = y[i]
        s = w[i] if has_w else 1.0
        s *= cw1 if yi > 0.5 else cw0
        # One e^-|z| serves both: log(1 + e^z) = max(z, 0) + log1p(e^-|z|) (np.logaddexp's
        # form) and σ(z) = 1/(1 + e^-|z|) for z ≥ 0, e^-|z|/(1 + e^-|z|) below (sigmoid's).
        e = np.exp(-abs(z))
        if z > 0.0:
            softplus = z + np.log1p(e)
        elif z < 0.0:
            softplus = np.log1p(e)
        else:
            softplus = np.log(2.0) + z * 0.0  # NaN stays NaN
        p = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
        loss += s * (softplus - yi * z)
        r = s * (p - yi)
        for t in range(d):
            grad[t] += X[i, t] * r
        grad_b += r
        weight += s
        count += 1
    return loss, grad, grad_b, weight, count


_KERNELS: dict[str, Any] = {}


def _compiled() -> Any:
    """The numba-compiled kernel (compiled, or loaded from the cache, on first use)."""
    return _jit.compiled_kernel(globals(), _KERNELS, "loss_grad", _loss_grad_kernel)


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
    loss, grad, grad_b, weight, count = _compiled()(
        X, yv, wv, has_w, coef, float(intercept), cw0, cw1, kv, has_keep)
    if count == 0:
        return LossGrad.empty(d)
    return LossGrad(float(loss), grad, float(grad_b), float(weight), int(count))


def loss_grad(X: np.ndarray, *args: Any, **kwargs: Any) -> LossGrad:
    """Loss and gradient sums of a block (the arguments of
    :func:`~rddml.linear.kernels.block_loss_grad`) by the fused kernel or NumPy, whichever the
    ``RDDML_KERNELS`` setting and :func:`use_fused_logistic` choose (NumPy without numba)."""
    fused = _jit.use_fused(use_fused_logistic(X.shape[1]))
    return (loss_grad_block_fused if fused else block_loss_grad)(X, *args, **kwargs)


def warm_up() -> bool:
    """Compile (or load from the on-disk cache) the fused kernel on a tiny block, so no
    compilation happens inside a timed pass. Returns False when numba is unavailable."""
    if not _jit.numba_available():
        return False
    X = np.array([[0.0, 1.0], [2.0, -3.0]])
    y = np.array([0.0, 1.0])
    loss_grad_block_fused(X, y, None, np.array([0.5, -0.5]), 0.1)
    loss_grad_block_fused(X, y, np.ones(2), np.zeros(2), 0.0, (1.0, 2.0), np.array([True, False]))
    _jit.freeze_worker_heap()  # the loaded kernels too (see there)
    return True
