"""Logistic-regression loss and gradient on sparse (CSR) blocks. NumPy and SciPy only.

The same sums as :func:`rddml.linear.kernels.block_loss_grad` and
:func:`rddml.linear.softmax.block_softmax_loss_grad`, computed from the stored values
only: the margins are one sparse-times-dense product ``X·w`` (n numbers), the gradient
one transposed product ``Xᵀ·r`` (d numbers); no dense row, and no n × d matrix, is
ever formed. Cost: two passes over the non-zeros plus O(n) for the log-loss terms.

Standardisation needs no special case: :class:`~rddml.linear.kernels.Scaling` maps the
optimiser's parameters to original-unit coefficients before each pass and maps the
gradient back afterwards, so the blocks are read as they are. Its centring (with an
intercept) is a change of variables of the intercept only: it never touches the data,
so sparsity is kept, and the optimum (coefficients in original units) is the one of
pyspark.ml, which scales sparse features without centring them.

Examples
--------
>>> import numpy as np
>>> from rddml.engine.sparse import csr_from_dense
>>> X = csr_from_dense(np.array([[0.0], [1.0], [2.0]])); y = np.array([0.0, 0.0, 1.0])
>>> part = csr_loss_grad(X, y, None, np.array([0.0]), 0.0)
>>> round(part.loss / part.weight, 6), part.grad_coef.tolist()
(0.693147, [-0.5])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rddml.labels import class_indices
from rddml.linear.kernels import LossGrad, effective_weights, log_loss_terms, sigmoid
from rddml.linear.softmax import SoftmaxLossGrad, softmax_residuals
from rddml.linear.softmax import effective_weights as softmax_weights


def _kept(X: Any, y: np.ndarray, w: np.ndarray | None, keep: np.ndarray | None
          ) -> tuple[Any, np.ndarray, np.ndarray | None]:
    if keep is None:
        return X, y, w
    rows = np.flatnonzero(keep)
    return X[rows], y[rows], None if w is None else w[rows]


def margins(X: Any, coef: np.ndarray, intercept: float | np.ndarray) -> np.ndarray:
    """``X·coef + intercept``: (n,) for a coefficient vector, (n, K) for a (K, d) matrix."""
    if coef.ndim == 2:
        return np.asarray(X @ coef.T) + intercept
    return np.asarray(X @ coef, dtype=np.float64) + intercept


def csr_loss_grad(
    X: Any,
    y: np.ndarray,
    w: np.ndarray | None,
    coef: np.ndarray,
    intercept: float,
    class_weights: tuple[float, float] | None = None,
    keep: np.ndarray | None = None,
) -> LossGrad:
    """Weighted log-loss and gradient sums of one CSR block at ``(coef, intercept)``
    (:func:`~rddml.linear.kernels.block_loss_grad` for sparse features)."""
    X, y, w = _kept(X, y, w, keep)
    d = X.shape[1]
    if X.shape[0] == 0:
        return LossGrad.empty(d)
    s = effective_weights(y, w, class_weights)
    z = margins(X, coef, intercept)
    r = s * (sigmoid(z) - y)
    return LossGrad(
        loss=float(s @ log_loss_terms(z, y)),
        grad_coef=np.asarray(X.T @ r, dtype=np.float64).reshape(d),
        grad_intercept=float(r.sum()),
        weight=float(s.sum()),
        count=int(X.shape[0]),
    )


def csr_softmax_loss_grad(
    X: Any,
    y: np.ndarray,
    w: np.ndarray | None,
    coef: np.ndarray,
    intercept: np.ndarray,
    class_weights: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> SoftmaxLossGrad:
    """Weighted softmax log-loss and gradient sums of one CSR block
    (:func:`~rddml.linear.softmax.block_softmax_loss_grad` for sparse features): the
    (n, K) margins ``X·Wᵀ`` and the (K, d) gradient ``(Xᵀ·R)ᵀ``."""
    K, d = coef.shape
    X, y, w = _kept(X, y, w, keep)
    n = X.shape[0]
    if n == 0:
        return SoftmaxLossGrad.empty(K, d)
    yi = class_indices(y)
    s = softmax_weights(y, w, class_weights)
    loss, R = softmax_residuals(margins(X, coef, intercept), yi, s)
    return SoftmaxLossGrad(
        loss=loss,
        grad_coef=np.ascontiguousarray(np.asarray(X.T @ R).T),
        grad_intercept=R.sum(axis=0),
        weight=float(s.sum()),
        count=int(n),
    )
