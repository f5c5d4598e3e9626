"""rddml under a real Spark Connect session (what Databricks Standard and Serverless run).

A Connect session cannot share a process with the classic test session, so the
module fixture runs ``tests/connect_driver.py`` once in a subprocess (it starts
``SparkSession.builder.remote("local[2]")``, a local Spark Connect server from the
pyspark wheel) and every test checks one section of its JSON output against a
reference computed here with the classic session, NumPy or scikit-learn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.dataframe_support import (
    BLOB_CENTRES,
    HEART_COLUMNS,
    HEART_TEST,
    HEART_TRAIN,
    assert_metrics_match_scikit_learn,
    blob_arrays,
    blob_frame,
    fit_kmeans_dataframe,
    labelled_arrays,
    labelled_frame,
)

from rddml import LogisticRegression
from rddml.linear.kernels import sigmoid

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def connect(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("connect") / "results.json"
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": path}
    env.pop("SPARK_REMOTE", None)
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "connect_driver.py"), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if not out.exists():
        pytest.fail(f"the Spark Connect driver wrote no results (exit {proc.returncode}):\n"
                    f"{proc.stderr[-3000:]}")
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def section(connect: dict[str, Any], name: str) -> dict[str, Any]:
    result = connect[name]
    assert "error" not in result, f"section {name!r} failed under Spark Connect:\n{result['error']}"
    return result


def test_a_local_spark_connect_session_starts(connect: dict[str, Any]) -> None:
    assert section(connect, "session")["class"].startswith("pyspark.sql.connect")


def test_connect_dataframes_choose_the_dataframe_backend(connect: dict[str, Any]) -> None:
    got = section(connect, "backend")
    assert got["is_connect"] and not got["has_spark_context"]
    assert got["auto"] == "dataframe"
    assert "'rdd' needs a SparkContext" in got["rdd_error"]


def _numpy_lloyd(X: np.ndarray, w: np.ndarray, centres: np.ndarray,
                 iterations: int) -> tuple[np.ndarray, float]:
    """Weighted Lloyd iterations (no empty clusters here) and the final inertia."""
    for _ in range(iterations):
        labels = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
        centres = np.array([w[labels == j] @ X[labels == j] / w[labels == j].sum()
                            for j in range(len(centres))])
    d2 = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2).min(axis=1)
    return centres, float(w @ d2)


def test_kmeans_under_connect_gives_the_numpy_lloyd_centres(connect: dict[str, Any]) -> None:
    # test_dataframe_backend.py shows the classic session gives the RDD backend's centres.
    got = section(connect, "kmeans")["fit"]
    X, w = blob_arrays()
    centres, inertia = _numpy_lloyd(X, w, BLOB_CENTRES, 4)
    np.testing.assert_allclose(got["centres"], centres, rtol=0, atol=1e-9)
    assert got["inertia"] == pytest.approx(inertia, rel=1e-12)
    assert got["n_iter"] == 4


def test_lloyd_pass_under_connect_tree_and_reduce_by_key_agree_with_numpy(
        connect: dict[str, Any]) -> None:
    got = section(connect, "kmeans")
    X, w = blob_arrays()
    labels = ((X[:, None, :] - BLOB_CENTRES[None]) ** 2).sum(axis=2).argmin(axis=1)
    sums = np.array([w[labels == j] @ X[labels == j] for j in range(3)])
    for aggregation in ("tree", "reduceByKey"):
        np.testing.assert_allclose(got[aggregation]["sums"], sums, rtol=1e-12)
        np.testing.assert_allclose(got[aggregation]["counts"],
                                   np.bincount(labels, weights=w), rtol=1e-12)


def test_seeded_kmeans_under_connect_equals_the_classic_dataframe_backend(
        spark: Any, connect: dict[str, Any]) -> None:
    got = section(connect, "kmeans")["seeded"]
    classic = fit_kmeans_dataframe(blob_frame(spark).repartition(5), k=3, init="k-means||",
                                   seed=11, max_iter=10, weight_col="w")
    np.testing.assert_allclose(got["init"], classic.init_centers_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["centres"], classic.cluster_centers_, rtol=0, atol=1e-9)


def test_kmeans_predict_under_connect_assigns_the_closest_centre(connect: dict[str, Any]) -> None:
    got = section(connect, "kmeans")
    X, centres = np.asarray(got["predict"]["X"]), np.asarray(got["fit"]["centres"])
    expected = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(got["predict"]["prediction"], expected)


def test_kmeans_estimator_under_connect(connect: dict[str, Any]) -> None:
    got = section(connect, "kmeans")
    np.testing.assert_allclose(got["estimator"]["centres"], got["fit"]["centres"], atol=1e-12)


def test_logistic_pass_under_connect_matches_the_closed_form(connect: dict[str, Any]) -> None:
    got = section(connect, "logistic")["pass"]
    X, y, w = labelled_arrays()
    p = sigmoid(X @ np.array([0.3, -0.2, 0.5]) + 0.7)
    assert got["loss"] == pytest.approx(-(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum(),
                                        rel=1e-12)
    np.testing.assert_allclose(got["grad"], X.T @ (w * (p - y)), rtol=1e-12)
    assert got["weight"] == pytest.approx(w.sum(), rel=1e-12)


def test_logistic_fit_under_connect_gives_the_rdd_backends_coefficients(
        spark: Any, connect: dict[str, Any]) -> None:
    got = section(connect, "logistic")["lbfgs"]
    rdd = LogisticRegression(optimizer="lbfgs", reg_param=0.01, weight_col="w").fit(
        labelled_frame(spark))
    np.testing.assert_allclose(got["coef"], rdd.coef_, rtol=0, atol=1e-9)
    assert got["intercept"] == pytest.approx(rdd.intercept_, abs=1e-9)
    assert got["n_iter"] == rdd.n_iter_


def test_evaluate_under_connect_matches_scikit_learn(connect: dict[str, Any]) -> None:
    got = section(connect, "logistic")["evaluate"]
    X, y, w = labelled_arrays()
    assert_metrics_match_scikit_learn(got, y, sigmoid(X @ np.array([0.8, -0.4, 0.3]) + 3.5), w)


def test_predict_proba_under_connect(connect: dict[str, Any]) -> None:
    got = section(connect, "logistic")["predict_proba"]
    X = np.asarray(got["X"])
    np.testing.assert_allclose(got["p"], sigmoid(X @ np.array([0.8, -0.4, 0.3]) + 3.5),
                               rtol=1e-12)


def test_bad_data_under_connect_raises_the_same_clear_errors(connect: dict[str, Any]) -> None:
    got = section(connect, "errors")
    assert got["nan"].startswith("DataValidationError: Invalid data in DataFrame columns "
                                 "['features']: row 1 of the partition has a non-finite value nan")
    assert got["missing_column"].startswith("InvalidParameterError: The features column "
                                            "'features' is not in the DataFrame")


def test_vector_columns_under_connect(connect: dict[str, Any]) -> None:
    got = section(connect, "vectors")
    X = np.array([[float(i), float(i % 3)] for i in range(10)])
    centres = np.array([[0.0, 0.0], [9.0, 0.0]])
    expected = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2).min(axis=1).sum()
    assert (got["n_rows"], got["n_features"]) == (10, 2)
    assert got["cost"] == pytest.approx(expected, rel=1e-12)


def test_heart_preprocessing_under_connect_equals_the_classic_session(
        spark: Any, connect: dict[str, Any]) -> None:
    from pyspark.ml.functions import vector_to_array

    from rddml.heart.columns import IMPOSSIBLE_VALUE_RULES
    from rddml.heart.pipeline import prepare_splits
    from rddml.heart.transformers import DropSparseColumnsModel, ImpossibleValueToNull

    got = section(connect, "heart")
    rules = ImpossibleValueToNull(rules=[list(r) for r in IMPOSSIBLE_VALUE_RULES])
    _, train_p, test_p, unseen = prepare_splits(
        spark.createDataFrame(HEART_TRAIN, HEART_COLUMNS),
        spark.createDataFrame(HEART_TEST, HEART_COLUMNS),
        rules, DropSparseColumnsModel(droppedCols=["slope", "ca", "thal"]))
    assert got["unseen"] == unseen
    for name, frame in (("train", train_p), ("test", test_p)):
        rows = frame.select("line", vector_to_array("features_raw").alias("raw"),
                            vector_to_array("features").alias("scaled")).orderBy("line").collect()
        np.testing.assert_allclose(got[name]["raw"], [r["raw"] for r in rows], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got[name]["scaled"], [r["scaled"] for r in rows], rtol=0,
                                   atol=1e-12)


def test_heart_loading_under_connect(connect: dict[str, Any]) -> None:
    """Under Connect the files are numbered by the DataFrame reader: the classic session's
    rows per source, line numbers and disease counts (the write-up's 920 rows, 509 sick)."""
    load = section(connect, "heart")["load"]
    assert isinstance(load, dict), load
    import pandas as pd

    from rddml.heart.columns import SOURCE_FILES

    want = {}
    for source, file in SOURCE_FILES.items():
        ref = pd.read_csv(ROOT / "data" / "uci-heart-disease" / file, header=None, na_values="?")
        want[source] = [len(ref), len(ref), int((ref[13] > 0).sum())]
    assert load == want


def test_quickstart_notebook_under_connect(connect: dict[str, Any]) -> None:
    got = section(connect, "notebook")
    if "skipped" in got:
        pytest.skip(got["skipped"])
    assert got["accuracy"] > 0.9
    assert got["figures"] == ["kmeans_clusters.png", "logistic_regression.png"]


def test_rddml_ml_pipelines_under_connect_equal_the_classic_session(
        spark: Any, connect: dict[str, Any]) -> None:
    """rddml.ml stages in a pyspark.ml Pipeline fit on the DataFrame backend under Connect
    and give the classic session's coefficients, centres and evaluator scores."""
    from pyspark.ml import Pipeline
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, ClusteringEvaluator
    from pyspark.ml.feature import VectorAssembler
    from tests.dataframe_support import scalar_columns_frame

    from rddml.ml import KMeans as MLKMeans
    from rddml.ml import LogisticRegression as MLLogisticRegression

    got = section(connect, "ml")
    assert (got["lr"]["backend"], got["lr"]["resolved"]) == ("auto", "dataframe")
    X, y, _ = labelled_arrays(n=300)
    df = scalar_columns_frame(spark, X, {"label": y})
    assembler = VectorAssembler(inputCols=["x0", "x1", "x2"], outputCol="features")
    classic = Pipeline(stages=[assembler, MLLogisticRegression(regParam=0.01)]).fit(df)
    lr = classic.stages[-1]
    np.testing.assert_allclose(got["lr"]["coef"], lr.coefficients.toArray(), rtol=0, atol=1e-9)
    assert got["lr"]["intercept"] == pytest.approx(lr.intercept, abs=1e-9)
    assert got["lr"]["auc"] == pytest.approx(
        BinaryClassificationEvaluator().evaluate(classic.transform(df)), abs=1e-9)
    Xs = np.asarray(got["lr"]["X"])
    z = Xs @ np.asarray(got["lr"]["coef"]) + got["lr"]["intercept"]
    p = sigmoid(z)
    np.testing.assert_allclose(got["lr"]["raw"], np.c_[-z, z], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["lr"]["probability"], np.c_[1 - p, p], rtol=1e-12,
                               atol=1e-12)
    assert got["lr"]["prediction"] == (p > 0.5).astype(float).tolist()
    Xb, _ = blob_arrays(n=300)
    blobs = scalar_columns_frame(spark, Xb, {})
    km = Pipeline(stages=[
        VectorAssembler(inputCols=["x0", "x1", "x2"], outputCol="features"),
        MLKMeans(k=3, initialCenters=BLOB_CENTRES.tolist(), maxIter=5)]).fit(blobs)
    np.testing.assert_allclose(got["kmeans"]["centres"], km.stages[-1].clusterCenters(),
                               rtol=0, atol=1e-9)
    assert got["kmeans"]["silhouette"] == pytest.approx(
        ClusteringEvaluator().evaluate(km.transform(blobs)), abs=1e-9)


def test_rddml_ml_persistence_under_connect(connect: dict[str, Any]) -> None:
    """model.write().overwrite().save and PipelineModel.load work under Connect: metadata
    and JSON data go through DataFrame writes, overwrite through Connect's ML helper."""
    got = section(connect, "ml")
    pipeline, model = got["saved"]["pipeline"], got["saved"]["model"]
    assert "failed" not in pipeline, pipeline.get("failed")
    assert "failed" not in model, model.get("failed")
    assert pipeline["stage"] == "LogisticRegressionModel"
    for key in ("probability", "raw", "prediction"):
        assert pipeline[key] == got["lr"][key]
    assert model["coef"] == got["lr"]["coef"]
