"""Features too large for double precision: a clear error instead of a silent starting
point, while large but representable features still fit.

References: scikit-learn's L-BFGS returns zero coefficients with a ConvergenceWarning on
such data, pyspark.ml's fails in its line search (``init value should <= bound``);
rddml refuses, naming the cause and the remedy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rddml import LogisticRegression
from rddml.errors import ConvergenceError, DataValidationError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 2))
Y = (X[:, 0] - 0.5 * X[:, 1] + 0.3 * RNG.normal(size=200) > 0).astype(float)
Y3 = np.digitize(X[:, 0] + 0.3 * RNG.normal(size=200), [-0.5, 0.5]).astype(float)


def rdd(sc: Any, scale: float, labels: np.ndarray = Y) -> Any:
    return sc.parallelize(list(zip((X * scale).tolist(), labels.tolist())), 2)


@pytest.mark.parametrize("params", [
    {"optimizer": "lbfgs"},
    {"optimizer": "lbfgs", "init_coef": [0.1, 0.1]},   # the case that returned its start
    {"optimizer": "gd"},
    {"optimizer": "lbfgs", "reg_param": 0.1, "l1_ratio": 1.0},
])
def test_features_whose_squares_overflow_are_refused(sc: Any, params: dict[str, Any]) -> None:
    # The bug: zero (or the starting) coefficients, converged_=False and no warning.
    with pytest.raises(ConvergenceError, match=r"cannot continue at iteration 1: the gradient "
                                               r"is too large for double precision \(largest "
                                               r"component .*e\+\d{3}; its squared norm "
                                               r"overflows\)\. The features .* are too large"):
        LogisticRegression(max_iter=20, standardize=False, **params).fit(rdd(sc, 1e200))


def test_multinomial_features_whose_squares_overflow_are_refused(sc: Any) -> None:
    with pytest.raises(ConvergenceError, match=r"squared norm overflows"):
        LogisticRegression(optimizer="lbfgs", family="multinomial", standardize=False).fit(
            rdd(sc, 1e200, Y3))


@pytest.mark.parametrize("family, labels", [("binomial", Y), ("multinomial", Y3)])
def test_standardizing_features_whose_squares_overflow_is_refused(
        sc: Any, family: str, labels: np.ndarray) -> None:
    with pytest.raises(DataValidationError, match=r"standardize=True: the mean or standard "
                                                  r"deviation of feature\(s\) 0, 1 overflows "
                                                  r"double precision"):
        LogisticRegression(optimizer="lbfgs", standardize=True, family=family).fit(
            rdd(sc, 1e200, labels))


def test_large_but_representable_features_still_fit(sc: Any) -> None:
    # 1e100: squares are 1e200, finite. Standardised L-BFGS is scale-equivariant: the
    # coefficients are those of the unscaled data divided by the scale.
    plain = LogisticRegression(optimizer="lbfgs", standardize=True, tol=1e-10).fit(rdd(sc, 1.0))
    large = LogisticRegression(optimizer="lbfgs", standardize=True, tol=1e-10).fit(
        rdd(sc, 1e100))
    assert large.converged_
    np.testing.assert_allclose(large.coef_ * 1e100, plain.coef_, rtol=1e-6)
    np.testing.assert_allclose(large.intercept_, plain.intercept_, rtol=1e-6, atol=1e-9)
