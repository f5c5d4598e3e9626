"""The DataFrame backend (mapInArrow passes) on the classic session.

References: the RDD backend on the same data and init (equal within 1e-9),
NumPy closed forms, and scikit-learn's metrics. The same code under Spark
Connect is exercised by ``test_connect.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans as SkKMeans
from tests.dataframe_support import (
    BLOB_CENTRES,
    assert_metrics_match_scikit_learn,
    blob_arrays,
    blob_frame,
    fit_kmeans_dataframe,
    fit_logistic_dataframe,
    labelled_arrays,
    labelled_frame,
)

from rddml import KMeans, LogisticRegression
from rddml.cluster.frame_passes import compute_cost_dataframe, dataframe_cost, dataframe_lloyd_pass
from rddml.engine.backend import has_spark_context, is_connect_dataframe, resolve_backend
from rddml.engine.content_keys import row_keys
from rddml.engine.frames import FrameDataset
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.linear.frame_passes import (
    class_moments_pass,
    evaluate_dataframe,
    loss_grad_pass,
)
from rddml.linear.kernels import classification_metrics, sigmoid
from rddml.linear.rdd_passes import class_moments_pass as rdd_class_moments_pass


@pytest.fixture(scope="module")
def blobs(spark: Any) -> Any:
    df = blob_frame(spark).persist()
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def labelled(spark: Any) -> Any:
    df = labelled_frame(spark).persist()
    yield df
    df.unpersist()


def _fake_dataframe(module: str, session: Any = None) -> Any:
    cls = type("DataFrame", (), {"__module__": module})
    obj = cls()
    obj.sparkSession = session
    return obj


# ------------------------------------------------------------------- backend choice
def test_auto_runs_classic_dataframes_and_rdds_on_rdds(spark: Any, sc: Any, blobs: Any) -> None:
    assert has_spark_context(blobs)
    assert not is_connect_dataframe(blobs)
    assert resolve_backend(blobs, "auto") == "rdd"
    assert resolve_backend(sc.parallelize([[1.0]]), "auto") == "rdd"
    assert resolve_backend(blobs, "dataframe") == "dataframe"


def test_auto_runs_connect_dataframes_on_the_dataframe_backend() -> None:
    connect_df = _fake_dataframe("pyspark.sql.connect.dataframe")
    assert is_connect_dataframe(connect_df)
    assert resolve_backend(connect_df, "auto") == "dataframe"
    with pytest.raises(InvalidParameterError, match="'rdd' needs a SparkContext"):
        resolve_backend(connect_df, "rdd")


def test_a_session_whose_spark_context_raises_counts_as_connect() -> None:
    class Blocked:
        @property
        def sparkContext(self) -> Any:
            raise RuntimeError("JVM access is blocked on this cluster")

    df = _fake_dataframe("pyspark.sql.classic.dataframe", Blocked())
    assert resolve_backend(df, "auto") == "dataframe"


def test_dataframe_backend_rejects_rdds_and_unknown_backends(sc: Any) -> None:
    with pytest.raises(InvalidParameterError, match="needs a pyspark DataFrame, got an RDD"):
        resolve_backend(sc.parallelize([[1.0]]), "dataframe")
    with pytest.raises(InvalidParameterError, match="'backend' parameter must be one of"):
        resolve_backend(sc.parallelize([[1.0]]), "spark")


# -------------------------------------------------------------------- content keys
def test_row_keys_depend_only_on_the_values() -> None:
    X = np.random.default_rng(0).normal(size=(50, 3))
    perm = np.random.default_rng(1).permutation(50)
    keys = row_keys(X)
    np.testing.assert_array_equal(row_keys(X[perm]), keys[perm])
    assert len(np.unique(keys)) == 50
    assert row_keys(np.array([[-0.0, 1.0]]))[0] == row_keys(np.array([[0.0, 1.0]]))[0]
    y = np.zeros(50)
    assert not np.array_equal(row_keys(X, y), keys)  # extra columns change the key


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("rows", "schema", "message"),
    [
        ([([1.0, 2.0],), ([1.0, float("nan")],)], "features array<double>",
         r"Invalid data in DataFrame columns \['features'\]: row 1 of the partition has a "
         r"non-finite value nan in feature 1"),
        ([([1.0, 2.0],), ([1.0, None],)], "features array<double>",
         r"row 1 of the partition has a null in feature column\(s\) \['features'\]"),
        ([([1.0, 2.0],), ([1.0, 2.0, 3.0],)], "features array<double>",
         "row 1 of the partition has 3 features, expected 2"),
        ([], "features array<double>", r"it has no rows \(empty input\)"),
    ],
)
def test_bad_rows_raise_a_clear_error(spark: Any, rows: list[Any], schema: str,
                                      message: str) -> None:
    df = spark.createDataFrame(rows, schema).coalesce(1)
    with pytest.raises(DataValidationError, match=message):
        FrameDataset.from_dataframe(df, features_col="features")


def test_bad_columns_and_weights_raise_before_fitting(spark: Any, blobs: Any) -> None:
    with pytest.raises(InvalidParameterError, match="'nope' is not in the DataFrame"):
        fit_kmeans_dataframe(blobs, k=2, feature_cols=["x0", "nope"])
    negative = spark.createDataFrame([([0.0], -1.0), ([1.0], 1.0)], "features array<double>, w double")
    with pytest.raises(InvalidParameterError, match="Sample weights must be >= 0"):
        fit_kmeans_dataframe(negative, k=1, weight_col="w")
    zero = spark.createDataFrame([([0.0, 0.0],), ([1.0, 0.0],)], "features array<double>")
    with pytest.raises(DataValidationError, match="distance='cosine' needs non-zero points"):
        fit_kmeans_dataframe(zero, k=1, distance="cosine")
    with pytest.raises(InvalidParameterError, match="number of distinct points"):
        fit_kmeans_dataframe(spark.createDataFrame([([1.0],)] * 3, "features array<double>"),
                             k=2, init="random", seed=0)


# ------------------------------------------------------------------------- k-means
@pytest.mark.parametrize("aggregation", ["collect", "groupBy"])
def test_explicit_init_gives_the_rdd_backends_centres(blobs: Any, aggregation: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import rddml.cluster.frame_passes as kd

    # Force the aggregation under test ("auto" collects at this size).
    monkeypatch.setattr(kd, "MAX_COLLECT_VALUES", 0 if aggregation == "groupBy" else 10**9)
    params = dict(k=3, init=BLOB_CENTRES, max_iter=4, tol=0.0, weight_col="w")
    rdd = KMeans(**params).fit(blobs)
    fitted = fit_kmeans_dataframe(blobs, **params)
    np.testing.assert_allclose(fitted.cluster_centers_, rdd.cluster_centers_, rtol=0, atol=1e-9)
    assert fitted.inertia_ == pytest.approx(rdd.inertia_, rel=1e-12)
    assert fitted.n_iter_ == rdd.n_iter_ == 4
    assert [h["cost"] for h in fitted.history_] == pytest.approx(
        [h["cost"] for h in rdd.history_], rel=1e-12)
    np.testing.assert_array_equal(fitted.init_centers_, BLOB_CENTRES)


def test_both_aggregations_keep_the_same_far_point_candidates(blobs: Any) -> None:
    init = np.vstack([BLOB_CENTRES[:2], [[100.0, 100.0, 100.0]]])
    with FrameDataset.from_dataframe(blobs, features_col="features", weight_col="w") as fd:
        collected = dataframe_lloyd_pass(fd, init, 3, "collect")
        grouped = dataframe_lloyd_pass(fd, init, 3, "groupBy")
        with pytest.raises(InvalidParameterError, match="'aggregation' parameter must be one of"):
            dataframe_lloyd_pass(fd, init, 3, "tree")
    np.testing.assert_allclose(grouped.sums, collected.sums, rtol=1e-12)
    np.testing.assert_allclose(grouped.counts, collected.counts, rtol=1e-12)
    assert grouped.cost == pytest.approx(collected.cost, rel=1e-12)
    np.testing.assert_array_equal(grouped.far_dists, collected.far_dists)
    np.testing.assert_array_equal(grouped.far_points, collected.far_points)


def test_cosine_and_feature_columns_give_the_rdd_backends_centres(blobs: Any) -> None:
    params = dict(k=3, init=BLOB_CENTRES + 1.0, max_iter=4, tol=0.0, distance="cosine",
                  features_col=None, feature_cols=["x0", "x1", "x2"])
    rdd = KMeans(**params).fit(blobs)
    fitted = fit_kmeans_dataframe(blobs, **params)
    np.testing.assert_allclose(fitted.cluster_centers_, rdd.cluster_centers_, rtol=0, atol=1e-9)
    assert fitted.inertia_ == pytest.approx(rdd.inertia_, rel=1e-12)


def test_empty_cluster_is_reseeded_from_the_farthest_point_like_the_rdd_backend(
        blobs: Any) -> None:
    init = np.vstack([BLOB_CENTRES[:2], [[100.0, 100.0, 100.0]]])  # the third starts empty
    params = dict(k=3, init=init, max_iter=3, tol=0.0)
    rdd = KMeans(**params).fit(blobs)
    fitted = fit_kmeans_dataframe(blobs, **params)
    assert fitted.history_[0]["empty_clusters"] == rdd.history_[0]["empty_clusters"] == 1
    np.testing.assert_allclose(fitted.cluster_centers_, rdd.cluster_centers_, rtol=0, atol=1e-9)


@pytest.mark.parametrize("init", ["random", "k-means++", "k-means||"])
def test_seeded_init_does_not_depend_on_partitioning(blobs: Any, init: str) -> None:
    # One Lloyd step is enough to compare; k-means|| (the default) runs to convergence.
    params = dict(k=3, init=init, seed=11, max_iter=10 if init == "k-means||" else 1,
                  weight_col="w")
    one = fit_kmeans_dataframe(blobs.repartition(1), **params)
    four = fit_kmeans_dataframe(blobs.repartition(4), **params)
    np.testing.assert_allclose(four.init_centers_, one.init_centers_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(four.cluster_centers_, one.cluster_centers_, rtol=0, atol=1e-9)
    X, w = blob_arrays()
    if init != "k-means||":  # sampling inits pick data points
        assert all(np.any(np.all(c == X, axis=1)) for c in one.init_centers_)
        return
    best = SkKMeans(n_clusters=3, n_init=10, random_state=0).fit(X, sample_weight=w)
    assert one.inertia_ <= best.inertia_ * (1 + 1e-6)  # reaches the well-separated optimum


def test_cost_matches_numpy(blobs: Any) -> None:
    X, w = blob_arrays()
    expected = float(w @ ((X[:, None, :] - BLOB_CENTRES[None]) ** 2).sum(axis=2).min(axis=1))
    assert compute_cost_dataframe(blobs, BLOB_CENTRES, weight_col="w") == pytest.approx(
        expected, rel=1e-12)
    with FrameDataset.from_dataframe(blobs, features_col="features") as fd:
        unweighted = ((X[:, None, :] - BLOB_CENTRES[None]) ** 2).sum(axis=2).min(axis=1).sum()
        assert dataframe_cost(fd, BLOB_CENTRES) == pytest.approx(unweighted, rel=1e-12)


# ------------------------------------------------------------- logistic regression
def test_loss_and_gradient_pass_matches_the_numpy_closed_form(labelled: Any) -> None:
    X, y, w = labelled_arrays()
    coef, intercept = np.array([0.3, -0.2, 0.5]), 0.7
    z = X @ coef + intercept
    p = sigmoid(z)
    with FrameDataset.from_dataframe(labelled, features_col="features", label_col="label",
                                     weight_col="w") as fd:
        sums = loss_grad_pass(fd, coef, intercept)
        half = loss_grad_pass(fd, coef, intercept, class_weights=(1.0, 0.5))
    loss = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum()
    assert sums.loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(sums.grad_coef, X.T @ (w * (p - y)), rtol=1e-12)
    assert sums.grad_intercept == pytest.approx(float(w @ (p - y)), rel=1e-12)
    assert (sums.weight, sums.count) == (pytest.approx(w.sum(), rel=1e-12), len(y))
    assert half.weight == pytest.approx(float(w @ np.where(y == 1, 0.5, 1.0)), rel=1e-12)


def test_class_moments_pass_matches_the_rdd_pass(labelled: Any) -> None:
    ds = LogisticRegression(weight_col="w")._dataset(labelled)[0]
    try:
        expected = rdd_class_moments_pass(ds)
    finally:
        ds.unpersist()
    with FrameDataset.from_dataframe(labelled, features_col="features", label_col="label",
                                     weight_col="w") as fd:
        got = class_moments_pass(fd)
    np.testing.assert_array_equal(got.count, expected.count)
    for name in ("weight", "weight_sq", "mean", "m2"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-12)


@pytest.mark.parametrize("params", [
    dict(optimizer="gd", step_size=1.0, max_iter=10, tol=0.0),
    dict(optimizer="lbfgs", reg_param=0.01, class_weight="balanced", weight_col="w"),
    dict(optimizer="lbfgs", reg_param=0.05, l1_ratio=1.0, max_iter=40),
], ids=["gd", "lbfgs-balanced-weighted", "owlqn-l1"])
def test_fit_gives_the_rdd_backends_coefficients(labelled: Any, params: dict[str, Any]) -> None:
    rdd = LogisticRegression(**params).fit(labelled)
    frame = fit_logistic_dataframe(labelled, **params)
    np.testing.assert_allclose(frame.coef_, rdd.coef_, rtol=0, atol=1e-9)
    assert frame.intercept_ == pytest.approx(rdd.intercept_, abs=1e-9)
    assert frame.n_iter_ == rdd.n_iter_
    np.testing.assert_allclose(frame.loss_history_, rdd.loss_history_, rtol=1e-12)


def test_sgd_batches_do_not_depend_on_partitioning(labelled: Any) -> None:
    params = dict(optimizer="sgd", batch_fraction=0.3, seed=3, max_iter=4, step_size=0.5)
    one = fit_logistic_dataframe(labelled.repartition(1), **params)
    four = fit_logistic_dataframe(labelled.repartition(4), **params)
    np.testing.assert_allclose(four.loss_history_, one.loss_history_, rtol=1e-12)
    np.testing.assert_allclose(four.coef_, one.coef_, rtol=0, atol=1e-12)


def test_evaluate_matches_scikit_learn(labelled: Any) -> None:
    X, y, w = labelled_arrays()
    coef, intercept = np.array([0.8, -0.4, 0.3]), 3.5
    stats, auc = evaluate_dataframe(labelled, coef, intercept, 0.5, weight_col="w")
    assert_metrics_match_scikit_learn(classification_metrics(stats, auc), y,
                                      sigmoid(X @ coef + intercept), w)


def test_evaluate_auc_counts_tied_scores_as_half(spark: Any) -> None:
    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, size=(300, 1)).astype(float)  # three distinct scores only
    y = (rng.uniform(size=300) < 0.3 + 0.2 * X[:, 0]).astype(float)
    df = spark.createDataFrame([(x.tolist(), float(t)) for x, t in zip(X, y)],
                               "features array<double>, label double").repartition(3)
    _, auc = evaluate_dataframe(df, np.array([1.0]), -1.0, 0.5)
    assert auc == pytest.approx(skm.roc_auc_score(y, sigmoid(X[:, 0] - 1.0)), abs=1e-12)


def test_evaluate_rejects_a_feature_count_mismatch(labelled: Any) -> None:
    with pytest.raises(DataValidationError, match="has 3 features, but the model was fitted on 2"):
        evaluate_dataframe(labelled, np.zeros(2), 0.0, 0.5)


def test_dataframe_backend_fit_checkpoints_and_resumes(blobs: Any, tmp_path: Any) -> None:
    if "backend" not in KMeans().get_params():
        pytest.skip("KMeans has no 'backend' parameter yet (the DataFrame-backend hook)")
    params = dict(k=3, init=BLOB_CENTRES, tol=0.0, weight_col="w", backend="dataframe",
                  checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_interval=1)
    KMeans(max_iter=2, **params).fit(blobs)
    resumed = KMeans(max_iter=4, **params).fit(blobs)
    straight = KMeans(max_iter=4, **{**params, "checkpoint_dir": None}).fit(blobs)
    assert resumed.resumed_iteration_ == 2
    np.testing.assert_array_equal(resumed.cluster_centers_, straight.cluster_centers_)
    assert resumed.history_ == [{**h, "seconds": r["seconds"]} for h, r in
                                zip(straight.history_, resumed.history_)]
