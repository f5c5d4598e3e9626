"""Logistic-regression variants: time to reach the optimum's log loss, and seconds per pass.

The target is the unregularised optimum's mean log loss (scikit-learn lbfgs run to
tol=1e-12) plus 1e-4. Every variant's objective is recomputed with the same NumPy
formula from the coefficients it returns, so no library's own bookkeeping is trusted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from rddml.bench.kmeans_bench import cached_records
from rddml.engine.blocks import BlockDataset


def mean_log_loss(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float) -> float:
    """Mean log loss of a linear model, computed stably (log1p(exp(−|z|)) form)."""
    z = X @ coef + intercept
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def optimum(X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
    """The unregularised optimum by scikit-learn lbfgs, to tight tolerance."""
    from sklearn.linear_model import LogisticRegression as SkLR

    model = SkLR(penalty=None, solver="lbfgs", tol=1e-12, max_iter=10_000).fit(X, y)
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    return mean_log_loss(X, y, coef, intercept), coef, intercept


# ----------------------------------------------------- the write-up's per-record GD
def _record_grad_loss(
    record: tuple[list[float], float], *, params: list[float]
) -> tuple[list[float], float, int]:
    xs, label = record
    z = params[0] + sum(b * x for b, x in zip(params[1:], xs))
    p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    p = min(max(p, 1e-15), 1 - 1e-15)
    grad = [(p - label) * x for x in [1.0, *xs]]
    loss = -(label * math.log(p) + (1 - label) * math.log(1 - p))
    return grad, loss, 1


def _sum_grad_loss(
    a: tuple[list[float], float, int], b: tuple[list[float], float, int]
) -> tuple[list[float], float, int]:
    return [g1 + g2 for g1, g2 in zip(a[0], b[0])], a[1] + b[1], a[2] + b[2]


def per_record_gd_step(records: Any, params: np.ndarray, step: float) -> np.ndarray:
    """One iteration of the write-up's GD: map every record to (gradient, loss, 1), reduce."""
    grad, _, count = records.map(partial(_record_grad_loss, params=params.tolist())).reduce(
        _sum_grad_loss)
    return params - step * np.asarray(grad) / count


def _block_records(block: Any, _: None) -> list[tuple[list[float], float]]:
    return list(zip(block.X.tolist(), block.y.tolist()))


def per_record_rdd(ds: BlockDataset) -> Any:
    """The data as an RDD of cached (features, label) tuples."""
    return cached_records(ds, _block_records)


# --------------------------------------------------------------------- fit wrappers
FitResult = tuple[np.ndarray, float]


def fit_rddml(ds: BlockDataset, optimizer: str, max_iter: int, *, step: float = 1.0,
              standardize: bool = True) -> FitResult:
    from rddml import LogisticRegression

    lr = LogisticRegression(optimizer=optimizer, max_iter=max_iter, tol=0.0, step_size=step,
                            standardize=standardize).fit(ds)
    return lr.coef_, float(lr.intercept_)


def fit_ml(df: Any, max_iter: int) -> FitResult:
    from pyspark.ml.classification import LogisticRegression as MLLR

    model = MLLR(maxIter=max_iter, regParam=0.0, tol=0.0, standardization=True,
                 featuresCol="features", labelCol="label").fit(df)
    return np.asarray(model.coefficients.toArray()), float(model.intercept)


def ml_fit_reported(df: Any, max_iter: int) -> tuple[float, int]:
    """Wall time of a pyspark.ml fit and the iterations its summary reports
    (``summary.totalIterations``: L-BFGS may stop before ``maxIter`` even at tol=0)."""
    from pyspark.ml.classification import LogisticRegression as MLLR

    t0 = time.perf_counter()
    model = MLLR(maxIter=max_iter, regParam=0.0, tol=0.0, standardization=True,
                 featuresCol="features", labelCol="label").fit(df)
    seconds = time.perf_counter() - t0
    return seconds, int(model.summary.totalIterations)


def ml_pass_seconds(df: Any, low: int, high: int) -> float:
    """pyspark.ml's seconds per L-BFGS iteration: (t(high) − t(low)) over the difference of
    the iterations the two fits report (one data pass per iteration, line search aside)."""
    t_low, n_low = ml_fit_reported(df, low)
    t_high, n_high = ml_fit_reported(df, high)
    if n_high <= n_low:
        raise RuntimeError(f"pyspark.ml fits at maxIter {low} and {high} reported {n_low} "
                           f"and {n_high} iterations: no per-iteration figure")
    return (t_high - t_low) / (n_high - n_low)


def rddml_pass_seconds(ds: BlockDataset, low: int, high: int, kernels: str | None = None
                       ) -> float:
    """rddml's seconds per pass by the same method: two L-BFGS fits, their time difference
    over the difference of the passes they report (``n_passes_``)."""
    from rddml import LogisticRegression

    def fit(max_iter: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        lr = LogisticRegression(max_iter=max_iter, tol=0.0, kernels=kernels).fit(ds)
        return time.perf_counter() - t0, int(lr.n_passes_)

    t_low, n_low = fit(low)
    t_high, n_high = fit(high)
    if n_high <= n_low:
        raise RuntimeError(f"rddml fits at max_iter {low} and {high} reported {n_low} and "
                           f"{n_high} passes: no per-pass figure")
    return (t_high - t_low) / (n_high - n_low)


def fit_sklearn(X: np.ndarray, y: np.ndarray, max_iter: int, threads: int) -> FitResult:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression as SkLR
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SkLR(penalty=None, solver="lbfgs", tol=0.0, max_iter=max_iter).fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def smallest_budget(
    fit: Callable[[int], FitResult], loss: Callable[[FitResult], float], target: float,
    max_budget: int = 512,
) -> tuple[int | None, float]:
    """The smallest iteration budget whose fit reaches ``target`` (None if ``max_budget``
    does not), found by doubling then bisection (the loss falls with the budget)."""
    cache: dict[int, float] = {}

    def value(b: int) -> float:
        if b not in cache:
            cache[b] = loss(fit(b))
        return cache[b]

    hi = 1
    while value(hi) > target:
        if hi >= max_budget:
            return None, value(hi)
        hi = min(2 * hi, max_budget)
    lo = hi // 2  # value(lo) > target, or lo == 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if value(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi, value(hi)


def iterations_to_target(history: Sequence[float], target: float) -> int | None:
    """Updates needed until the objective is ≤ target, from a loss history whose entry i
    is the objective at the parameters before update i + 1."""
    for i, value in enumerate(history):
        if value <= target:
            return i
    return None


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
