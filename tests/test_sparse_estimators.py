"""The estimators on sparse (CSR) blocks: both layouts of the same rows give the same
model on both backends, and sparse fits agree with independent references
(scikit-learn's LogisticRegression on the same CSR matrix, pyspark.ml's
LogisticRegression and KMeans on the same SparseVector column, a NumPy spherical
k-means on TF-IDF rows). Small data: each fit takes a few seconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.engine.frames import FrameDataset
from rddml.errors import DataValidationError


# ------------------------------------------------------------------ data
def text_like(n: int, d: int, nnz: int, seed: int) -> sp.csr_matrix:
    """Rows of ``nnz`` non-zeros at Zipf-distributed columns, positive counts (no row empty)."""
    rng = np.random.default_rng(seed)
    cols = np.minimum(rng.zipf(1.3, size=(n, nnz)) - 1, d - 1)
    rows = np.repeat(np.arange(n), nnz)
    X = sp.csr_matrix((np.ones(n * nnz), (rows, cols.ravel())), shape=(n, d))
    X.sum_duplicates()
    return X


def labelled(seed: int = 0, n: int = 1500, d: int = 400) -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = text_like(n, d, 12, seed)
    X.data *= rng.random(X.nnz) + 0.5
    w = rng.normal(size=d) * (rng.random(d) < 0.2)
    z = X @ w - 0.3
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return X, y


def topics(seed: int = 0, n: int = 900, d: int = 300, k: int = 3) -> tuple[sp.csr_matrix,
                                                                              np.ndarray]:
    """TF-IDF-like rows from k topics with disjoint vocabularies (clear clusters)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    span = d // k
    cols = truth[:, None] * span + np.minimum(rng.zipf(1.5, size=(n, 8)) - 1, span - 1)
    noise = rng.integers(0, d, size=(n, 2))
    allc = np.concatenate([cols, noise], axis=1)
    rows = np.repeat(np.arange(n), allc.shape[1])
    X = sp.csr_matrix((rng.random(rows.size) + 0.5, (rows, allc.ravel())), shape=(n, d))
    X.sum_duplicates()
    return X, truth


def vector_frame(spark: Any, X: sp.csr_matrix, y: np.ndarray | None = None,
                 dense: bool = False, w: np.ndarray | None = None, parts: int = 3) -> Any:
    from pyspark.ml.linalg import Vectors

    rows = []
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        v = (Vectors.dense(X[i].toarray()[0]) if dense else
             Vectors.sparse(X.shape[1], X.indices[lo:hi].tolist(), X.data[lo:hi].tolist()))
        row: list[Any] = [v]
        if y is not None:
            row.append(float(y[i]))
        if w is not None:
            row.append(float(w[i]))
        rows.append(tuple(row))
    names = ["features"] + (["label"] if y is not None else []) + (["weight"] if w is not None
                                                                   else [])
    return spark.createDataFrame(rows, names).repartition(parts)


# ------------------------------------------------------- layouts, both backends
def fit_lr(data: Any, **params: Any) -> LogisticRegression:
    """A converged fit (for comparisons with other libraries)."""
    return LogisticRegression(**{"tol": 1e-10, "max_iter": 300, **params}).fit(data)


def same_steps(data: Any, max_iter: int = 15, **params: Any) -> LogisticRegression:
    """A fixed number of optimiser iterations, however far from the optimum: both layouts
    must take the same steps (their passes differ only by rounding)."""
    return LogisticRegression(tol=0.0, max_iter=max_iter, **params).fit(data)


@pytest.mark.parametrize("params", [
    {"reg_param": 0.01},
    {"reg_param": 0.02, "l1_ratio": 0.5},
    {"reg_param": 0.01, "standardize": False, "weighted": True},
])
def test_logistic_sparse_and_dense_layouts_give_the_same_model_rdd_backend(
        sc: Any, params: dict[str, Any]) -> None:
    X, y = labelled()
    weighted = params.pop("weighted", False)
    w = np.random.default_rng(1).random(X.shape[0]) + 0.5 if weighted else None
    models = {}
    for layout, data, storage in (("sparse", X, "executor"), ("sparse", X, "spark"),
                                  ("dense", X.toarray(), "executor")):
        with BlockDataset.from_numpy(sc, data, y, w, storage=storage,
                                     max_block_rows=400) as ds:
            assert ds.layout == layout
            models[layout, storage] = same_steps(ds, **params)
    ref = models["dense", "executor"]
    for key, model in models.items():
        np.testing.assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-9, err_msg=str(key))
        assert abs(model.intercept_ - ref.intercept_) < 1e-9


def test_logistic_layouts_agree_on_the_dataframe_backend(spark: Any) -> None:
    X, y = labelled(seed=2, n=900, d=300)
    sparse_df = vector_frame(spark, X, y)
    dense_df = vector_frame(spark, X, y, dense=True)
    fits = {}
    for name, df, layout in (("auto", sparse_df, "auto"), ("dense", dense_df, "dense")):
        with FrameDataset.from_dataframe(df, features_col="features", label_col="label",
                                         layout=layout) as ds:
            assert ds.layout == ("dense" if name == "dense" else "sparse")
            fits[name] = same_steps(ds, max_iter=8, reg_param=0.01, family="binomial")
    np.testing.assert_allclose(fits["auto"].coef_, fits["dense"].coef_, atol=1e-9)
    # and the RDD backend on the same DataFrame, read sparse
    rdd_fit = same_steps(sparse_df, max_iter=8, reg_param=0.01, backend="rdd")
    np.testing.assert_allclose(rdd_fit.coef_, fits["dense"].coef_, atol=1e-9)


def test_multinomial_and_sgd_on_sparse_blocks_equal_dense(sc: Any) -> None:
    X, _ = labelled(seed=3, n=600, d=120)
    y = np.asarray(X[:, :3].toarray().argmax(axis=1), dtype=np.float64)
    for params in ({"reg_param": 0.05, "l1_ratio": 0.3},
                   {"optimizer": "sgd", "batch_fraction": 0.5, "seed": 3, "step_size": 0.5}):
        got = {}
        for data in (X, X.toarray()):
            with BlockDataset.from_numpy(sc, data, y, max_block_rows=300) as ds:
                got[ds.layout] = same_steps(ds, max_iter=10, **params)
        np.testing.assert_allclose(got["sparse"].coef_, got["dense"].coef_, atol=1e-9)
        np.testing.assert_allclose(got["sparse"].intercept_, got["dense"].intercept_, atol=1e-9)


# ---------------------------------------------------------------- references
def test_sparse_logistic_equals_scikit_learn_on_the_same_csr_matrix(sc: Any) -> None:
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    X, y = labelled(seed=4, n=800, d=200)
    C = 0.2
    sk = SkLogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    with BlockDataset.from_numpy(sc, X, y, max_block_rows=500) as ds:
        assert ds.layout == "sparse"
        lr = fit_lr(ds, reg_param=1.0 / (C * X.shape[0]), standardize=False)
    np.testing.assert_allclose(lr.coef_, sk.coef_[0], atol=1e-6)
    assert abs(lr.intercept_ - sk.intercept_[0]) < 1e-6
    # scoring a SciPy matrix stays sparse and matches scikit-learn's probabilities
    np.testing.assert_allclose(lr.predict_proba(X), sk.predict_proba(X)[:, 1], atol=1e-6)


def test_sparse_logistic_equals_pyspark_ml_with_standardization_and_elastic_net(
        spark: Any) -> None:
    from pyspark.ml.classification import LogisticRegression as SparkLogisticRegression

    X, y = labelled(seed=5, n=1200, d=300)
    df = vector_frame(spark, X, y).cache()
    ref = SparkLogisticRegression(regParam=0.01, elasticNetParam=0.5, standardization=True,
                                  tol=1e-12, maxIter=500).fit(df)
    lr = fit_lr(df, reg_param=0.01, l1_ratio=0.5, standardize=True)
    np.testing.assert_allclose(lr.coef_, ref.coefficients.toArray(), atol=1e-4)
    assert abs(lr.intercept_ - ref.intercept) < 1e-4
    # zero coefficients (never-seen columns, L1) are zero in both
    assert np.array_equal(lr.coef_ == 0, ref.coefficients.toArray() == 0)
    # transform on the sparse column equals pyspark.ml's probabilities
    got = lr.predict_proba(df).select("probability").toPandas()["probability"].to_numpy()
    want = np.array([p[1] for p in ref.transform(df).select("probability").toPandas()
                     ["probability"]])
    np.testing.assert_allclose(got, want, atol=1e-4)
    df.unpersist()


# ------------------------------------------------------------------ k-means
@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_kmeans_sparse_and_dense_layouts_give_the_same_model(sc: Any, init: str,
                                                              distance: str) -> None:
    X, _ = topics()
    w = np.random.default_rng(6).random(X.shape[0]) + 0.5
    models = {}
    for data in (X, X.toarray()):
        with BlockDataset.from_numpy(sc, data, None, w, max_block_rows=250) as ds:
            models[ds.layout] = KMeans(k=3, init=init, seed=7, distance=distance, tol=0.0,
                                       max_iter=15).fit(ds)
            labels = np.concatenate(models[ds.layout].predict(ds).collect())
            models[ds.layout].labels = labels
    a, b = models["sparse"], models["dense"]
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.inertia_, b.inertia_, rtol=1e-10)


def test_kmeans_layouts_agree_on_the_dataframe_backend(spark: Any) -> None:
    X, _ = topics(seed=8, n=600)
    sparse_df = vector_frame(spark, X).cache()
    dense_df = vector_frame(spark, X, dense=True).cache()
    fits = {}
    for name, df, layout in (("sparse", sparse_df, "auto"), ("dense", dense_df, "dense")):
        with FrameDataset.from_dataframe(df, features_col="features", layout=layout) as ds:
            assert ds.layout == name
            fits[name] = KMeans(k=3, seed=9, distance="cosine", tol=0.0, max_iter=10).fit(ds)
    np.testing.assert_allclose(fits["sparse"].cluster_centers_, fits["dense"].cluster_centers_,
                               rtol=1e-12, atol=1e-14)
    # predictions read the sparse column sparse (or densified): the same labels
    labels = [np.array([r[0] for r in fits[name].predict(sparse_df).select("prediction")
                        .collect()]) for name in ("sparse", "dense")]
    np.testing.assert_array_equal(labels[0], labels[1])
    assert labels[0].shape == (600,) and len(set(labels[0].tolist())) == 3
    sparse_df.unpersist()
    dense_df.unpersist()


def numpy_spherical_kmeans(X: np.ndarray, centres: np.ndarray, iters: int) -> np.ndarray:
    """Spherical k-means (unit rows, centres renormalised each step), dense NumPy."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = centres.copy()
    for _ in range(iters):
        labels = np.argmax(U @ C.T, axis=1)
        C = np.array([U[labels == j].mean(axis=0) for j in range(C.shape[0])])
        C /= np.linalg.norm(C, axis=1, keepdims=True)
    return C


def test_spherical_kmeans_on_tfidf_matches_a_numpy_reference(spark: Any) -> None:
    from pyspark.ml.feature import IDF

    X, truth = topics(seed=10, n=750, d=240)
    df = vector_frame(spark, X)
    tfidf = IDF(inputCol="features", outputCol="tfidf").fit(df).transform(df).cache()
    rows = tfidf.select("tfidf").collect()
    T = np.array([r[0].toArray() for r in rows])
    init = T[[int(np.flatnonzero(truth == j)[0]) for j in range(3)]]
    km = KMeans(k=3, init=init, distance="cosine", tol=0.0, max_iter=8, features_col="tfidf",
                layout="sparse").fit(tfidf)
    ref = numpy_spherical_kmeans(T, init / np.linalg.norm(init, axis=1, keepdims=True), 8)
    np.testing.assert_allclose(km.cluster_centers_, ref, rtol=1e-10, atol=1e-12)
    tfidf.unpersist()


def test_kmeans_cosine_equals_pyspark_ml_on_sparse_vectors(spark: Any) -> None:
    from pyspark.ml.clustering import KMeans as SparkKMeans

    X, truth = topics(seed=11, n=600)
    df = vector_frame(spark, X).cache()
    # one row of each topic to start from; pyspark.ml seeds itself (k-means||): the topics
    # are far apart, so both find them and their centres (normalised means) must agree
    init = X[[int(np.flatnonzero(truth == j)[0]) for j in range(3)]].toarray()
    km = KMeans(k=3, init=init, distance="cosine", tol=1e-12, max_iter=30).fit(df)
    ref = SparkKMeans(k=3, distanceMeasure="cosine", maxIter=30, tol=1e-12, seed=1).fit(df)
    ours = np.sort(km.cluster_centers_, axis=0)
    theirs = np.array(ref.clusterCenters())
    theirs = np.sort(theirs / np.linalg.norm(theirs, axis=1, keepdims=True), axis=0)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    df.unpersist()


# ------------------------------------------------------------------ inputs
def test_sparse_rdd_records_and_predictions(sc: Any) -> None:
    from pyspark.ml.linalg import Vectors
    from pyspark.mllib.linalg import Vectors as MllibVectors

    X, y = labelled(seed=12, n=600, d=150)
    records = []
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        make = Vectors if i % 2 else MllibVectors
        records.append((make.sparse(150, X.indices[lo:hi].tolist(), X.data[lo:hi].tolist()),
                        float(y[i])))
    rdd = sc.parallelize(records, 3)
    lr = fit_lr(rdd, reg_param=0.01)
    with BlockDataset.from_rdd(rdd, labeled=True) as ds:
        assert ds.layout == "sparse" and ds.nnz == X.nnz
    ref = fit_lr(sc.parallelize([(X[i].toarray()[0].tolist(), float(y[i]))
                                 for i in range(X.shape[0])], 3), reg_param=0.01)
    np.testing.assert_allclose(lr.coef_, ref.coef_, atol=1e-9)
    np.testing.assert_allclose(np.array(lr.predict_proba(rdd).collect()),
                               lr.predict_proba(X), atol=1e-12)


def test_bad_sparse_inputs_are_reported_by_row(spark: Any, sc: Any) -> None:
    from pyspark.ml.linalg import Vectors

    df = spark.createDataFrame([(Vectors.sparse(300, [1, 5], [1.0, 2.0]), 0.0),
                                (Vectors.sparse(299, [2], [1.0]), 1.0)], ["features", "label"])
    with pytest.raises(DataValidationError, match="row 1 of the partition is a vector of size "
                                                  "299, expected 300"):
        BlockDataset.from_dataframe(df.coalesce(1), label_col="label", layout="sparse")
    df = spark.createDataFrame([(Vectors.sparse(300, [1, 5], [1.0, float("nan")]), 0.0)],
                               ["features", "label"])
    with pytest.raises(DataValidationError, match="non-finite value nan in feature 5"):
        LogisticRegression(layout="sparse").fit(df.coalesce(1))
    rdd = sc.parallelize([(Vectors.sparse(10, [1], [1.0]), 0.0),
                          (sp.csr_matrix(([1.0, 2.0], ([0, 0], [3, 3])), shape=(1, 11)), 1.0)], 1)
    with pytest.raises(DataValidationError, match="element 1 of partition 0 has 11 features, "
                                                  "expected 10"):
        BlockDataset.from_rdd(rdd, labeled=True)
