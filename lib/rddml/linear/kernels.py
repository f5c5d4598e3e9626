"""NumPy-only logistic-regression math: loss, gradient, standardisation, L1 pieces, metrics.

Nothing here imports Spark: each function works on plain arrays (one block of rows, or
the driver's small vectors), so it can be tested alone and reused by any backend.

The objective, as in Spark MLlib::

    f(w, b) = sum_i s_i * logloss(y_i, x_i.w + b) / sum_i s_i
              + reg_param * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)

where ``s_i`` is the row weight times its class weight; the intercept ``b`` is never
penalised. The log loss is computed from the decision value ``z`` as
``log(1 + e^z) - y z`` with :func:`numpy.logaddexp`, exact for any ``z`` (no
``log(0)`` when the sigmoid rounds to 0 or 1).

Examples
--------
>>> import numpy as np
>>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([0.0, 0.0, 1.0])
>>> part = block_loss_grad(X, y, None, np.array([0.0]), 0.0)
>>> round(part.loss / part.weight, 6)  # log 2 at the origin
0.693147
>>> part.grad_coef.tolist(), part.grad_intercept  # Σ (p − y) x and Σ (p − y) at p = ½
([-0.5], 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rddml.errors import DataValidationError

if TYPE_CHECKING:
    from rddml.engine.census import ClassMoments


# ----------------------------------------------------------------- elementwise
def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-z)`` without overflow: ``e^-|z|`` never exceeds 1."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_loss_terms(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row log loss ``-(y log p + (1 - y) log(1 - p))`` with ``p = sigmoid(z)``,
    written as ``log(1 + e^z) - y z`` so it stays finite and exact for large ``|z|``."""
    return np.logaddexp(0.0, z) - y * z


def effective_weights(
    y: np.ndarray, w: np.ndarray | None, class_weights: tuple[float, float] | None
) -> np.ndarray:
    """Row weight times the weight of the row's class (all ones when neither is given)."""
    out = np.ones(y.shape[0]) if w is None else np.asarray(w, dtype=np.float64).copy()
    if class_weights is not None:
        out *= np.where(y > 0.5, class_weights[1], class_weights[0])
    return out


# ------------------------------------------------------------ loss + gradient
@dataclass
class LossGrad:
    """Weighted sums over a slice of rows; ``merge`` is associative and does not mutate.

    ``loss`` = Σ s_i ℓ_i, ``grad_coef`` = Σ s_i (p_i − y_i) x_i, ``grad_intercept`` =
    Σ s_i (p_i − y_i), ``weight`` = Σ s_i, ``count`` = number of rows.
    """

    loss: float
    grad_coef: np.ndarray
    grad_intercept: float
    weight: float
    count: int

    def merge(self, other: LossGrad) -> LossGrad:
        """Sums of two disjoint slices."""
        return LossGrad(
            self.loss + other.loss,
            self.grad_coef + other.grad_coef,
            self.grad_intercept + other.grad_intercept,
            self.weight + other.weight,
            self.count + other.count,
        )

    @staticmethod
    def empty(d: int) -> LossGrad:
        """The sums over no rows (the neutral element of ``merge``)."""
        return LossGrad(0.0, np.zeros(d), 0.0, 0.0, 0)


def block_loss_grad(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    coef: np.ndarray,
    intercept: float,
    class_weights: tuple[float, float] | None = None,
    keep: np.ndarray | None = None,
) -> LossGrad:
    """Weighted log-loss and gradient sums of one block at ``(coef, intercept)``.

    ``keep`` (a boolean mask) restricts the sums to a mini-batch. Two matrix-vector
    products per block: ``X @ coef`` and ``X.T @ r``. A float32 block runs them in single
    precision (``coef`` and ``r`` rounded to float32, so NumPy never widens the block into a
    float64 copy); the per-row terms and every sum across rows are float64, so only the
    two products round as float32 does, within one block.
    """
    if keep is not None:
        X, y = X[keep], y[keep]
        w = None if w is None else w[keep]
    if X.shape[0] == 0:
        return LossGrad.empty(X.shape[1])
    s = effective_weights(y, w, class_weights)
    single = X.dtype == np.float32
    z = (X @ coef.astype(np.float32)).astype(np.float64) if single else X @ coef
    z += intercept
    r = s * (sigmoid(z) - y)
    grad = (X.T @ r.astype(np.float32)).astype(np.float64) if single else X.T @ r
    return LossGrad(
        loss=float(s @ log_loss_terms(z, y)),
        grad_coef=grad,
        grad_intercept=float(r.sum()),
        weight=float(s.sum()),
        count=int(X.shape[0]),
    )


# --------------------------------------------------------- feature statistics
def check_standardization(mean: np.ndarray, std: np.ndarray) -> None:
    """Raise unless the standardisation statistics are finite: features whose squares
    overflow give an infinite (or NaN) variance, and scaling by it would turn every
    objective into NaN."""
    bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
    if bad.size:
        shown = ", ".join(str(int(j)) for j in bad[:10]) + (", ..." if bad.size > 10 else "")
        raise DataValidationError(
            f"standardize=True: the mean or standard deviation of feature(s) {shown} "
            f"overflows double precision (feature {int(bad[0])}: mean {mean[bad[0]]:.3g}, "
            f"standard deviation {std[bad[0]]:.3g}); their values are too large (|x| near "
            "1e154 or more, whose squares overflow). Rescale those features before fitting "
            "(divide each by a power of ten)."
        )


def pooled_mean_std(
    moments: ClassMoments, class_weights: tuple[float, ...] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and standard deviation of every feature over all classes (two, or
    K for :class:`~rddml.engine.census.LabelCensus` moments).

    Class weights multiply the row weights. The variance is the unbiased weighted
    estimate ``M2 / (W − ΣW²/W)`` that Spark's ``Summarizer`` (and so MLlib's
    ``standardization=True``) uses; 0 when that denominator is not positive.
    """
    n_classes = moments.weight.shape[0]
    c = np.ones(n_classes) if class_weights is None else np.asarray(class_weights,
                                                                    dtype=np.float64)
    w = moments.weight * c
    total = float(w.sum())
    if total <= 0:
        d = moments.mean.shape[1]
        return np.zeros(d), np.zeros(d)
    mean = (w @ moments.mean) / total
    m2 = c @ moments.m2 + w @ (moments.mean - mean) ** 2
    denom = total - float((moments.weight_sq * c * c).sum()) / total
    var = np.maximum(m2 / denom, 0.0) if denom > 0 else np.zeros_like(mean)
    return mean, np.sqrt(var)


def balanced_class_weights(class_totals: np.ndarray) -> tuple[float, float]:
    """``class_weight="balanced"``: ``total / (2 * total_of_class)``.

    Given row counts this is scikit-learn's classic rule; given the per-class sums of
    the row weights it is the weighted rule scikit-learn uses since 1.6, after which
    both classes carry the same total weight.
    """
    n = float(class_totals.sum())
    return (n / (2.0 * float(class_totals[0])), n / (2.0 * float(class_totals[1])))


# --------------------------------------------------------------- standardising
@dataclass(frozen=True)
class Scaling:
    """Map between the optimiser's parameters θ and coefficients in original units.

    With standardisation the optimiser works on ``x' = (x − μ) / σ``; the data is
    never rewritten: θ is turned into original-unit ``(coef, intercept)`` before each
    pass, and the pass's gradient is mapped back by the chain rule. θ holds the ``d``
    coefficients followed by the intercept when ``fit_intercept``.

    A feature with σ = 0 is ignored (its coefficient stays 0) when there is an
    intercept to absorb it, as Spark MLlib does; without an intercept it is left
    unscaled.
    """

    mean: np.ndarray
    scale: np.ndarray  # σ used for the map: the std, or 1 where the feature is unscaled
    inv_scale: np.ndarray  # 1/σ, or 0 for ignored constant features
    fit_intercept: bool

    @staticmethod
    def identity(d: int, fit_intercept: bool) -> Scaling:
        """No standardisation: θ is the original-unit coefficients (and intercept)."""
        return Scaling(np.zeros(d), np.ones(d), np.ones(d), fit_intercept)

    @staticmethod
    def from_std(mean: np.ndarray, std: np.ndarray, fit_intercept: bool) -> Scaling:
        """Standardisation by the given statistics (centred only with an intercept)."""
        constant = ~(std > 0)
        if fit_intercept:
            inv = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std))
            return Scaling(mean.copy(), np.where(constant, 0.0, std), inv, True)
        scale = np.where(constant, 1.0, std)
        return Scaling(np.zeros_like(mean), scale, 1.0 / scale, False)

    @property
    def n_params(self) -> int:
        return self.mean.shape[0] + (1 if self.fit_intercept else 0)

    def to_original(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """``(coef, intercept)`` in original units for the optimiser's θ."""
        d = self.mean.shape[0]
        coef = theta[:d] * self.inv_scale
        intercept = float(theta[d] - self.mean @ coef) if self.fit_intercept else 0.0
        return coef, intercept

    def from_original(self, coef: np.ndarray, intercept: float) -> np.ndarray:
        """θ for original-unit ``(coef, intercept)`` (the inverse of :meth:`to_original`)."""
        theta_w = coef * self.scale
        if not self.fit_intercept:
            return theta_w
        return np.append(theta_w, intercept + self.mean @ coef)

    def gradient_to_theta(self, grad_coef: np.ndarray, grad_intercept: float) -> np.ndarray:
        """Chain rule: ∂f/∂θ_j = (∂f/∂w_j − μ_j ∂f/∂b) / σ_j and ∂f/∂θ_b = ∂f/∂b."""
        g_w = (grad_coef - self.mean * grad_intercept) * self.inv_scale
        return np.append(g_w, grad_intercept) if self.fit_intercept else g_w


# ---------------------------------------------------------------- penalties
def penalty_mask(d: int, fit_intercept: bool) -> np.ndarray:
    """1 for the coefficients, 0 for the intercept (which is never penalised)."""
    return np.append(np.ones(d), 0.0) if fit_intercept else np.ones(d)


def smooth_objective(
    sums: LossGrad, theta: np.ndarray, scaling: Scaling, l2: float
) -> tuple[float, np.ndarray]:
    """Mean weighted log loss plus ``l2/2 · |θ_w|²`` and its gradient with respect to θ,
    from the sums of one pass evaluated at ``scaling.to_original(theta)``."""
    d = scaling.mean.shape[0]
    value = sums.loss / sums.weight
    grad = scaling.gradient_to_theta(sums.grad_coef / sums.weight,
                                     sums.grad_intercept / sums.weight)
    if l2 > 0:
        theta_w = theta[:d]
        value += 0.5 * l2 * float(theta_w @ theta_w)
        grad[:d] += l2 * theta_w
    return value, grad


def soft_threshold(x: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """The proximal map of ``t * |x|_1``: shrink towards 0 by ``t``, exactly 0 inside."""
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def pseudo_gradient(x: np.ndarray, g: np.ndarray, l1: np.ndarray) -> np.ndarray:
    """OWL-QN's pseudo-gradient of ``f(x) + Σ l1_i |x_i|`` (Andrew & Gao 2007).

    Away from 0 it is the gradient; at ``x_i = 0`` it is the one-sided derivative that
    points downhill, or 0 when neither side descends (0 is optimal for that coordinate).
    """
    pg = g + l1 * np.sign(x)
    at_zero = x == 0
    right = g + l1  # derivative moving to x_i > 0
    left = g - l1  # derivative moving to x_i < 0
    zero_pg = np.where(right < 0, right, np.where(left > 0, left, 0.0))
    return np.where(at_zero, zero_pg, pg)


def lbfgs_direction(
    grad: np.ndarray, s_hist: list[np.ndarray], y_hist: list[np.ndarray]
) -> np.ndarray:
    """``−H·grad`` by the L-BFGS two-loop recursion over the stored (s, y) pairs."""
    q = grad.copy()
    alphas = []
    for s, y in zip(reversed(s_hist), reversed(y_hist)):
        rho = 1.0 / float(y @ s)
        a = rho * float(s @ q)
        q -= a * y
        alphas.append((rho, a))
    if s_hist:
        s, y = s_hist[-1], y_hist[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y), (rho, a) in zip(zip(s_hist, y_hist), reversed(alphas)):
        b = rho * float(y @ q)
        q += (a - b) * s
    return -q


def project_orthant(x: np.ndarray, orthant: np.ndarray) -> np.ndarray:
    """Zero every coordinate whose sign left the chosen orthant (OWL-QN's projection)."""
    return np.where(np.sign(x) == orthant, x, 0.0)


# ------------------------------------------------------------------- metrics
@dataclass
class EvalStats:
    """Weighted confusion counts and log-loss sums of a slice of rows."""

    tn: float
    fp: float
    fn: float
    tp: float
    loss: float
    weight: float

    def merge(self, other: EvalStats) -> EvalStats:
        """Sums over two disjoint slices."""
        return EvalStats(self.tn + other.tn, self.fp + other.fp, self.fn + other.fn,
                         self.tp + other.tp, self.loss + other.loss, self.weight + other.weight)

    @staticmethod
    def empty() -> EvalStats:
        return EvalStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def block_eval_stats(
    z: np.ndarray, y: np.ndarray, w: np.ndarray | None, threshold: float
) -> EvalStats:
    """Confusion counts (predicted 1 when ``sigmoid(z) > threshold``) and log loss of a block."""
    s = np.ones(y.shape[0]) if w is None else w
    pred = sigmoid(z) > threshold
    pos = y > 0.5
    return EvalStats(
        tn=float(s[~pred & ~pos].sum()), fp=float(s[pred & ~pos].sum()),
        fn=float(s[~pred & pos].sum()), tp=float(s[pred & pos].sum()),
        loss=float(s @ log_loss_terms(z, y)), weight=float(s.sum()),
    )


@dataclass
class ScoreCounts:
    """Distinct scores in increasing order with the positive and negative weight at each.

    Exact: rows are grouped by their float64 score, so ties are ties exactly as
    scikit-learn's ``roc_auc_score`` sees them.
    """

    scores: np.ndarray
    pos: np.ndarray
    neg: np.ndarray

    def merge(self, other: ScoreCounts) -> ScoreCounts:
        """Union of two slices, ties combined."""
        return score_counts(
            np.concatenate([self.scores, other.scores]),
            np.concatenate([self.pos, other.pos]),
            np.concatenate([self.neg, other.neg]),
        )


def score_counts(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> ScoreCounts:
    """Group (score, positive weight, negative weight) triples by distinct score."""
    uniq, inverse = np.unique(scores, return_inverse=True)
    return ScoreCounts(
        uniq,
        np.bincount(inverse, weights=pos, minlength=uniq.size),
        np.bincount(inverse, weights=neg, minlength=uniq.size),
    )


def block_score_counts(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> ScoreCounts:
    """Per distinct probability of a block: the weight of positive and of negative rows."""
    s = np.ones(y.shape[0]) if w is None else w
    pos = y > 0.5
    return score_counts(p, np.where(pos, s, 0.0), np.where(pos, 0.0, s))


def auc_bucket_edges(n_buckets: int) -> np.ndarray:
    """Increasing score edges splitting [0, 1] into ``n_buckets`` ranges, denser near 0
    and 1 (uniform in the logit), so buckets of fitted probabilities are not too uneven."""
    if n_buckets <= 1:
        return np.zeros(0)
    return np.asarray(sigmoid(np.linspace(-8.0, 8.0, n_buckets - 1)))


def split_by_bucket(counts: ScoreCounts, edges: np.ndarray) -> list[tuple[int, ScoreCounts]]:
    """Cut sorted score counts into contiguous score ranges. A score always falls in one
    bucket, so ties are never split between buckets."""
    bucket = np.searchsorted(edges, counts.scores, side="right")
    cuts = np.flatnonzero(np.diff(bucket)) + 1
    out = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, bucket.size]):
        if hi > lo:
            out.append((int(bucket[lo]), ScoreCounts(counts.scores[lo:hi], counts.pos[lo:hi],
                                                     counts.neg[lo:hi])))
    return out


def auc_partial(counts: ScoreCounts) -> tuple[float, float, float]:
    """``(positive weight, negative weight, pairs)`` of one score range, where ``pairs``
    = Σ over (positive, negative) pairs inside the range of w⁺w⁻ · ([s⁺ > s⁻] + ½[s⁺ = s⁻])."""
    neg_below = np.cumsum(counts.neg) - counts.neg
    pairs = float(counts.pos @ (neg_below + 0.5 * counts.neg))
    return float(counts.pos.sum()), float(counts.neg.sum()), pairs


def auc_from_partials(partials: list[tuple[float, float, float]]) -> float | None:
    """Area under the ROC curve from :func:`auc_partial` results in increasing score
    order (the Mann–Whitney statistic, equal to the trapezoidal ROC area); None when
    one class is absent."""
    total_pos = total_neg = pairs = 0.0
    for pos, neg, inside in partials:
        # Every negative of an earlier (lower) range is below every positive here.
        pairs += inside + pos * total_neg
        total_pos += pos
        total_neg += neg
    if total_pos <= 0 or total_neg <= 0:
        return None
    return pairs / (total_pos * total_neg)


def classification_metrics(stats: EvalStats, auc: float | None) -> dict[str, object]:
    """Accuracy, log loss, AUC, precision, recall, F1 (positive class 1; 0 when undefined,
    as scikit-learn's ``zero_division`` default) and the confusion matrix
    ``[[tn, fp], [fn, tp]]`` (scikit-learn's layout)."""
    total = stats.weight
    precision = stats.tp / (stats.tp + stats.fp) if stats.tp + stats.fp > 0 else 0.0
    recall = stats.tp / (stats.tp + stats.fn) if stats.tp + stats.fn > 0 else 0.0
    f1 = 2 * stats.tp / (2 * stats.tp + stats.fp + stats.fn) if stats.tp > 0 else 0.0
    cells = [stats.tn, stats.fp, stats.fn, stats.tp]
    if all(float(c).is_integer() for c in cells):
        cells = [int(c) for c in cells]
    return {
        "accuracy": (stats.tp + stats.tn) / total if total > 0 else 0.0,
        "log_loss": stats.loss / total if total > 0 else 0.0,
        "auc": auc,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion_matrix": [[cells[0], cells[1]], [cells[2], cells[3]]],
        "weight": total,
    }
