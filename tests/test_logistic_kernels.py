"""NumPy-only tests of the logistic-regression math and driver-side solvers (no Spark).

References are independent of the code under test: central finite differences,
closed forms written out with NumPy, and scikit-learn's metrics and solvers.
Objective mapping to scikit-learn: rddml minimises
``Σ s_i ℓ_i / Σ s_i + λ (α |w|_1 + (1 − α)/2 |w|²)``; scikit-learn minimises
``C Σ s_i ℓ_i + α |w|_1 + (1 − α)/2 |w|²``; dividing the latter by ``C Σ s_i`` shows
the two have the same minimiser when ``C = 1 / (λ Σ s_i)``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.utils.class_weight import compute_class_weight

from rddml.engine.census import LabelCensus, block_label_census
from rddml.errors import ConvergenceError
from rddml.linear.kernels import (
    LossGrad,
    Scaling,
    auc_bucket_edges,
    auc_from_partials,
    auc_partial,
    balanced_class_weights,
    block_eval_stats,
    block_loss_grad,
    block_score_counts,
    classification_metrics,
    lbfgs_direction,
    log_loss_terms,
    penalty_mask,
    pooled_mean_std,
    pseudo_gradient,
    sigmoid,
    smooth_objective,
    soft_threshold,
    split_by_bucket,
)
from rddml.linear.solvers import gradient_descent, lbfgs, owlqn

# The write-up's printed loss history (first and last of 11 iterations).
WRITEUP_FIRST = 0.7985616355198335
WRITEUP_LAST = 0.04591785644633872


def sklearn_logreg(C: float, l1_ratio: float = 0.0, **kwargs: Any) -> SkLogisticRegression:
    """scikit-learn's LogisticRegression for a penalty, across the 1.8 API change
    (``penalty`` deprecated in favour of ``l1_ratio`` and ``C=inf``)."""
    new_api = inspect.signature(SkLogisticRegression).parameters["penalty"].default == "deprecated"
    if new_api:
        return SkLogisticRegression(C=C, l1_ratio=l1_ratio, **kwargs)
    if np.inf == C:
        return SkLogisticRegression(penalty=None, **kwargs)
    penalty = "l2" if l1_ratio == 0 else ("l1" if l1_ratio == 1 else "elasticnet")
    extra = {"l1_ratio": l1_ratio} if penalty == "elasticnet" else {}
    return SkLogisticRegression(penalty=penalty, C=C, **extra, **kwargs)


@pytest.fixture(scope="module")
def writeup_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=10000, n_features=2, n_informative=2, n_redundant=0,
                               n_clusters_per_class=1, random_state=123)
    return X, y.astype(float)


@pytest.fixture(scope="module")
def noisy_data() -> tuple[np.ndarray, np.ndarray]:
    """Overlapping classes: the unpenalised optimum is finite and well conditioned."""
    X, y = make_classification(n_samples=1500, n_features=4, n_informative=3, n_redundant=0,
                               flip_y=0.1, class_sep=0.8, random_state=7)
    return X * np.array([1.0, 3.0, 0.5, 2.0]) + np.array([1.0, -2.0, 0.0, 5.0]), y.astype(float)


def objective_for(X: np.ndarray, y: np.ndarray, scaling: Scaling, l2: float = 0.0,
                  w: np.ndarray | None = None) -> Any:
    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = scaling.to_original(theta)
        return smooth_objective(block_loss_grad(X, y, w, coef, intercept), theta, scaling, l2)
    return fun


# ------------------------------------------------------------ elementwise
def test_sigmoid_is_finite_and_exact_at_extremes() -> None:
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = sigmoid(z)
    assert p[0] == 0.0 and p[-1] == 1.0 and p[3] == 0.5
    moderate = z[1:-1]
    np.testing.assert_allclose(p[1:-1], 1.0 / (1.0 + np.exp(-moderate)), rtol=1e-15)
    # Far in the left tail the stable form keeps relative precision: p ≈ e^z.
    assert sigmoid(np.array([-700.0]))[0] == pytest.approx(np.exp(-700.0), rel=1e-12)


def test_log_loss_terms_match_the_textbook_formula_and_stay_finite() -> None:
    z = np.linspace(-10, 10, 41)  # beyond that the textbook form itself loses digits
    for label in (0.0, 1.0):
        y = np.full_like(z, label)
        p = 1.0 / (1.0 + np.exp(-z))
        textbook = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        np.testing.assert_allclose(log_loss_terms(z, y), textbook, rtol=1e-9)
    # A confidently wrong prediction costs |z|, not inf (log(0) never happens).
    assert log_loss_terms(np.array([800.0]), np.array([0.0]))[0] == pytest.approx(800.0)
    assert log_loss_terms(np.array([-800.0]), np.array([1.0]))[0] == pytest.approx(800.0)


# -------------------------------------------------------- loss + gradient
def test_block_gradient_matches_central_finite_differences() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (rng.uniform(size=200) < 0.4).astype(float)
    w = rng.uniform(0.1, 2.0, size=200)
    coef, intercept = np.array([0.3, -0.7, 1.1]), -0.2
    cw = (0.5, 2.0)
    part = block_loss_grad(X, y, w, coef, intercept, cw)

    def loss(c: np.ndarray, b: float) -> float:
        return block_loss_grad(X, y, w, c, b, cw).loss

    h = 1e-6
    numeric = [(loss(coef + h * e, intercept) - loss(coef - h * e, intercept)) / (2 * h)
               for e in np.eye(3)]
    np.testing.assert_allclose(part.grad_coef, numeric, rtol=1e-6, atol=1e-6)
    numeric_b = (loss(coef, intercept + h) - loss(coef, intercept - h)) / (2 * h)
    assert part.grad_intercept == pytest.approx(numeric_b, rel=1e-6, abs=1e-6)
    assert part.weight == pytest.approx(float((w * np.where(y > 0.5, 2.0, 0.5)).sum()))


def test_loss_grad_sums_of_split_blocks_equal_the_whole() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(101, 2)), (rng.uniform(size=101) < 0.5).astype(float)
    coef = np.array([0.5, -1.0])
    whole = block_loss_grad(X, y, None, coef, 0.3)
    parts = LossGrad.empty(2)
    for lo, hi in ((0, 10), (10, 10), (10, 101)):
        parts = parts.merge(block_loss_grad(X[lo:hi], y[lo:hi], None, coef, 0.3))
    assert parts.count == 101 and parts.weight == 101.0
    assert parts.loss == pytest.approx(whole.loss, rel=1e-13)
    np.testing.assert_allclose(parts.grad_coef, whole.grad_coef, rtol=1e-12)


def test_mini_batch_mask_restricts_the_sums() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(50, 2)), (rng.uniform(size=50) < 0.5).astype(float)
    keep = rng.uniform(size=50) < 0.3
    masked = block_loss_grad(X, y, None, np.ones(2), 0.0, keep=keep)
    direct = block_loss_grad(X[keep], y[keep], None, np.ones(2), 0.0)
    assert masked.count == keep.sum() and masked.loss == direct.loss


# ----------------------------------------------------- feature statistics
def test_class_moments_merge_to_numpy_weighted_statistics() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(loc=[5.0, -3.0], scale=[2.0, 0.1], size=(300, 2)) + 1e6  # large offset
    y = (rng.uniform(size=300) < 0.3).astype(float)
    w = rng.uniform(0.5, 1.5, size=300)
    census = LabelCensus.empty(2)
    for lo, hi in ((0, 7), (7, 150), (150, 300)):
        census = census.merge(block_label_census(X[lo:hi], y[lo:hi], w[lo:hi]))
    merged = census.class_moments(2)
    assert merged.count.tolist() == [int((y == 0).sum()), int((y == 1).sum())]
    cw = (1.0, 3.0)
    mean, std = pooled_mean_std(merged, cw)
    s = w * np.where(y > 0.5, cw[1], cw[0])
    ref_mean = s @ X / s.sum()
    # Spark's Summarizer: unbiased weighted variance M2 / (W - ΣW²/W).
    ref_var = s @ (X - ref_mean) ** 2 / (s.sum() - (s @ s) / s.sum())
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-14)
    np.testing.assert_allclose(std, np.sqrt(ref_var), rtol=1e-8)


def test_balanced_class_weights_match_scikit_learn() -> None:
    y = np.array([0] * 30 + [1] * 10)
    ours = balanced_class_weights(np.array([30, 10]))
    np.testing.assert_allclose(ours, compute_class_weight("balanced", classes=np.array([0, 1]),
                                                          y=y))
    # With row weights the classes' weighted totals play the counts' part.
    w = np.linspace(0.5, 2.0, 40)
    totals = np.array([w[:30].sum(), w[30:].sum()])
    c0, c1 = balanced_class_weights(totals)
    assert c0 * totals[0] == pytest.approx(c1 * totals[1]) == pytest.approx(w.sum() / 2)


# ------------------------------------------------------------ scaling
def test_scaling_round_trip_and_chain_rule() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(loc=[3.0, -1.0, 7.0], scale=[2.0, 0.5, 1.0], size=(120, 3))
    X[:, 2] = 7.0  # a constant feature is ignored when there is an intercept
    y = (rng.uniform(size=120) < 0.5).astype(float)
    mean, std = X.mean(axis=0), X.std(axis=0, ddof=1)
    scaling = Scaling.from_std(mean, std, fit_intercept=True)
    theta = np.array([0.4, -0.8, 0.0, 0.25])
    coef, intercept = scaling.to_original(theta)
    assert coef[2] == 0.0
    np.testing.assert_allclose(scaling.from_original(coef, intercept), theta, atol=1e-15)
    # The decision values are those of the standardised features.
    z_std = ((X[:, :2] - mean[:2]) / std[:2]) @ theta[:2] + theta[3]
    np.testing.assert_allclose(X @ coef + intercept, z_std, atol=1e-12)
    fun = objective_for(X, y, scaling, l2=0.3)
    _, grad = fun(theta)
    h = 1e-6
    numeric = [(fun(theta + h * e)[0] - fun(theta - h * e)[0]) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_scaling_without_intercept_does_not_centre() -> None:
    scaling = Scaling.from_std(np.array([5.0, 1.0]), np.array([2.0, 0.0]), fit_intercept=False)
    coef, intercept = scaling.to_original(np.array([1.0, 3.0]))
    assert intercept == 0.0
    np.testing.assert_allclose(coef, [0.5, 3.0])  # the constant feature stays unscaled


# ---------------------------------------------------------- L1 pieces
def test_soft_threshold_and_pseudo_gradient() -> None:
    np.testing.assert_allclose(soft_threshold(np.array([-3.0, -0.5, 0.0, 0.5, 3.0]), 1.0),
                               [-2.0, 0.0, 0.0, 0.0, 2.0])
    x = np.array([0.0, 0.0, 0.0, 2.0, -1.0])
    g = np.array([-3.0, 3.0, 0.5, 0.5, 0.5])
    l1 = np.ones(5)
    # At 0: descend right if g + l1 < 0, left if g - l1 > 0, else stay (0).
    np.testing.assert_allclose(pseudo_gradient(x, g, l1), [-2.0, 2.0, 0.0, 1.5, -0.5])
    np.testing.assert_allclose(penalty_mask(2, True), [1.0, 1.0, 0.0])


def test_lbfgs_direction_satisfies_the_secant_condition() -> None:
    s = np.array([1.0, 0.5])
    y = np.array([2.0, 0.25])
    # With one stored pair, H·y = s exactly, so the direction for gradient y is −s.
    np.testing.assert_allclose(lbfgs_direction(y, [s], [y]), -s, rtol=1e-14)
    np.testing.assert_allclose(lbfgs_direction(np.array([1.0, -2.0]), [], []), [-1.0, 2.0])


# ------------------------------------------------------------- solvers
def test_writeup_gd_in_double_precision(writeup_data: Any) -> None:
    X, y = writeup_data
    fun = objective_for(X, y, Scaling.identity(2, True))
    result = gradient_descent(fun, np.array([0.1, 0.1, 0.1]), step=3.0, max_iter=11, tol=0.0)
    assert len(result.history) == 11 and result.n_iter == 11 and not result.converged
    # The write-up's sigmoid rounds through float32; in double precision the figures
    # differ by 1.3e-9 (first) and 8.7e-10 (last) — see the float32 test below.
    assert result.history[0] == pytest.approx(WRITEUP_FIRST, abs=5e-9)
    assert result.history[-1] == pytest.approx(WRITEUP_LAST, abs=5e-9)
    coef, intercept = result.theta[:2], result.theta[2]
    assert np.mean((X @ coef + intercept > 0) == (y == 1)) == 0.9945


def test_writeup_figures_are_explained_by_its_float32_sigmoid(writeup_data: Any) -> None:
    """The write-up's Scala ``1 / (1 + math.exp(-x).toFloat)`` is float32 arithmetic;
    emulating it reproduces the printed losses to 1e-14, which is why the double-precision
    fit is held to the printed figures within 5e-9 only."""
    X, y = writeup_data
    Xb = np.column_stack([np.ones(len(X)), X])
    beta = np.full(3, 0.1)
    losses = []
    f32 = np.float32
    for _ in range(11):
        p = (f32(1) / (f32(1) + np.exp(-(Xb @ beta)).astype(f32))).astype(np.float64)
        losses.append(float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))))
        beta = beta - 3.0 * Xb.T @ (p - y) / len(y)
    assert losses[0] == pytest.approx(WRITEUP_FIRST, abs=1e-14)
    assert losses[-1] == pytest.approx(WRITEUP_LAST, abs=1e-14)


def test_gd_raises_naming_the_iteration_when_it_diverges(noisy_data: Any) -> None:
    X, y = noisy_data
    fun = objective_for(X, y, Scaling.identity(4, True))
    with pytest.raises(ConvergenceError, match=r"iteration \d+.*step_size.*standardize=True"):
        gradient_descent(fun, np.zeros(5), step=50.0, max_iter=200, tol=0.0)


def test_non_finite_objective_stops_gd_naming_the_iteration(noisy_data: Any) -> None:
    X, y = noisy_data
    fun = objective_for(X, y, Scaling.identity(4, True))
    # A step of 1e308 sends the coefficients to ±inf within two updates.
    with np.errstate(all="ignore"), pytest.raises(
        ConvergenceError,
        match=r"diverged at iteration [12] with step_size=1e\+308: .*(non-finite|became)",
    ):
        gradient_descent(fun, np.zeros(5), step=1e308, max_iter=10, tol=0.0)


def test_gd_resting_at_the_optimum_is_not_divergence(writeup_data: Any) -> None:
    """With tol=0, GD keeps iterating at the optimum, where rounding alone moves the
    objective up and down by a few ulps: that must not be reported as divergence."""
    X, y = writeup_data
    fun = objective_for(X, y, Scaling.identity(2, True))
    optimum = lbfgs(fun, np.zeros(3), max_iter=200, tol=1e-10)
    result = gradient_descent(fun, optimum.theta, step=3.0, max_iter=30, tol=0.0)
    assert result.n_iter == 30
    assert max(result.history) - min(result.history) < 1e-12


def test_lbfgs_reaches_the_scikit_learn_optimum(noisy_data: Any) -> None:
    X, y = noisy_data
    lam = 0.01
    sk = sklearn_logreg(C=1.0 / (lam * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    result = lbfgs(objective_for(X, y, Scaling.identity(4, True), l2=lam), np.zeros(5),
                   max_iter=500, tol=1e-9)
    assert result.converged
    np.testing.assert_allclose(result.theta[:4], sk.coef_[0], atol=1e-5)
    assert result.theta[4] == pytest.approx(sk.intercept_[0], abs=1e-5)


def test_owlqn_gives_exact_zeros_where_scikit_learn_does() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(800, 6))
    truth = np.array([2.0, -1.5, 0.0, 0.0, 0.0, 0.0])
    y = (rng.uniform(size=800) < sigmoid(X @ truth + 0.3)).astype(float)
    lam = 0.05
    sk = sklearn_logreg(C=1.0 / (lam * len(y)), l1_ratio=1.0, solver="saga", tol=1e-10,
                        max_iter=50_000).fit(X, y)
    l1 = lam * penalty_mask(6, True)
    result = owlqn(objective_for(X, y, Scaling.identity(6, True)), np.zeros(7), l1,
                   max_iter=500, tol=1e-10)
    assert (result.theta[:6] == 0).tolist() == (sk.coef_[0] == 0).tolist()
    assert (result.theta[:6] == 0).sum() >= 3
    np.testing.assert_allclose(result.theta[:6], sk.coef_[0], atol=1e-4)
    assert result.theta[6] == pytest.approx(sk.intercept_[0], abs=1e-4)


# ------------------------------------------------------------- metrics
def _tied_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(size=n), 2)  # many exact ties
    p[:20] = 0.0
    p[20:40] = 1.0
    y = (rng.uniform(size=n) < p * 0.8 + 0.1).astype(float)
    w = rng.uniform(0.2, 3.0, size=n)
    return p, y, w


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_buckets", [1, 3, 16])
def test_auc_from_split_and_bucketed_counts_matches_scikit_learn(weighted: bool,
                                                                 n_buckets: int) -> None:
    p, y, w = _tied_scores(2000, seed=n_buckets)
    weights = w if weighted else None
    edges = auc_bucket_edges(n_buckets)
    # Blocks as different partitions would see them; buckets merged by key.
    by_bucket: dict[int, Any] = {}
    for lo, hi in ((0, 333), (333, 1000), (1000, 2000)):
        counts = block_score_counts(p[lo:hi], y[lo:hi], None if w is None else
                                    (weights[lo:hi] if weights is not None else None))
        for key, part in split_by_bucket(counts, edges):
            by_bucket[key] = part if key not in by_bucket else by_bucket[key].merge(part)
    auc = auc_from_partials([auc_partial(by_bucket[k]) for k in sorted(by_bucket)])
    assert auc == pytest.approx(roc_auc_score(y, p, sample_weight=weights), abs=1e-12)


def test_auc_is_none_for_a_single_class() -> None:
    counts = block_score_counts(np.array([0.2, 0.7]), np.array([1.0, 1.0]), None)
    assert auc_from_partials([auc_partial(counts)]) is None


@pytest.mark.parametrize("weighted", [False, True])
def test_classification_metrics_match_scikit_learn(weighted: bool) -> None:
    p, y, w = _tied_scores(500, seed=9)
    p = np.clip(p, 1e-3, 1 - 1e-3)  # log_loss from p needs p away from 0 and 1
    z = np.log(p / (1 - p))
    weights = w if weighted else None
    stats = block_eval_stats(z[:200], y[:200], None if weights is None else weights[:200], 0.5)
    stats = stats.merge(block_eval_stats(z[200:], y[200:],
                                         None if weights is None else weights[200:], 0.5))
    got = classification_metrics(stats, None)
    pred = (sigmoid(z) > 0.5).astype(float)
    kw = {"sample_weight": weights}
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred, **kw), abs=1e-12)
    assert got["log_loss"] == pytest.approx(log_loss(y, sigmoid(z), **kw), abs=1e-9)
    assert got["precision"] == pytest.approx(precision_score(y, pred, **kw), abs=1e-12)
    assert got["recall"] == pytest.approx(recall_score(y, pred, **kw), abs=1e-12)
    assert got["f1"] == pytest.approx(f1_score(y, pred, **kw), abs=1e-12)
    np.testing.assert_allclose(got["confusion_matrix"], confusion_matrix(y, pred, **kw),
                               rtol=1e-12)
    if not weighted:
        assert all(isinstance(c, int) for row in got["confusion_matrix"] for c in row)
