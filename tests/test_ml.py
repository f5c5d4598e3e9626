"""rddml.ml: rddml's estimators as pyspark.ml stages, checked against pyspark.ml itself.

Small data (600 rows, 4 informative and 12 noise features; 600 points in 3 blobs), 2 folds:
the comparisons
with pyspark.ml's LogisticRegression use the same Pipeline, folds and evaluator, so any
difference comes from the fitted coefficients alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression as SparkLogisticRegression
from pyspark.ml.evaluation import (
    BinaryClassificationEvaluator,
    ClusteringEvaluator,
    MulticlassClassificationEvaluator,
)
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import DenseVector, VectorUDT
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit
from pyspark.sql import types as T

import rddml
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.ml import KMeans, KMeansModel, LogisticRegression, LogisticRegressionModel

FEATURES = [f"x{j}" for j in range(16)]
CENTRES = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 7.0]])
INIT = [[1.0, 1.0], [5.0, 0.0], [3.0, 6.0]]


def test_the_package_under_test_is_the_worktree() -> None:
    assert Path(rddml.__file__).resolve().parents[2] == Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def labelled(spark: Any) -> Any:
    # 4 informative features in different units, 12 pure noise: the lasso grid below has a
    # clear best regParam (0.01: it drops the noise, 0.1 drops signal too).
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 16))
    y = (rng.random(600) < 1 / (1 + np.exp(-(X[:, :4] @ [0.9, -0.3, 1.5, 0.5] - 0.5)))).astype(float)
    X[:, :4] = X[:, :4] * [1.0, 3.0, 0.5, 10.0] + [0, 1, 2, 50]
    rows = [(*map(float, x), float(t)) for x, t in zip(X, y)]
    df = spark.createDataFrame(rows, [*FEATURES, "label"]).repartition(2).cache()
    df.count()
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def fitted(labelled: Any) -> Any:
    """One fitted Pipeline(VectorAssembler, StandardScaler, rddml.ml LogisticRegression)."""
    return lr_pipeline(LogisticRegression(regParam=0.01)).fit(labelled)


@pytest.fixture(scope="module")
def blobs(spark: Any) -> Any:
    rng = np.random.default_rng(3)
    X = np.concatenate([c + rng.normal(scale=0.8, size=(200, 2)) for c in CENTRES])
    df = spark.createDataFrame([(float(a), float(b)) for a, b in X], ["a", "b"]).cache()
    df.count()
    yield df
    df.unpersist()


def lr_pipeline(lr: Any) -> Pipeline:
    return Pipeline(stages=[VectorAssembler(inputCols=FEATURES, outputCol="raw"),
                            StandardScaler(inputCol="raw", outputCol="features"), lr])


def kmeans_pipeline(km: Any) -> Pipeline:
    return Pipeline(stages=[VectorAssembler(inputCols=["a", "b"], outputCol="features"), km])


def probabilities(df: Any, col: str = "probability") -> np.ndarray:
    rows = df.select(vector_to_array(col).alias("v")).collect()
    return np.array([r["v"] for r in rows])


# ------------------------------------------------------------ params and API
def test_params_have_pyspark_ml_names_and_defaults(spark: Any) -> None:
    ours, spark_lr = LogisticRegression(), SparkLogisticRegression()
    for name in ("maxIter", "regParam", "elasticNetParam", "tol", "fitIntercept",
                 "standardization", "threshold", "featuresCol", "labelCol", "predictionCol",
                 "probabilityCol", "rawPredictionCol", "family"):
        assert ours.getOrDefault(name) == spark_lr.getOrDefault(name), name
    km = KMeans()
    assert (km.getK(), km.getMaxIter(), km.getTol(), km.getInitMode(), km.getInitSteps(),
            km.getDistanceMeasure()) == (2, 20, 1e-4, "k-means||", 2, "euclidean")
    assert KMeans().getSeed() == KMeans().getSeed()  # a fixed default, unlike hash()
    assert "optimizer: rddml:" in ours.explainParams()
    assert "initialCenters: rddml:" in km.explainParams()


def test_copy_with_extra_params_leaves_the_original_alone() -> None:
    lr = LogisticRegression(regParam=0.1)
    other = lr.copy({lr.regParam: 0.5, lr.optimizer: "gd"})
    assert (other.getRegParam(), other.getOptimizer()) == (0.5, "gd")
    assert (lr.getRegParam(), lr.getOptimizer()) == (0.1, "lbfgs")
    assert other.uid == lr.uid
    assert lr.setMaxIter(7) is lr and lr.getMaxIter() == 7


def test_bad_params_are_clear_errors(labelled: Any) -> None:
    with pytest.raises(InvalidParameterError,
                       match="'family' Param must be one of 'auto', 'binomial', 'multinomial'"):
        LogisticRegression(family="poisson").fit(labelled)
    with pytest.raises(InvalidParameterError, match="'elasticNetParam' Param must be"):
        lr_pipeline(LogisticRegression(elasticNetParam=2.0)).fit(labelled)
    with pytest.raises(InvalidParameterError, match="'initSteps' Param must be 2"):
        KMeans(initSteps=5).fit(labelled)


# ------------------------------------------------------- logistic regression
def test_multinomial_matches_pyspark_ml_and_writes_k_class_columns(spark: Any,
                                                                   tmp_path: Path) -> None:
    """family='auto' with three classes: MLlib's coefficient matrix (standardisation, elastic
    net) to 1e-4, K-long rawPrediction / probability vectors, argmax prediction."""
    from rddml.linear.softmax import softmax_rows

    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 3)) * [1.0, 4.0, 0.5]
    y = np.argmax(X @ rng.normal(size=(3, 3)) + rng.gumbel(size=(300, 3)), axis=1)
    df = spark.createDataFrame([(DenseVector(x), float(t)) for x, t in zip(X, y)],
                               ["features", "label"]).cache()
    params = dict(regParam=0.05, elasticNetParam=0.3, tol=1e-10, maxIter=500)
    ours = LogisticRegression(**params).fit(df)
    reference = SparkLogisticRegression(**params).fit(df)
    assert (ours.numClasses, ours.numFeatures) == (3, 3)
    assert ours.getFamily() == "auto" and ours.rddmlModel.family_ == "multinomial"
    np.testing.assert_allclose(ours.coefficientMatrix.toArray(),
                               reference.coefficientMatrix.toArray(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.interceptVector.toArray(),
                               reference.interceptVector.toArray(), rtol=0, atol=1e-4)
    with pytest.raises(InvalidParameterError, match="use coefficientMatrix instead"):
        _ = ours.coefficients
    rows = ours.transform(df).select("features", "rawPrediction", "probability",
                                     "prediction").collect()
    feats = np.array([r["features"].toArray() for r in rows])
    raw = np.array([r["rawPrediction"].toArray() for r in rows])
    coef = ours.coefficientMatrix.toArray()
    np.testing.assert_allclose(raw, feats @ coef.T + ours.interceptVector.toArray(), atol=1e-12)
    np.testing.assert_allclose([r["probability"].toArray() for r in rows], softmax_rows(raw),
                               atol=1e-12)
    np.testing.assert_array_equal([r["prediction"] for r in rows], raw.argmax(axis=1))
    assert ours.predict(rows[0]["features"]) == rows[0]["prediction"]
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    assert evaluator.evaluate(ours.transform(df)) == pytest.approx(
        evaluator.evaluate(reference.transform(df)), abs=1 / 300 + 1e-12)
    ours.write().save(str(tmp_path / "multi"))
    loaded = LogisticRegressionModel.load(str(tmp_path / "multi"))
    assert loaded.numClasses == 3
    np.testing.assert_array_equal(loaded.coefficientMatrix.toArray(), coef)
    df.unpersist()


def test_output_columns_are_pyspark_mls_and_the_evaluators_agree(labelled: Any,
                                                                 fitted: Any) -> None:
    model = fitted
    scored = model.transform(labelled)
    schema = {f.name: f.dataType for f in scored.schema.fields}
    assert isinstance(schema["probability"], VectorUDT)
    assert isinstance(schema["rawPrediction"], VectorUDT)
    assert isinstance(schema["prediction"], T.DoubleType)
    lr: LogisticRegressionModel = model.stages[-1]
    rows = scored.select("features", "rawPrediction", "probability", "prediction").collect()
    X = np.array([r["features"].toArray() for r in rows])
    z = X @ lr.coefficients.toArray() + lr.intercept
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose([r["rawPrediction"].toArray() for r in rows],
                               np.c_[-z, z], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([r["probability"].toArray() for r in rows], np.c_[1 - p, p],
                               rtol=1e-12, atol=1e-12)
    assert [r["prediction"] for r in rows] == (p > 0.5).astype(float).tolist()
    # pyspark.ml's evaluators read those columns unchanged; rddml's exact metrics agree.
    metrics = lr.rddmlModel.evaluate(model.stages[1].transform(model.stages[0].transform(
        labelled)))
    auc = BinaryClassificationEvaluator().evaluate(scored)
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(scored)
    assert auc == pytest.approx(metrics["auc"], abs=1e-9)
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-12)
    assert lr.summary.totalIterations == lr.rddmlModel.n_iter_ > 0
    assert lr.summary.objectiveHistory[-1] <= lr.summary.objectiveHistory[0]
    assert isinstance(lr.coefficients, DenseVector) and lr.numFeatures == 16
    single = lr.predictProbability(DenseVector(X[0]))
    assert single[1] == pytest.approx(p[0], rel=1e-12)
    # copy(extra) on the model moves the threshold, as pyspark.ml's does
    high = lr.copy({lr.threshold: 0.9})
    assert high.getThreshold() == 0.9 and lr.getThreshold() == 0.5
    preds = model.stages[1].transform(model.stages[0].transform(labelled))
    assert high.transform(preds).filter("prediction = 1.0").count() == int((p > 0.9).sum())


def test_cross_validation_picks_the_same_regparam_as_pyspark_ml(labelled: Any) -> None:
    results = {}
    for name, lr in (("spark", SparkLogisticRegression(elasticNetParam=1.0)),
                     ("rddml", LogisticRegression(elasticNetParam=1.0))):
        grid = ParamGridBuilder().addGrid(lr.regParam, [0.001, 0.01, 0.1]).build()
        # The three regParams of a fold fit at once (as the TrainValidationSplit test
        # below shows, parallelism changes no metric): the 2 cores stay busy.
        cv = CrossValidator(estimator=lr_pipeline(lr), estimatorParamMaps=grid,
                            evaluator=BinaryClassificationEvaluator(), numFolds=2, seed=42,
                            parallelism=3)
        fitted = cv.fit(labelled)
        best = fitted.bestModel.stages[-1]
        results[name] = (np.asarray(fitted.avgMetrics), best.getRegParam())
    spark_auc, spark_best = results["spark"]
    rddml_auc, rddml_best = results["rddml"]
    assert rddml_best == spark_best == 0.01
    np.testing.assert_allclose(rddml_auc, spark_auc, rtol=0, atol=0.005)


def test_elastic_net_coefficients_equal_pyspark_mls(labelled: Any) -> None:
    settings = {"standardization": True, "elasticNetParam": 0.5, "regParam": 0.01,
                "maxIter": 1000}
    spark_lr = lr_pipeline(SparkLogisticRegression(tol=1e-12, **settings)).fit(labelled)
    ours = lr_pipeline(LogisticRegression(tol=1e-10, **settings)).fit(labelled)
    want, got = spark_lr.stages[-1], ours.stages[-1]
    np.testing.assert_allclose(got.coefficients.toArray(), want.coefficients.toArray(),
                               rtol=0, atol=1e-4)
    assert got.intercept == pytest.approx(want.intercept, abs=1e-4)
    assert (got.coefficients.toArray() == 0).tolist() == \
        (want.coefficients.toArray() == 0).tolist()


def test_train_validation_split_runs_fits_in_parallel(labelled: Any) -> None:
    lr = LogisticRegression()
    grid = ParamGridBuilder().addGrid(lr.regParam, [0.01, 0.3]).build()
    metrics = []
    for parallelism in (1, 2):
        tvs = TrainValidationSplit(estimator=lr_pipeline(lr), estimatorParamMaps=grid,
                                   evaluator=BinaryClassificationEvaluator(), trainRatio=0.7,
                                   parallelism=parallelism, seed=5)
        fitted = tvs.fit(labelled)
        metrics.append(fitted.validationMetrics)
        best = grid[int(np.argmax(fitted.validationMetrics))][lr.regParam]
        assert fitted.bestModel.stages[-1].getRegParam() == best
    np.testing.assert_allclose(metrics[1], metrics[0], rtol=0, atol=1e-12)


# -------------------------------------------------------------------- k-means
def test_kmeans_pipeline_equals_rddml_and_scores_with_clustering_evaluator(blobs: Any) -> None:
    model = kmeans_pipeline(KMeans(k=3, initialCenters=INIT, maxIter=10)).fit(blobs)
    km: KMeansModel = model.stages[-1]
    features = model.stages[0].transform(blobs)
    reference = rddml.KMeans(k=3, init=np.array(INIT), max_iter=10).fit(features)
    np.testing.assert_allclose(np.array(km.clusterCenters()), reference.cluster_centers_,
                               rtol=0, atol=1e-12)
    assert km.summary.trainingCost == pytest.approx(reference.inertia_, rel=1e-12)
    assert km.summary.totalIterations == reference.n_iter_
    scored = model.transform(blobs)
    assert isinstance(scored.schema["prediction"].dataType, T.IntegerType)
    silhouette = ClusteringEvaluator().evaluate(scored)
    assert silhouette > 0.7
    rows = scored.select("a", "b", "prediction").collect()
    X = np.array([[r["a"], r["b"]] for r in rows])
    expected = ((X[:, None] - reference.cluster_centers_[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert [r["prediction"] for r in rows] == expected.tolist()
    assert km.predict(DenseVector(X[0])) == expected[0]
    # A fitted rddml.KMeans wraps into the same pyspark.ml model.
    wrapped = KMeansModel.fromRddml(reference)
    assert wrapped.getInitialCenters() == INIT and wrapped.getMaxIter() == 10
    assert wrapped.transform(features).select("prediction").collect() == \
        km.transform(features).select("prediction").collect()


def test_seeded_kmeans_equals_rddml_with_the_same_seed(blobs: Any) -> None:
    features = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(blobs)
    km = KMeans(k=3, initMode="k-means++", seed=5).fit(features)
    reference = rddml.KMeans(k=3, init="k-means++", seed=5).fit(features)
    np.testing.assert_allclose(np.array(km.clusterCenters()), reference.cluster_centers_,
                               rtol=0, atol=1e-12)


# --------------------------------------------------------------- persistence
def test_logistic_model_save_load_predicts_identically(labelled: Any, fitted: Any,
                                                       tmp_path: Path) -> None:
    prepared = fitted
    features = PipelineModel(prepared.stages[:2]).transform(labelled)
    model: LogisticRegressionModel = prepared.stages[-1].copy({})
    model.setThreshold(0.4)
    path = str(tmp_path / "lr")
    model.write().overwrite().save(path)
    model.write().overwrite().save(path)  # overwrite replaces it
    loaded = LogisticRegressionModel.load(path)
    assert loaded.uid == model.uid and loaded.getThreshold() == 0.4
    np.testing.assert_array_equal(loaded.coefficients.toArray(), model.coefficients.toArray())
    # As pyspark.ml: a loaded model has no training summary; rddml keeps the history.
    assert model.hasSummary and not loaded.hasSummary
    with pytest.raises(RuntimeError, match="No training summary"):
        loaded.summary  # noqa: B018
    assert loaded.rddmlModel.loss_history_ == model.rddmlModel.loss_history_
    for col in ("probability", "rawPrediction"):
        np.testing.assert_array_equal(probabilities(loaded.transform(features), col),
                                      probabilities(model.transform(features), col))
    # The fitted arrays are JSON (no pickle), next to pyspark's metadata.
    [data] = [p for p in (tmp_path / "lr" / "data").iterdir() if p.name.startswith("part-")]
    document = json.loads(data.read_text())
    assert document["model"] == "LogisticRegression"
    assert document["coef"] == model.coefficients.toArray().tolist()
    with pytest.raises(DataValidationError, match=r"expected a saved rddml\.ml\.clustering\.KMeans"):
        KMeansModel.load(path)


def test_kmeans_model_and_estimator_save_load(blobs: Any, tmp_path: Path) -> None:
    features = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(blobs)
    estimator = KMeans(k=3, initialCenters=INIT, emptyCluster="keep")
    estimator.save(str(tmp_path / "est"))
    again = KMeans.load(str(tmp_path / "est"))
    assert again.getInitialCenters() == INIT and again.getEmptyCluster() == "keep"
    model = again.fit(features)
    model.save(str(tmp_path / "km"))
    loaded = KMeansModel.load(str(tmp_path / "km"))
    np.testing.assert_array_equal(np.array(loaded.clusterCenters()),
                                  np.array(model.clusterCenters()))
    assert not loaded.hasSummary
    assert loaded.rddmlModel.inertia_ == model.summary.trainingCost
    assert loaded.transform(features).select("prediction").collect() == \
        model.transform(features).select("prediction").collect()


def test_pipeline_model_with_rddml_stages_loads_with_pipeline_model_load(
        labelled: Any, fitted: Any, tmp_path: Path) -> None:
    model = fitted
    path = str(tmp_path / "pipeline")
    model.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    assert type(loaded.stages[-1]) is LogisticRegressionModel
    assert [s.uid for s in loaded.stages] == [s.uid for s in model.stages]
    before, after = model.transform(labelled), loaded.transform(labelled)
    np.testing.assert_array_equal(probabilities(after), probabilities(before))
    assert after.select("prediction").collect() == before.select("prediction").collect()
