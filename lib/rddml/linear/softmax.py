"""NumPy-only multinomial (softmax) logistic-regression math: loss, gradient, labels, metrics.

Nothing here imports Spark; every function works on one block of rows or on the
driver's small arrays. The model has one coefficient row per class, ``W`` of shape
(K, d) and intercepts ``b`` of shape (K,); the probability of class k is
``softmax(x W^T + b)_k``. The objective is Spark MLlib's::

    f(W, b) = sum_i s_i * (logsumexp(z_i) - z_{i, y_i}) / sum_i s_i
              + reg_param * (l1_ratio * |W|_1 + (1 - l1_ratio) / 2 * |W|_2^2)

with ``z_i = W x_i + b`` and ``s_i`` the row weight times its class weight; the
intercepts are never penalised. The loss is computed through ``logsumexp`` (the largest
logit subtracted first), finite and exact for any logits.

The optimisers of :mod:`rddml.linear.solvers` see a flat vector θ: the (K, d + 1)
matrix ``[W_std | b_std]`` (or (K, d) without intercepts) in row-major order, in the
optimiser's (possibly standardised) space; :class:`~rddml.linear.kernels.Scaling`
maps it row by row (:func:`theta_to_original`, :func:`original_to_theta`,
:func:`gradient_to_theta`).

Examples
--------
>>> import numpy as np
>>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([0.0, 1.0, 2.0])
>>> part = block_softmax_loss_grad(X, y, None, np.zeros((3, 1)), np.zeros(3))
>>> round(part.loss / part.weight, 6)  # log 3 at the origin
1.098612
>>> (part.grad_coef.round(6) + 0.0).tolist()  # Σ (p_k − [y = k]) x at p = ⅓
[[1.0], [0.0], [-1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rddml.labels import MAX_BAD_LABELS, class_indices, valid_labels
from rddml.linear.kernels import Scaling, ScoreCounts, block_score_counts


# ----------------------------------------------------------------- elementwise
def logsumexp_rows(Z: np.ndarray) -> np.ndarray:
    """``log Σ_k e^{Z_ik}`` per row, without overflow (the row maximum is factored out)."""
    m = Z.max(axis=1)
    return m + np.log(np.exp(Z - m[:, None]).sum(axis=1))


def softmax_rows(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax probabilities ``e^{Z_ik} / Σ_j e^{Z_ij}`` (stable: via logsumexp)."""
    return np.exp(Z - logsumexp_rows(Z)[:, None])


def effective_weights(y: np.ndarray, w: np.ndarray | None,
                      class_weights: np.ndarray | None) -> np.ndarray:
    """Row weight times the weight of the row's class (all ones when neither is given)."""
    out = np.ones(y.shape[0]) if w is None else np.asarray(w, dtype=np.float64).copy()
    if class_weights is not None:
        out *= class_weights[class_indices(y)]
    return out


# ------------------------------------------------------------ loss + gradient
@dataclass
class SoftmaxLossGrad:
    """Weighted sums over a slice of rows; ``merge`` is associative and does not mutate.

    ``loss`` = Σ s_i (logsumexp(z_i) − z_{i,y_i}), ``grad_coef`` (K, d) = Σ s_i
    (p_i − e_{y_i}) x_iᵀ, ``grad_intercept`` (K,) = Σ s_i (p_i − e_{y_i}), ``weight`` =
    Σ s_i, ``count`` = rows.
    """

    loss: float
    grad_coef: np.ndarray
    grad_intercept: np.ndarray
    weight: float
    count: int

    def merge(self, other: SoftmaxLossGrad) -> SoftmaxLossGrad:
        """Sums of two disjoint slices."""
        return SoftmaxLossGrad(self.loss + other.loss, self.grad_coef + other.grad_coef,
                               self.grad_intercept + other.grad_intercept,
                               self.weight + other.weight, self.count + other.count)

    @staticmethod
    def empty(n_classes: int, d: int) -> SoftmaxLossGrad:
        """The sums over no rows (the neutral element of ``merge``)."""
        return SoftmaxLossGrad(0.0, np.zeros((n_classes, d)), np.zeros(n_classes), 0.0, 0)


def softmax_residuals(Z: np.ndarray, yi: np.ndarray, s: np.ndarray
                      ) -> tuple[float, np.ndarray]:
    """The weighted log-loss of margins ``Z`` (n, K) for classes ``yi`` and row weights
    ``s``, and the residuals ``R = s·(softmax(Z) − onehot(yi))`` whose products with the
    features give the gradient (``Z`` is left unchanged)."""
    lse = logsumexp_rows(Z)
    rows = np.arange(Z.shape[0])
    R = np.exp(Z - lse[:, None])
    R[rows, yi] -= 1.0
    R *= s[:, None]
    return float(s @ (lse - Z[rows, yi])), R


def block_softmax_loss_grad(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    coef: np.ndarray,
    intercept: np.ndarray,
    class_weights: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> SoftmaxLossGrad:
    """Weighted softmax log-loss and gradient sums of one block at ``(coef, intercept)``.

    ``coef`` is (K, d), ``intercept`` (K,); ``keep`` (a boolean mask) restricts the
    sums to a mini-batch. Two matrix products per block: ``X @ coef.T`` and ``R.T @ X``.
    """
    K, d = coef.shape
    if keep is not None:
        X, y = X[keep], y[keep]
        w = None if w is None else w[keep]
    n = X.shape[0]
    if n == 0:
        return SoftmaxLossGrad.empty(K, d)
    yi = class_indices(y)
    s = effective_weights(y, w, class_weights)
    loss, R = softmax_residuals(X @ coef.T + intercept, yi, s)
    return SoftmaxLossGrad(
        loss=loss,
        grad_coef=R.T @ X,
        grad_intercept=R.sum(axis=0),
        weight=float(s.sum()),
        count=int(n),
    )


# -------------------------------------------------- θ <-> (W, b) in original units
def theta_to_original(scaling: Scaling, theta: np.ndarray, n_classes: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``(W (K, d), b (K,))`` in original units for the optimiser's flat θ."""
    d = scaling.mean.shape[0]
    T = theta.reshape(n_classes, scaling.n_params)
    W = T[:, :d] * scaling.inv_scale
    b = T[:, d] - W @ scaling.mean if scaling.fit_intercept else np.zeros(n_classes)
    return W, b


def original_to_theta(scaling: Scaling, coef: np.ndarray, intercept: np.ndarray
                      ) -> np.ndarray:
    """The flat θ of original-unit ``(W, b)`` (the inverse of :func:`theta_to_original`)."""
    T = coef * scaling.scale
    if scaling.fit_intercept:
        T = np.hstack([T, (intercept + coef @ scaling.mean)[:, None]])
    return np.ascontiguousarray(T).ravel()


def gradient_to_theta(scaling: Scaling, grad_coef: np.ndarray, grad_intercept: np.ndarray
                      ) -> np.ndarray:
    """Chain rule per class row (as :meth:`Scaling.gradient_to_theta`), flattened."""
    G = (grad_coef - grad_intercept[:, None] * scaling.mean) * scaling.inv_scale
    if scaling.fit_intercept:
        G = np.hstack([G, grad_intercept[:, None]])
    return np.ascontiguousarray(G).ravel()


def penalty_mask(n_classes: int, d: int, fit_intercept: bool) -> np.ndarray:
    """1 for every coefficient of θ, 0 for the intercepts (never penalised)."""
    row = np.append(np.ones(d), 0.0) if fit_intercept else np.ones(d)
    return np.tile(row, n_classes)


def softmax_objective(sums: SoftmaxLossGrad, theta: np.ndarray, scaling: Scaling,
                      l2: float) -> tuple[float, np.ndarray]:
    """Mean weighted log loss plus ``l2/2 · |θ_W|²`` and its gradient with respect to θ,
    from the sums of one pass evaluated at :func:`theta_to_original` of ``theta``."""
    K = sums.grad_intercept.shape[0]
    value = sums.loss / sums.weight
    grad = gradient_to_theta(scaling, sums.grad_coef / sums.weight,
                             sums.grad_intercept / sums.weight)
    if l2 > 0:
        mask = penalty_mask(K, scaling.mean.shape[0], scaling.fit_intercept)
        theta_w = theta * mask
        value += 0.5 * l2 * float(theta_w @ theta_w)
        grad += l2 * theta_w
    return value, grad


def balanced_weights(class_totals: np.ndarray) -> np.ndarray:
    """``class_weight="balanced"`` for K classes: ``total / (K * total_of_class)``
    (scikit-learn's rule; with K = 2 it is :func:`~rddml.linear.kernels.balanced_class_weights`)."""
    totals = np.asarray(class_totals, dtype=np.float64)
    return float(totals.sum()) / (totals.shape[0] * totals)


# ------------------------------------------------------------------- metrics
@dataclass
class MultiEvalStats:
    """Weighted K×K confusion counts (rows: true class, columns: predicted), log-loss
    sum, total weight, and the invalid labels met (outside the model's classes)."""

    confusion: np.ndarray
    loss: float
    weight: float
    bad: tuple[float, ...] = field(default=())
    n_bad: int = 0

    def merge(self, other: MultiEvalStats) -> MultiEvalStats:
        """Sums over two disjoint slices."""
        bad = tuple(sorted(set(self.bad) | set(other.bad)))[:MAX_BAD_LABELS]
        return MultiEvalStats(self.confusion + other.confusion, self.loss + other.loss,
                              self.weight + other.weight, bad, self.n_bad + other.n_bad)

    @staticmethod
    def empty(n_classes: int) -> MultiEvalStats:
        return MultiEvalStats(np.zeros((n_classes, n_classes)), 0.0, 0.0)


def block_multi_eval(X: np.ndarray, y: np.ndarray, w: np.ndarray | None, coef: np.ndarray,
                     intercept: np.ndarray) -> tuple[MultiEvalStats, list[ScoreCounts]]:
    """Confusion counts (predicted class = argmax), log loss and, per class k, the
    one-vs-rest score counts of P(class k) of one block. Rows whose label is not one of
    the K classes are counted as invalid and left out."""
    K = coef.shape[0]
    ok = valid_labels(y) & (y < K)
    bad_values = np.unique(y[~ok])
    if not ok.all():
        X, y = X[ok], y[ok]
        w = None if w is None else w[ok]
    n = y.shape[0]
    s = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    yi = class_indices(y)
    Z = X @ coef.T + intercept
    lse = logsumexp_rows(Z) if n else np.zeros(0)
    P = np.exp(Z - lse[:, None])
    pred = np.argmax(Z, axis=1) if n else np.zeros(0, dtype=np.int64)
    confusion = np.bincount(yi * K + pred, weights=s, minlength=K * K).reshape(K, K)
    stats = MultiEvalStats(confusion, float(s @ (lse - Z[np.arange(n), yi])), float(s.sum()),
                           tuple(bad_values[:MAX_BAD_LABELS].tolist()), int((~ok).sum()))
    counts = [block_score_counts(P[:, k], (yi == k).astype(np.float64), s) for k in range(K)]
    return stats, counts


def multiclass_metrics(stats: MultiEvalStats, aucs: list[float | None]) -> dict[str, object]:
    """Accuracy, log loss, macro and weighted precision / recall / F1, per-class figures,
    the confusion matrix and one-vs-rest AUCs, with scikit-learn's definitions.

    As scikit-learn's ``precision_recall_fscore_support`` (default ``labels``), the
    averages run over the classes present in the true or the predicted labels; an
    undefined ratio is 0 (``zero_division=0``); ``weighted`` weighs by each class's
    (row-weighted) support. ``auc_macro`` averages the defined one-vs-rest AUCs.
    """
    C = stats.confusion
    total = stats.weight
    tp = np.diag(C)
    actual = C.sum(axis=1)
    predicted = C.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = actual + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (actual > 0) | (predicted > 0)
    support = actual[present]

    def averaged(values: np.ndarray) -> tuple[float, float]:
        if not present.any():
            return 0.0, 0.0
        macro = float(values[present].mean())
        weighted = float(values[present] @ support / support.sum()) if support.sum() > 0 else 0.0
        return macro, weighted

    (p_macro, p_weighted), (r_macro, r_weighted), (f_macro, f_weighted) = (
        averaged(precision), averaged(recall), averaged(f1))
    cells: list[list[float]] | list[list[int]] = C.tolist()
    if np.all(np.round(C) == C):
        cells = C.astype(np.int64).tolist()
    defined = [a for a in aucs if a is not None]
    return {
        "accuracy": float(tp.sum() / total) if total > 0 else 0.0,
        "log_loss": stats.loss / total if total > 0 else 0.0,
        "precision_macro": p_macro, "recall_macro": r_macro, "f1_macro": f_macro,
        "precision_weighted": p_weighted, "recall_weighted": r_weighted,
        "f1_weighted": f_weighted,
        "precision_per_class": precision.tolist(), "recall_per_class": recall.tolist(),
        "f1_per_class": f1.tolist(), "support_per_class": actual.tolist(),
        "confusion_matrix": cells,
        "auc_ovr": aucs,
        "auc_macro": float(np.mean(defined)) if defined else None,
        "weight": total,
    }
