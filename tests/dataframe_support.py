"""Data and helpers shared by the DataFrame-backend tests and the Spark Connect driver.

Not a test module: ``tests/connect_driver.py`` imports it in a subprocess that runs a
Spark Connect session, and ``tests/test_dataframe_backend.py`` /
``tests/test_connect.py`` import it with the classic session, so both sides build
exactly the same data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Explicit k-means init for the blobs below (rows 0, 1 and 2 of the data: distinct).
BLOB_CENTRES = np.array([[0.5, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
HEART_COLUMNS = ("source string, line bigint, age double, sex double, cp double, "
                 "trestbps double, chol double, fbs double, restecg double, thalach double, "
                 "exang double, oldpeak double, disease int")
_N = None
HEART_TRAIN = [
    ("t", 1, 40.0, 1.0, 1.0, 120.0, 200.0, 0.0, 0.0, 150.0, 0.0, 1.0, 0),
    ("t", 2, 50.0, 0.0, 2.0, 140.0, 0.0, 1.0, 1.0, _N, 1.0, -1.0, 1),
    ("t", 3, 60.0, 1.0, 4.0, _N, 300.0, _N, 0.0, 130.0, 0.0, 2.0, 1),
    ("t", 4, 70.0, 1.0, 4.0, 160.0, 250.0, 0.0, _N, 170.0, _N, 0.0, 0),
    ("t", 5, 45.0, 0.0, 2.0, 0.0, 220.0, 0.0, 1.0, 140.0, 1.0, 3.0, 1),
]
HEART_TEST = [
    ("s", 6, 55.0, 1.0, 3.0, _N, 0.0, 1.0, 2.0, _N, 0.0, -2.0, 1),
    ("s", 7, 80.0, 0.0, 1.0, 200.0, 400.0, 0.0, 0.0, 100.0, 1.0, 5.0, 0),
]


def blob_arrays(n: int = 600, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 3-D and positive row weights."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])
    X = means[rng.integers(0, 3, n)] + rng.normal(size=(n, 3))
    X[:3] = BLOB_CENTRES
    return X, rng.uniform(0.5, 2.0, n)


def blob_frame(spark: Any, partitions: int = 3) -> Any:
    """``blob_arrays`` as a DataFrame: ``features`` array, ``x0..x2`` and weight ``w``."""
    import pandas as pd

    X, w = blob_arrays()
    pdf = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "w": w})
    pdf["features"] = [row.tolist() for row in X]
    return spark.createDataFrame(pdf).repartition(partitions)


def labelled_arrays(n: int = 800, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two overlapping classes in 3-D (finite optimum), labels 0/1 and row weights."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    X = rng.normal(size=(n, 3)) * [1.0, 3.0, 0.5] + np.outer(y, [1.0, -2.0, 0.5]) + [0, 10, 0]
    return X, y, rng.uniform(0.5, 2.0, n)


def labelled_frame(spark: Any, partitions: int = 3) -> Any:
    """``labelled_arrays`` as a DataFrame with ``features``, ``label`` and ``w`` columns."""
    import pandas as pd

    X, y, w = labelled_arrays()
    pdf = pd.DataFrame({"label": y, "w": w})
    pdf["features"] = [row.tolist() for row in X]
    return spark.createDataFrame(pdf).repartition(partitions)


def fit_kmeans_dataframe(df: Any, **params: Any) -> Any:
    """Fit ``KMeans(**params)`` on the DataFrame backend (``backend="dataframe"``)."""
    from rddml import KMeans

    return KMeans(**{**params, "backend": "dataframe"}).fit(df)


def fit_logistic_dataframe(df: Any, **params: Any) -> Any:
    """Fit ``LogisticRegression(**params)`` on the DataFrame backend."""
    from rddml import LogisticRegression

    return LogisticRegression(**{**params, "backend": "dataframe"}).fit(df)


def assert_metrics_match_scikit_learn(got: dict[str, Any], y: np.ndarray, p: np.ndarray,
                                      w: np.ndarray, threshold: float = 0.5) -> None:
    """Every metric of :func:`rddml.linear.kernels.classification_metrics` against
    scikit-learn on the same probabilities and weights, to 1e-9."""
    import pytest
    import sklearn.metrics as skm

    pred = (p > threshold).astype(float)
    for name, ref in (("accuracy", skm.accuracy_score(y, pred, sample_weight=w)),
                      ("log_loss", skm.log_loss(y, p, sample_weight=w)),
                      ("auc", skm.roc_auc_score(y, p, sample_weight=w)),
                      ("precision", skm.precision_score(y, pred, sample_weight=w)),
                      ("recall", skm.recall_score(y, pred, sample_weight=w)),
                      ("f1", skm.f1_score(y, pred, sample_weight=w))):
        assert got[name] == pytest.approx(ref, abs=1e-9), name
    np.testing.assert_allclose(got["confusion_matrix"],
                               skm.confusion_matrix(y, pred, sample_weight=w), atol=1e-9)


def scalar_columns_frame(spark: Any, X: np.ndarray, extra: dict[str, np.ndarray],
                         partitions: int = 2) -> Any:
    """``X`` as numeric columns ``x0, x1, ...`` plus ``extra`` columns (for VectorAssembler)."""
    import pandas as pd

    pdf = pd.DataFrame({f"x{j}": X[:, j] for j in range(X.shape[1])})
    for name, values in extra.items():
        pdf[name] = values
    return spark.createDataFrame(pdf).repartition(partitions)
