"""Every algorithm on both backends, from one parametrised fixture.

Each test runs once on the RDD backend (:class:`~rddml.engine.blocks.BlockDataset`) and
once on the DataFrame backend (:class:`~rddml.engine.frames.FrameDataset`, the code
that runs under Spark Connect), against one independent reference: NumPy closed forms,
a NumPy Lloyd, scikit-learn. Where both backends must agree exactly (an explicit
init, the optimisers), the RDD result is the reference too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans as SkKMeans
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from tests.dataframe_support import (
    BLOB_CENTRES,
    assert_metrics_match_scikit_learn,
    blob_arrays,
    blob_frame,
    labelled_arrays,
    labelled_frame,
)

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.cluster.init import INITIALISERS
from rddml.cluster.kernels import normalise_rows
from rddml.cluster.passes import cost_pass, lloyd_pass, unit_rows_view, warm_up_kernels
from rddml.engine.dataset import Dataset
from rddml.engine.frames import FrameDataset
from rddml.errors import DataValidationError
from rddml.linear.kernels import sigmoid
from rddml.linear.passes import label_census_pass, loss_grad_pass

BACKENDS = ["rdd", "dataframe"]


@pytest.fixture(scope="module")
def blobs(spark: Any) -> Iterator[Any]:
    df = blob_frame(spark).persist()
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def labelled(spark: Any) -> Iterator[Any]:
    df = labelled_frame(spark).persist()
    yield df
    df.unpersist()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def dataset(backend: str, df: Any, **cols: Any) -> Dataset:
    """The engine dataset of ``df`` on ``backend`` (the caller unpersists it)."""
    cls = BlockDataset if backend == "rdd" else FrameDataset
    return cls.from_dataframe(df, **{"features_col": "features", **cols})


def sorted_rows(X: np.ndarray) -> np.ndarray:
    return X[np.lexsort(X.T[::-1])]


def numpy_lloyd(X: np.ndarray, w: np.ndarray, C: np.ndarray, n_iter: int) -> np.ndarray:
    for _ in range(n_iter):
        labels = ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1)
        C = np.array([np.average(X[labels == j], axis=0, weights=w[labels == j])
                      for j in range(len(C))])
    return C


# ------------------------------------------------------------------------- k-means
@pytest.mark.parametrize("aggregation", ["tree", "reduceByKey"])
def test_lloyd_pass_matches_numpy(backend: str, blobs: Any, aggregation: str) -> None:
    X, w = blob_arrays()
    init = np.vstack([BLOB_CENTRES[:2], [[100.0, 100.0, 100.0]]])  # the third is empty
    with dataset(backend, blobs, weight_col="w") as ds:
        stats = lloyd_pass(ds, init, aggregation=aggregation, n_far=3)
    d2 = ((X[:, None] - init[None]) ** 2).sum(-1)
    labels = d2.argmin(1)
    for j in range(3):
        np.testing.assert_allclose(stats.sums[j], (w[labels == j, None] * X[labels == j]).sum(0),
                                   rtol=1e-12, atol=1e-9)
        assert stats.counts[j] == pytest.approx(w[labels == j].sum(), rel=1e-12, abs=0)
    assert stats.cost == pytest.approx(float(w @ d2.min(1)), rel=1e-12)
    far = np.argsort(-(w * d2.min(1)), kind="stable")[:3]  # weighted, as scikit-learn
    np.testing.assert_array_equal(sorted_rows(stats.far_points), sorted_rows(X[far]))


def test_cost_pass_and_compute_cost_match_numpy(backend: str, blobs: Any) -> None:
    X, w = blob_arrays()
    d2 = ((X[:, None] - BLOB_CENTRES[None]) ** 2).sum(-1).min(1)
    with dataset(backend, blobs) as ds:
        assert cost_pass(ds, BLOB_CENTRES) == pytest.approx(d2.sum(), rel=1e-12)
    km = KMeans(k=3, weight_col="w", backend=backend)
    km.cluster_centers_ = BLOB_CENTRES
    assert km.compute_cost(blobs) == pytest.approx(float(w @ d2), rel=1e-12)


@pytest.mark.parametrize("aggregation", ["tree", "reduceByKey"])
def test_explicit_init_fit_matches_numpy_lloyd(backend: str, blobs: Any, aggregation: str) -> None:
    X, w = blob_arrays()
    km = KMeans(k=3, init=BLOB_CENTRES, max_iter=4, tol=0.0, weight_col="w",
                aggregation=aggregation, backend=backend).fit(blobs)
    np.testing.assert_allclose(km.cluster_centers_, numpy_lloyd(X, w, BLOB_CENTRES, 4),
                               rtol=0, atol=1e-9)
    assert km.n_iter_ == 4
    np.testing.assert_array_equal(km.init_centers_, BLOB_CENTRES)


def test_both_backends_give_identical_fits_from_an_explicit_init(blobs: Any) -> None:
    params = dict(k=3, init=BLOB_CENTRES, max_iter=4, tol=0.0, weight_col="w")
    rdd = KMeans(**params, backend="rdd").fit(blobs)
    frame = KMeans(**params, backend="dataframe").fit(blobs)
    np.testing.assert_allclose(frame.cluster_centers_, rdd.cluster_centers_, rtol=0, atol=1e-12)
    assert [h["cost"] for h in frame.history_] == pytest.approx(
        [h["cost"] for h in rdd.history_], rel=1e-12)


def test_cosine_fit_matches_spherical_numpy_lloyd(backend: str, blobs: Any) -> None:
    X, _ = blob_arrays()
    U = normalise_rows(X)
    init = normalise_rows(BLOB_CENTRES + 1.0)
    C = init.copy()
    for _ in range(4):
        labels = (U @ C.T).argmax(1)
        C = normalise_rows(np.array([U[labels == j].sum(0) for j in range(3)]))
    km = KMeans(k=3, init=BLOB_CENTRES + 1.0, max_iter=4, tol=0.0, distance="cosine",
                features_col=None, feature_cols=["x0", "x1", "x2"], backend=backend).fit(blobs)
    np.testing.assert_allclose(km.cluster_centers_, C, rtol=0, atol=1e-9)
    assert km.inertia_ == pytest.approx(float((1 - (U @ C.T).max(1)).sum()), rel=1e-9)


def test_unit_rows_view_rejects_zero_rows_and_shares_the_data(backend: str, spark: Any) -> None:
    df = spark.createDataFrame([([0.0, 0.0],), ([3.0, 4.0],)], "features array<double>")
    with dataset(backend, df) as ds, pytest.raises(DataValidationError,
                                                    match="cosine' needs non-zero points"):
        unit_rows_view(ds)
    df = spark.createDataFrame([([0.0, 2.0],), ([3.0, 4.0],)], "features array<double>")
    with dataset(backend, df) as ds:
        view = unit_rows_view(ds)
        # rows (0, 1) and (0.6, 0.8) against the centre (0, 1): 0 + 0.36 + 0.04
        assert cost_pass(view, np.array([[0.0, 1.0]])) == pytest.approx(0.4, rel=1e-12)
        view.unpersist()  # a view releases nothing: the dataset still answers
        assert cost_pass(ds, np.array([[0.0, 2.0]])) == pytest.approx(9 + 4, rel=1e-12)


def test_kernel_warm_up_leaves_reusable_workers_with_numba_out_of_the_gc(
        backend: str, blobs: Any) -> None:
    """The warm-up's tasks read their partition (a PySpark worker that leaves its input
    unread is not reused: every task forked a fresh worker that imported numba again), and
    the workers freeze numba's objects (PySpark collects garbage after every task, which
    walked them all: tens of milliseconds per task)."""
    pytest.importorskip("numba")
    import rddml._jit as _jit

    kernels = _jit.resolve_kernels(None)
    if not _jit.use_fused(True, kernels):
        pytest.skip("RDDML_KERNELS=numpy: no fused kernels to warm up")

    def pid_and_frozen(_: None) -> tuple[int, int]:
        import gc
        import os

        return os.getpid(), gc.get_freeze_count()

    with dataset(backend, blobs.repartition(6)) as ds:
        assert ds.num_partitions == 6
        warm_up_kernels(ds, 3, kernels)
        seen = ds.per_partition(pid_and_frozen, None) + ds.per_partition(pid_and_frozen, None)
    assert len({pid for pid, _ in seen}) < 6  # was 12 workers for 12 tasks
    assert all(frozen > 0 for _, frozen in seen)


@pytest.mark.parametrize("init", ["random", "k-means++", "k-means||"])
def test_seeded_init_does_not_depend_on_partitioning(backend: str, blobs: Any, init: str) -> None:
    X, w = blob_arrays()
    # coalesce keeps the row order, so the RDD backend's global row indices are unchanged.
    with dataset(backend, blobs, weight_col="w") as three, \
            dataset(backend, blobs.coalesce(1), weight_col="w") as one:
        a = INITIALISERS[init](three, 3, 11)
        b = INITIALISERS[init](one, 3, 11)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    if init != "k-means||":  # sampling inits pick distinct data points
        assert len(np.unique(a, axis=0)) == 3
        assert all(np.any(np.all(c == X, axis=1)) for c in a)
        return
    km = KMeans(k=3, init=a, max_iter=10, weight_col="w", backend=backend).fit(blobs)
    best = SkKMeans(n_clusters=3, n_init=10, random_state=0).fit(X, sample_weight=w)
    assert km.inertia_ <= best.inertia_ * (1 + 1e-6)  # the well-separated optimum


def test_random_init_with_few_distinct_points(backend: str, spark: Any) -> None:
    df = spark.createDataFrame([([0.0],)] * 20 + [([1.0],)] * 20 + [([2.0],)],
                               "features array<double>").repartition(3)
    with dataset(backend, df) as ds:
        for init in INITIALISERS.values():
            centres = init(ds, 3, 0)
            assert sorted(centres.ravel().tolist()) == [0.0, 1.0, 2.0]


# ------------------------------------------------------------- logistic regression
def test_loss_and_gradient_pass_matches_the_numpy_closed_form(backend: str, labelled: Any) -> None:
    X, y, w = labelled_arrays()
    coef, intercept = np.array([0.3, -0.2, 0.5]), 0.7
    p = sigmoid(X @ coef + intercept)
    with dataset(backend, labelled, label_col="label", weight_col="w") as ds:
        sums = loss_grad_pass(ds, coef, intercept)
        half = loss_grad_pass(ds, coef, intercept, class_weights=(1.0, 0.5))
    loss = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum()
    assert sums.loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(sums.grad_coef, X.T @ (w * (p - y)), rtol=1e-12)
    assert sums.grad_intercept == pytest.approx(float(w @ (p - y)), rel=1e-12)
    assert (sums.weight, sums.count) == (pytest.approx(w.sum(), rel=1e-12), len(y))
    assert half.weight == pytest.approx(float(w @ np.where(y == 1, 0.5, 1.0)), rel=1e-12)


def test_label_census_pass_matches_numpy(backend: str, labelled: Any) -> None:
    X, y, w = labelled_arrays()
    with dataset(backend, labelled, label_col="label", weight_col="w") as ds:
        got = label_census_pass(ds).class_moments(2)
    for c in (0, 1):
        rows = y == c
        assert got.count[c] == rows.sum()
        assert got.weight[c] == pytest.approx(w[rows].sum(), rel=1e-12)
        np.testing.assert_allclose(got.mean[c], np.average(X[rows], axis=0, weights=w[rows]),
                                   rtol=1e-12)


@pytest.mark.parametrize("params", [
    dict(optimizer="gd", step_size=1.0, max_iter=10, tol=0.0),
    dict(optimizer="lbfgs", reg_param=0.01, class_weight="balanced", weight_col="w"),
    dict(optimizer="lbfgs", reg_param=0.05, l1_ratio=1.0, max_iter=40),
    dict(optimizer="sgd", batch_fraction=0.3, seed=3, max_iter=4, step_size=0.5),
], ids=["gd", "lbfgs-balanced-weighted", "owlqn-l1", "sgd"])
def test_fit_is_the_same_on_both_backends(labelled: Any, params: dict[str, Any]) -> None:
    """Both backends run the same optimiser on the same passes: equal to 1e-9 (SGD: the
    batches are drawn from different row keys, so only its loss level is compared)."""
    rdd = LogisticRegression(**params, backend="rdd").fit(labelled)
    frame = LogisticRegression(**params, backend="dataframe").fit(labelled)
    if params["optimizer"] == "sgd":
        assert frame.loss_history_[-1] == pytest.approx(rdd.loss_history_[-1], rel=0.2)
        return
    np.testing.assert_allclose(frame.coef_, rdd.coef_, rtol=0, atol=1e-9)
    assert frame.intercept_ == pytest.approx(rdd.intercept_, abs=1e-9)
    assert frame.n_iter_ == rdd.n_iter_
    np.testing.assert_allclose(frame.loss_history_, rdd.loss_history_, rtol=1e-12)


def test_lbfgs_matches_scikit_learn(backend: str, labelled: Any) -> None:
    X, y, w = labelled_arrays()
    reg = 0.01
    ours = LogisticRegression(reg_param=reg, standardize=False, weight_col="w", tol=1e-10,
                              max_iter=500, backend=backend).fit(labelled)
    ref = SkLogisticRegression(C=1 / (reg * w.sum()), tol=1e-12, max_iter=10_000).fit(
        X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], rtol=0, atol=1e-4)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-4)


def test_sgd_batches_do_not_depend_on_partitioning(backend: str, labelled: Any) -> None:
    params = dict(optimizer="sgd", batch_fraction=0.3, seed=3, max_iter=4, step_size=0.5,
                  backend=backend)
    three = LogisticRegression(**params).fit(labelled)
    one = LogisticRegression(**params).fit(labelled.coalesce(1))
    np.testing.assert_allclose(one.loss_history_, three.loss_history_, rtol=1e-12)
    np.testing.assert_allclose(one.coef_, three.coef_, rtol=0, atol=1e-12)


def fitted_logistic(coef: list[float], intercept: float, backend: str,
                    **params: Any) -> LogisticRegression:
    lr = LogisticRegression(backend=backend, **params)
    lr.coef_, lr.intercept_ = np.array(coef), intercept
    return lr


def test_evaluate_matches_scikit_learn(backend: str, labelled: Any) -> None:
    X, y, w = labelled_arrays()
    coef, intercept = [0.8, -0.4, 0.3], 3.5
    got = fitted_logistic(coef, intercept, backend, weight_col="w").evaluate(labelled)
    assert_metrics_match_scikit_learn(got, y, sigmoid(X @ np.array(coef) + intercept), w)


def test_evaluate_auc_counts_tied_scores_as_half(backend: str, spark: Any) -> None:
    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, size=(300, 1)).astype(float)  # three distinct scores only
    y = (rng.uniform(size=300) < 0.3 + 0.2 * X[:, 0]).astype(float)
    df = spark.createDataFrame([(x.tolist(), float(t)) for x, t in zip(X, y)],
                               "features array<double>, label double").repartition(3)
    auc = fitted_logistic([1.0], -1.0, backend).evaluate(df)["auc"]
    assert auc == pytest.approx(skm.roc_auc_score(y, sigmoid(X[:, 0] - 1.0)), abs=1e-12)


def test_evaluate_rejects_a_feature_count_mismatch(backend: str, labelled: Any) -> None:
    with pytest.raises(DataValidationError, match="has 3 features, but the model was fitted on 2"):
        fitted_logistic([0.0, 0.0], 0.0, backend).evaluate(labelled)


def test_content_digest_is_the_same_on_both_backends_and_any_partitioning(blobs: Any) -> None:
    with dataset("rdd", blobs, weight_col="w") as a, \
            dataset("dataframe", blobs.coalesce(1), weight_col="w") as b, \
            dataset("rdd", blobs) as unweighted:
        assert a.digest == b.digest
        assert a.digest != unweighted.digest
