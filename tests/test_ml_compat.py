"""rddml.ml against pyspark.ml itself, on the same small DataFrames: training summaries and
``evaluate`` (metrics within 1e-9, ROC / PR curves point for point), ``thresholds``,
bound-constrained fits (coefficients within 1e-5), ``maxIter=0``, uids, ``hasSummary``
after loading, the sparse ``coefficientMatrix`` of an L1 fit, the k-means summary,
``solver`` / ``maxBlockSizeInMB`` and the PMML export.

Where a comparison needs the very same coefficients (the curves point for point), the
rddml model is built from pyspark.ml's coefficients with ``maxIter=0`` (rddml returns its
initial model), so the comparison is of the summary computation alone. The fitted models
are module-scoped: every model is fitted once.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pyspark.ml.classification as spark_classification
import pyspark.ml.clustering as spark_clustering
import pytest
from pyspark.ml.linalg import DenseMatrix, DenseVector, SparseMatrix, Vectors
from pyspark.ml.util import MLWriter

import rddml
from rddml.errors import InvalidParameterError
from rddml.ml import (
    BinaryLogisticRegressionSummary,
    BinaryLogisticRegressionTrainingSummary,
    KMeans,
    LogisticRegression,
    LogisticRegressionModel,
    LogisticRegressionSummary,
    LogisticRegressionTrainingSummary,
)
from rddml.ml._evaluation import N_RANGES

METRIC_TOL = 1e-9
COEF_TOL = 1e-5
#: Tight fits on both sides, so the two fits' predictions agree row for row.
TIGHT = {"tol": 1e-11, "maxIter": 500, "regParam": 0.01}

SCALARS = ["accuracy", "weightedTruePositiveRate", "weightedFalsePositiveRate",
           "weightedRecall", "weightedPrecision"]
BY_LABEL = ["truePositiveRateByLabel", "falsePositiveRateByLabel", "precisionByLabel",
            "recallByLabel"]
CURVES = {"roc": ("FPR", "TPR"), "pr": ("recall", "precision"),
          "fMeasureByThreshold": ("threshold", "F-Measure"),
          "precisionByThreshold": ("threshold", "precision"),
          "recallByThreshold": ("threshold", "recall")}


# -------------------------------------------------------------------- data
def binary_rows(n: int, seed: int) -> list[tuple[Any, float, float]]:
    """``n`` weighted rows, 3 continuous features (no tied probabilities)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5] + [0.5, -1.0, 0.0]
    p = 1.0 / (1.0 + np.exp(-(X @ [1.5, -0.8, 0.6] + 0.3)))
    y = (rng.random(n) < p).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    return [(Vectors.dense(x), float(t), float(v)) for x, t, v in zip(X.tolist(), y, w)]


@pytest.fixture(scope="module")
def binary_df(spark: Any) -> Any:
    """1500 rows: fewer than 2 × 1000 distinct probabilities, so MLlib's curves keep
    every one (no down-sampling)."""
    return spark.createDataFrame(binary_rows(1500, 25), ["features", "label", "w"]) \
        .repartition(2).cache()


@pytest.fixture(scope="module")
def multi_df(spark: Any) -> Any:
    """300 weighted rows of 3 classes; the fourth feature is noise (an L1 fit zeroes it)."""
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 2.0, 1.5]])
    y = rng.integers(0, 3, 300)
    X = np.hstack([centres[y] + rng.normal(size=(300, 3)), rng.normal(size=(300, 1))])
    w = rng.uniform(0.5, 2.0, 300)
    rows = [(Vectors.dense(x), float(t), float(v)) for x, t, v in zip(X.tolist(), y, w)]
    return spark.createDataFrame(rows, ["features", "label", "w"]).repartition(2).cache()


@pytest.fixture(scope="module")
def binary_fits(binary_df: Any) -> tuple[Any, Any]:
    """(pyspark.ml's model, rddml.ml's model), both fitted on ``binary_df``."""
    spark_model = spark_classification.LogisticRegression(weightCol="w", **TIGHT).fit(binary_df)
    model = LogisticRegression(weightCol="w", **TIGHT).fit(binary_df)
    return spark_model, model


@pytest.fixture(scope="module")
def multi_fits(multi_df: Any) -> tuple[Any, Any]:
    spark_model = spark_classification.LogisticRegression(weightCol="w", **TIGHT).fit(multi_df)
    model = LogisticRegression(weightCol="w", **TIGHT).fit(multi_df)
    return spark_model, model


def same_coefficients(spark_model: Any, df: Any) -> LogisticRegressionModel:
    """An rddml.ml model with exactly ``spark_model``'s coefficients (a maxIter=0 fit of
    rddml started there), with the same Params."""
    multinomial = spark_model.numClasses > 2
    fitted = rddml.LogisticRegression(
        family="multinomial" if multinomial else "binomial", max_iter=0,
        init_coef=spark_model.coefficientMatrix.toArray() if multinomial
        else spark_model.coefficients.toArray(),
        init_intercept=spark_model.interceptVector.toArray() if multinomial
        else spark_model.intercept,
        features_col="features", label_col="label", weight_col="w").fit(df)
    model = LogisticRegressionModel.fromRddml(fitted)
    if multinomial:
        # rddml centres a multinomial model's intercepts; MLlib's are centred too.
        np.testing.assert_allclose(model.interceptVector.toArray(),
                                   spark_model.interceptVector.toArray(), atol=1e-12)
    return model


def rows(df: Any, names: tuple[str, str]) -> np.ndarray:
    return np.array([(r[names[0]], r[names[1]]) for r in df.collect()], dtype=float)


def assert_same_metrics(ours: Any, theirs: Any) -> None:
    assert ours.labels == list(theirs.labels)
    for name in SCALARS:
        assert getattr(ours, name) == pytest.approx(getattr(theirs, name), abs=METRIC_TOL), name
    for name in BY_LABEL:
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=0,
                                   atol=METRIC_TOL, err_msg=name)
    for beta in (1.0, 0.5):
        np.testing.assert_allclose(ours.fMeasureByLabel(beta), theirs.fMeasureByLabel(beta),
                                   rtol=0, atol=METRIC_TOL)
        assert ours.weightedFMeasure(beta) == pytest.approx(theirs.weightedFMeasure(beta),
                                                            abs=METRIC_TOL)


def assert_same_curves(ours: Any, theirs: Any, threshold_tol: float) -> None:
    """Equal point for point: the counts-based coordinates within 1e-9, the thresholds
    (probabilities, computed by the JVM and by NumPy) within ``threshold_tol``."""
    assert ours.areaUnderROC == pytest.approx(theirs.areaUnderROC, abs=METRIC_TOL)
    for name, cols in CURVES.items():
        a, b = rows(getattr(ours, name), cols), rows(getattr(theirs, name), cols)
        assert a.shape == b.shape, (name, a.shape, b.shape)
        tol = threshold_tol if cols[0] == "threshold" else METRIC_TOL
        np.testing.assert_allclose(a[:, 0], b[:, 0], rtol=0, atol=tol, err_msg=name)
        np.testing.assert_allclose(a[:, 1], b[:, 1], rtol=0, atol=METRIC_TOL, err_msg=name)


# -------------------------------------------------------- binary summaries
def test_binary_training_summary_matches_pyspark_ml(binary_fits: Any) -> None:
    spark_model, model = binary_fits
    np.testing.assert_allclose(model.coefficients.toArray(),
                               spark_model.coefficients.toArray(), atol=COEF_TOL)
    ours, theirs = model.summary, spark_model.summary
    assert isinstance(ours, BinaryLogisticRegressionTrainingSummary)
    assert (ours.labelCol, ours.featuresCol, ours.predictionCol, ours.probabilityCol,
            ours.weightCol, ours.scoreCol) == (
        theirs.labelCol, theirs.featuresCol, theirs.predictionCol, theirs.probabilityCol,
        theirs.weightCol, theirs.scoreCol)
    assert_same_metrics(ours, theirs)
    # Two fits: the probabilities agree to the fits' tolerance, the counts exactly.
    assert_same_curves(ours, theirs, threshold_tol=1e-6)
    assert ours.objectiveHistory[0] == pytest.approx(theirs.objectiveHistory[0], rel=1e-12)
    assert ours.objectiveHistory[-1] == pytest.approx(theirs.objectiveHistory[-1], rel=1e-9)
    assert ours.totalIterations == len(ours.objectiveHistory) - 1
    assert ours.predictions.columns == theirs.predictions.columns


def test_binary_evaluate_matches_pyspark_ml_point_for_point(binary_fits: Any,
                                                            binary_df: Any) -> None:
    spark_model, _ = binary_fits
    model = same_coefficients(spark_model, binary_df)
    test = binary_df.sample(fraction=0.5, seed=3)
    ours, theirs = model.evaluate(test), spark_model.evaluate(test)
    assert type(ours) is BinaryLogisticRegressionSummary
    assert_same_metrics(ours, theirs)
    assert_same_curves(ours, theirs, threshold_tol=1e-12)


def test_down_sampled_curves_as_pyspark_ml(spark: Any, binary_fits: Any) -> None:
    """Above 2 × 1000 distinct probabilities both down-sample to about 1000 points (groups
    of n // 1000 consecutive scores). MLlib groups within each partition of its sorted
    scores (so its points depend on that partitioning), rddml within each of its score
    ranges: the same number of points up to one per range, about the same area."""
    spark_model, _ = binary_fits
    big = spark.createDataFrame(binary_rows(2400, 26), ["features", "label", "w"])
    model = same_coefficients(spark_model, big)
    ours, theirs = model.evaluate(big), spark_model.evaluate(big)
    a, b = rows(ours.roc, CURVES["roc"]), rows(theirs.roc, CURVES["roc"])
    assert 1000 < a.shape[0] <= 1300 and abs(a.shape[0] - b.shape[0]) <= N_RANGES
    assert ours.areaUnderROC == pytest.approx(theirs.areaUnderROC, abs=1e-4)
    assert ours.areaUnderROC == pytest.approx(
        float(np.sum(np.diff(a[:, 0]) * (a[1:, 1] + a[:-1, 1]) / 2)), abs=1e-12)
    assert_same_metrics(ours, theirs)


def test_summary_is_lazy_and_one_pass(spark: Any, binary_fits: Any, binary_df: Any) -> None:
    """Making a summary runs no Spark job; the first metric runs its pass; the other
    metrics (and the curves, without down-sampling) reuse it."""
    _, model = binary_fits
    small = binary_df.limit(500)
    tracker = spark.sparkContext.statusTracker()

    def jobs() -> int:
        return len(tracker.getJobIdsForGroup(None))

    before = jobs()
    summary = model.evaluate(small)
    assert jobs() == before
    assert 0 < summary.accuracy <= 1
    after_first = jobs()
    assert after_first > before
    _ = (summary.weightedPrecision, summary.labels, summary.areaUnderROC,
         summary.fMeasureByLabel(), summary.truePositiveRateByLabel)
    assert jobs() == after_first


def test_thresholds_pairs_with_threshold_as_in_pyspark_ml() -> None:
    ours, theirs = LogisticRegression(), spark_classification.LogisticRegression()
    for est in (ours, theirs):
        est.setThresholds([0.4, 0.6])
    assert ours.getThreshold() == pytest.approx(theirs.getThreshold(), abs=1e-15)
    for est in (ours, theirs):
        est.setThreshold(0.3)
    assert ours.getThresholds() == pytest.approx(theirs.getThresholds(), abs=1e-15)


# ---------------------------------------------------- multiclass summaries
def test_multiclass_training_summary_matches_pyspark_ml(multi_fits: Any) -> None:
    spark_model, model = multi_fits
    np.testing.assert_allclose(model.coefficientMatrix.toArray(),
                               spark_model.coefficientMatrix.toArray(), atol=COEF_TOL)
    ours, theirs = model.summary, spark_model.summary
    assert type(ours) is LogisticRegressionTrainingSummary
    assert not hasattr(ours, "roc")
    assert_same_metrics(ours, theirs)
    assert ours.objectiveHistory[-1] == pytest.approx(theirs.objectiveHistory[-1], rel=1e-9)


def test_multiclass_thresholds_predict_and_evaluate_as_pyspark_ml(multi_fits: Any,
                                                                  multi_df: Any) -> None:
    spark_model, _ = multi_fits
    model = same_coefficients(spark_model, multi_df)
    thresholds = [0.5, 0.2, 0.3]
    theirs_model = spark_model.copy().setThresholds(thresholds)
    model.setThresholds(thresholds)
    ours = [r.prediction for r in model.transform(multi_df).select("prediction").collect()]
    theirs = [r.prediction for r in
              theirs_model.transform(multi_df).select("prediction").collect()]
    assert ours == theirs
    unthresholded = [r.prediction for r in spark_model.transform(multi_df).collect()]
    assert ours != unthresholded  # the thresholds changed some predictions
    assert model.predict(multi_df.head().features) == theirs_model.predict(
        multi_df.head().features)
    summary = model.evaluate(multi_df)
    assert type(summary) is LogisticRegressionSummary
    assert_same_metrics(summary, theirs_model.evaluate(multi_df))
    with pytest.raises(InvalidParameterError, match="numClasses=3"):
        model.copy().setThresholds([0.5, 0.5]).transform(multi_df)


def test_l1_coefficient_matrix_is_sparse_where_pyspark_ml_gives_sparse(
        multi_df: Any) -> None:
    params = {"regParam": 0.1, "elasticNetParam": 1.0, "family": "multinomial",
              "tol": 1e-10, "maxIter": 500}
    theirs = spark_classification.LogisticRegression(**params).fit(multi_df)
    ours = LogisticRegression(**params).fit(multi_df)
    assert isinstance(theirs.coefficientMatrix, SparseMatrix)
    assert isinstance(ours.coefficientMatrix, SparseMatrix)
    a, b = ours.coefficientMatrix.toArray(), theirs.coefficientMatrix.toArray()
    np.testing.assert_array_equal(a == 0, b == 0)
    np.testing.assert_allclose(a, b, atol=1e-4)
    dense = LogisticRegression(family="multinomial", maxIter=5).fit(multi_df)
    assert isinstance(dense.coefficientMatrix, DenseMatrix)


# ------------------------------------------------------------------ bounds
#: MLlib's multinomial L-BFGS-B stops with coefficients about 1.5e-5 from the optimum
#: here (rddml's objective is lower: asserted below), whatever its tol.
MULTINOMIAL_BOUNDED_TOL = 3e-5
BOUNDED = [
    pytest.param({"upperBoundsOnCoefficients": DenseMatrix(1, 3, [1.0, 0.0, 0.2]),
                  "lowerBoundsOnIntercepts": DenseVector([0.5]), "regParam": 0.1}, "binary",
                 COEF_TOL, id="binary-upper"),
    pytest.param({"upperBoundsOnCoefficients": DenseMatrix(1, 3, [1.0, -1.0, 1.0]),
                  "upperBoundsOnIntercepts": DenseVector([0.2]), "regParam": 0.1,
                  "standardization": False}, "binary", COEF_TOL, id="binary-unstandardised"),
    pytest.param({"upperBoundsOnCoefficients": DenseMatrix(3, 4, [0.3] * 12),
                  "lowerBoundsOnIntercepts": DenseVector([-0.3, -0.3, -0.3]),
                  "regParam": 0.2}, "multi", MULTINOMIAL_BOUNDED_TOL, id="multinomial-upper"),
]


@pytest.mark.parametrize(("bounds", "data", "coef_tol"), BOUNDED)
def test_bounded_fit_matches_pyspark_ml(bounds: dict[str, Any], data: str, coef_tol: float,
                                        binary_df: Any, multi_df: Any) -> None:
    df = binary_df if data == "binary" else multi_df
    params = {"weightCol": "w", "tol": 1e-10, "maxIter": 500, **bounds}
    theirs = spark_classification.LogisticRegression(**params).fit(df)
    ours = LogisticRegression(**params).fit(df)
    # MLlib's L-BFGS-B (Breeze's) stops by its own rule, short of SciPy's: rddml's optimum
    # is at least as low, and the coefficients agree to where MLlib stopped.
    assert ours.summary.objectiveHistory[-1] <= theirs.summary.objectiveHistory[-1] + 1e-12
    np.testing.assert_allclose(ours.coefficientMatrix.toArray(),
                               theirs.coefficientMatrix.toArray(), atol=coef_tol)
    np.testing.assert_allclose(ours.interceptVector.toArray(),
                               theirs.interceptVector.toArray(), atol=coef_tol)
    # Some bound is active, else the test would not test bounds.
    unbounded = spark_classification.LogisticRegression(
        **{k: v for k, v in params.items() if "Bounds" not in k}
    ).fit(df)
    assert not np.allclose(unbounded.coefficientMatrix.toArray(),
                           theirs.coefficientMatrix.toArray(), atol=1e-3)


def test_bounds_are_checked_and_saved(tmp_path: Path, binary_df: Any) -> None:
    est = LogisticRegression(upperBoundsOnCoefficients=DenseMatrix(1, 2, [1.0, 1.0]))
    with pytest.raises(InvalidParameterError, match="shape"):
        est.fit(binary_df)
    with pytest.raises(InvalidParameterError, match="elasticNetParam"):
        LogisticRegression(upperBoundsOnCoefficients=DenseMatrix(1, 3, [1.0] * 3),
                           regParam=0.1, elasticNetParam=1.0).fit(binary_df)
    bounded = LogisticRegression(lowerBoundsOnCoefficients=DenseMatrix(1, 3, [0.0] * 3),
                                 upperBoundsOnIntercepts=DenseVector([float("inf")]))
    bounded.save(str(tmp_path / "est"))
    again = LogisticRegression.load(str(tmp_path / "est"))
    assert again.getLowerBoundsOnCoefficients() == bounded.getLowerBoundsOnCoefficients()
    assert again.getUpperBoundsOnIntercepts() == bounded.getUpperBoundsOnIntercepts()


# ---------------------------------------------------------------- semantics
@pytest.mark.parametrize("data", ["binary", "multi"])
def test_max_iter_zero_returns_pyspark_ml_initial_model(data: str, binary_df: Any,
                                                        multi_df: Any) -> None:
    df = binary_df if data == "binary" else multi_df
    theirs = spark_classification.LogisticRegression(maxIter=0, weightCol="w").fit(df)
    ours = LogisticRegression(maxIter=0, weightCol="w").fit(df)
    np.testing.assert_allclose(ours.coefficientMatrix.toArray(),
                               theirs.coefficientMatrix.toArray(), atol=1e-12)
    np.testing.assert_allclose(ours.interceptVector.toArray(),
                               theirs.interceptVector.toArray(), atol=1e-12)
    assert ours.summary.totalIterations == theirs.summary.totalIterations == 0
    assert ours.summary.objectiveHistory == pytest.approx(theirs.summary.objectiveHistory,
                                                          rel=1e-12)


def test_uid_and_has_summary_after_load_as_pyspark_ml(binary_fits: Any, binary_df: Any,
                                                      tmp_path: Path) -> None:
    spark_model, model = binary_fits
    for est_cls, fitted in ((spark_classification.LogisticRegression, spark_model),
                            (LogisticRegression, model)):
        est = est_cls(maxIter=3)
        assert est.fit(binary_df).uid == est.uid
        assert fitted.hasSummary
        fitted.write().overwrite().save(str(tmp_path / est_cls.__module__))
        loaded = type(fitted).load(str(tmp_path / est_cls.__module__))
        assert not loaded.hasSummary
        # pyspark 4 passes on the JVM's error, pyspark 3.5 raises RuntimeError.
        with pytest.raises(Exception, match="No training summary"):
            loaded.summary  # noqa: B018


def test_max_block_size_is_accepted_as_in_pyspark_ml(binary_df: Any) -> None:
    """pyspark.ml's block size changes how it stacks rows, not the model; rddml's blocks
    have their own size, so the Param is accepted and leaves the fit as it is."""
    assert LogisticRegression().getMaxBlockSizeInMB() == \
        spark_classification.LogisticRegression().getMaxBlockSizeInMB()
    a = LogisticRegression(maxIter=10).fit(binary_df)
    b = LogisticRegression(maxIter=10, maxBlockSizeInMB=1.0).fit(binary_df)
    assert b.getMaxBlockSizeInMB() == 1.0
    np.testing.assert_array_equal(a.coefficients.toArray(), b.coefficients.toArray())


# ------------------------------------------------------------------ k-means
@pytest.fixture(scope="module")
def blobs_df(spark: Any) -> Any:
    """Three separated blobs of 20, 30 and 40 weighted points."""
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    labels = np.repeat([0, 1, 2], [20, 30, 40])
    X = centres[labels] + rng.normal(scale=0.5, size=(90, 2))
    w = rng.uniform(0.5, 2.0, 90)
    data = [(Vectors.dense(x), float(v)) for x, v in zip(X.tolist(), w)]
    return spark.createDataFrame(data, ["features", "w"]).repartition(2).cache()


@pytest.fixture(scope="module")
def kmeans_fits(blobs_df: Any) -> tuple[Any, Any]:
    theirs = spark_clustering.KMeans(k=3, seed=1, weightCol="w", tol=0.0).fit(blobs_df)
    ours = KMeans(k=3, seed=1, weightCol="w", tol=0.0).fit(blobs_df)
    return theirs, ours


def test_kmeans_summary_matches_pyspark_ml(kmeans_fits: Any) -> None:
    theirs, ours = kmeans_fits
    a, b = np.array(ours.clusterCenters()), np.array(theirs.clusterCenters())
    # Cluster numbering differs (other initial centres for the same seed): match by centre.
    order = [int(np.argmin(np.linalg.norm(b - c, axis=1))) for c in a]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(a, b[order], atol=1e-9)
    s, t = ours.summary, theirs.summary
    assert s.clusterSizes == [t.clusterSizes[i] for i in order]
    assert sorted(s.clusterSizes) == [20, 30, 40]
    assert s.trainingCost == pytest.approx(t.trainingCost, rel=1e-9)
    assert (s.k, s.featuresCol, s.predictionCol) == (t.k, t.featuresCol, t.predictionCol)
    assert s.predictions.columns == t.predictions.columns
    assert s.cluster.columns == t.cluster.columns
    ours_rows = [r[0] for r in s.cluster.collect()]
    theirs_rows = [r[0] for r in t.cluster.collect()]
    assert ours_rows == [order.index(c) for c in theirs_rows]
    assert s.numIter == ours.rddmlModel.n_iter_ <= ours.getMaxIter()
    assert ours.hasSummary


def test_kmeans_summary_keeps_the_fit_columns(blobs_df: Any) -> None:
    model = KMeans(k=3, seed=1, maxIter=3).fit(blobs_df)
    summary = model.summary
    model.setPredictionCol("other")
    assert summary.predictionCol == "prediction"
    assert summary.cluster.columns == ["prediction"]
    assert sum(summary.clusterSizes) == 90


def test_kmeans_max_iter_zero_keeps_the_initial_centres(blobs_df: Any) -> None:
    init = [[1.0, 1.0], [7.0, 1.0], [1.0, 7.0]]
    model = KMeans(k=3, initialCenters=init, maxIter=0).fit(blobs_df)
    np.testing.assert_array_equal(np.array(model.clusterCenters()), init)
    assert model.summary.numIter == 0


def test_kmeans_solver_and_block_size_are_accepted_as_in_pyspark_ml(blobs_df: Any) -> None:
    ours, theirs = KMeans(), spark_clustering.KMeans()
    assert (ours.getSolver(), ours.getMaxBlockSizeInMB()) == (
        theirs.getSolver(), theirs.getMaxBlockSizeInMB())
    init = [[1.0, 1.0], [7.0, 1.0], [1.0, 7.0]]
    a = KMeans(k=3, initialCenters=init).fit(blobs_df)
    b = KMeans(k=3, initialCenters=init, solver="row", maxBlockSizeInMB=4.0).fit(blobs_df)
    np.testing.assert_array_equal(np.array(a.clusterCenters()), np.array(b.clusterCenters()))
    with pytest.raises(InvalidParameterError, match="'solver' Param must be one of"):
        KMeans(solver="fast").fit(blobs_df)


def _pmml(directory: Path) -> ET.Element:
    [part] = [p for p in directory.iterdir() if p.name.startswith("part-")]
    return ET.fromstring(part.read_text())


def _shape(element: ET.Element) -> list[tuple[str, dict[str, str]]]:
    """Tags and attributes, without the header (application, timestamp) and the
    centres' values."""
    return [(e.tag, {k: v for k, v in e.attrib.items() if k != "version"})
            for e in element.iter()
            if not e.tag.endswith(("Header", "Application", "Timestamp"))]


def test_kmeans_pmml_has_pyspark_ml_layout(kmeans_fits: Any, tmp_path: Path) -> None:
    theirs, ours = kmeans_fits
    theirs.write().format("pmml").save(str(tmp_path / "theirs"))
    writer = ours.write().format("pmml")
    assert isinstance(writer, MLWriter)
    writer.save(str(tmp_path / "ours"))
    a, b = _pmml(tmp_path / "ours"), _pmml(tmp_path / "theirs")
    assert _shape(a) == _shape(b)
    ns = {"p": a.tag[1:].split("}")[0]}
    arrays = [[float(v) for v in e.text.split()] for e in a.iterfind(".//p:Cluster/p:Array", ns)]
    np.testing.assert_array_equal(arrays, np.array(ours.clusterCenters()))
    with pytest.raises(InvalidParameterError, match="'internal' or 'pmml'"):
        ours.write().format("onnx").save(str(tmp_path / "bad"))
    with pytest.raises(InvalidParameterError, match="written as 'internal'"):
        LogisticRegression().write().format("pmml").save(str(tmp_path / "lr"))
