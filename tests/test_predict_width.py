"""predict with rows of another width than the model's: a clear error on the driver,
before the lazy transformation is returned (RDD, DataFrame, dataset), for both
estimators; rows of another width further on are named by the tasks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.linalg import Vectors

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.errors import DataValidationError

CENTRES = np.array([[0.0, 0.0], [10.0, 10.0]])


@pytest.fixture(scope="module")
def kmeans(sc: Any) -> KMeans:
    rng = np.random.default_rng(0)
    X = np.concatenate([c + rng.normal(scale=0.5, size=(50, 2)) for c in CENTRES])
    return KMeans(k=2, seed=0).fit(sc.parallelize(X.tolist(), 2))


@pytest.fixture(scope="module")
def logistic(sc: Any) -> LogisticRegression:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] - X[:, 1] + rng.normal(scale=0.5, size=200) > 0).astype(float)
    return LogisticRegression(optimizer="lbfgs").fit(
        sc.parallelize(list(zip(X.tolist(), y.tolist())), 2))


WIDTH = r"The model was fitted on 2 features, but the {} has 3 features per row"


@pytest.mark.parametrize("which", ["kmeans", "logistic"])
def test_an_rdd_of_another_width_is_refused_on_the_driver(
        sc: Any, kmeans: KMeans, logistic: LogisticRegression, which: str) -> None:
    # The bug: a raw ValueError from an executor, when the result was first used.
    model = kmeans if which == "kmeans" else logistic
    for rows in ([[1.0, 2.0, 3.0]] * 4, [([1.0, 2.0, 3.0], 0.0)] * 4):
        with pytest.raises(DataValidationError, match=WIDTH.format("RDD")):
            model.predict(sc.parallelize(rows, 2))
    # The right width still predicts (and an empty RDD has nothing to check).
    assert len(model.predict(sc.parallelize([[1.0, 2.0]] * 4, 2)).collect()) == 4
    assert model.predict(sc.parallelize([], 2)).collect() == []


@pytest.mark.parametrize("which", ["kmeans", "logistic"])
def test_a_dataframe_of_another_width_is_refused_on_the_driver(
        spark: Any, kmeans: KMeans, logistic: LogisticRegression, which: str) -> None:
    model = kmeans if which == "kmeans" else logistic
    arrays = spark.createDataFrame([([1.0, 2.0, 3.0],)] * 4, ["features"])
    vectors = spark.createDataFrame([(Vectors.dense([1.0, 2.0, 3.0]),)] * 4, ["features"])
    columns = spark.createDataFrame([(1.0, 2.0, 3.0)] * 4, ["a", "b", "c"])
    assembled = VectorAssembler(inputCols=["a", "b", "c"], outputCol="features").transform(
        columns)   # a vector column with ML attributes: the width is in the schema
    for df in (arrays, vectors, assembled):
        with pytest.raises(DataValidationError, match=WIDTH.format("DataFrame")):
            model.predict(df)
    model.set_params(feature_cols=["a", "b", "c"])
    try:
        with pytest.raises(DataValidationError, match=WIDTH.format("DataFrame")):
            model.predict(columns)
    finally:
        model.set_params(feature_cols=None)
    good = spark.createDataFrame([([1.0, 2.0],)] * 4, ["features"])
    assert model.predict(good).count() == 4


def test_a_dataset_of_another_width_is_refused(sc: Any, kmeans: KMeans) -> None:
    ds = BlockDataset.from_rdd(sc.parallelize([[1.0, 2.0, 3.0]] * 4, 2))
    try:
        with pytest.raises(DataValidationError, match=WIDTH.format("dataset")):
            kmeans.predict(ds)
    finally:
        ds.unpersist()


@pytest.mark.parametrize("which", ["kmeans", "logistic"])
def test_a_later_row_of_another_width_is_named_by_the_task(
        sc: Any, kmeans: KMeans, logistic: LogisticRegression, which: str) -> None:
    model = kmeans if which == "kmeans" else logistic
    rows = [[1.0, 2.0]] * 5 + [[1.0, 2.0, 3.0]]
    result = model.predict(sc.parallelize(rows, 1))   # the first row is fine
    with pytest.raises(Exception, match=r"element 5 of partition 0 has 3 features, but the "
                                        r"model was fitted on 2"):
        result.collect()


def test_predictions_of_the_right_width_equal_numpy(sc: Any, kmeans: KMeans,
                                                    logistic: LogisticRegression) -> None:
    X = np.array([[0.5, -0.5], [9.0, 11.0], [-1.0, 1.0]])
    labels = kmeans.predict(sc.parallelize(X.tolist(), 2)).collect()
    nearest = ((X[:, None, :] - kmeans.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    assert labels == nearest.tolist()
    p = np.array(logistic.predict_proba(sc.parallelize(X.tolist(), 2)).collect())
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(X @ logistic.coef_ + logistic.intercept_))),
                               rtol=1e-12)
