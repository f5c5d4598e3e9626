"""Distributed k-means against independent references (NumPy Lloyd, scikit-learn)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from rddml import BlockDataset, KMeans
from rddml.errors import DataValidationError, InvalidParameterError, NotFittedError

# The write-up's data set and its true centroids (per-label means, as it prints them).
WRITEUP_X, WRITEUP_Y = make_blobs(n_samples=10000, n_features=2, centers=5, random_state=12345)
TRUE_CENTRES = np.array([WRITEUP_X[i == WRITEUP_Y].mean(axis=0) for i in range(5)])


def numpy_lloyd(X: np.ndarray, centres: np.ndarray, n_iter: int) -> np.ndarray:
    """Textbook Lloyd on one machine: the reference for the distributed result."""
    C = centres.copy()
    for _ in range(n_iter):
        labels = ((X[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
        C = np.array([X[labels == j].mean(0) if (labels == j).any() else C[j]
                      for j in range(len(C))])
    return C


def max_centre_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Largest distance from a true centre to its closest found centre (order-free)."""
    d = np.linalg.norm(truth[:, None, :] - found[None], axis=2)
    assert len(set(d.argmin(axis=1))) == len(truth), "two true centres share one found centre"
    return float(d.min(axis=1).max())


@pytest.fixture(scope="module")
def blobs(sc: Any) -> dict[int, BlockDataset]:
    """The write-up data cached once with 1 and with 8 partitions."""
    data = {p: BlockDataset.from_rdd(sc.parallelize(WRITEUP_X.tolist(), p)) for p in (1, 8)}
    yield data
    for ds in data.values():
        ds.unpersist()


INIT = WRITEUP_X[[0, 1, 2, 3, 4]]


@pytest.mark.parametrize("aggregation", ["reduceByKey", "tree"])
@pytest.mark.parametrize("partitions", [1, 8])
def test_matches_numpy_lloyd_from_same_init(
    blobs: dict[int, BlockDataset], partitions: int, aggregation: str
) -> None:
    # 5 iterations: the centres still move (shift 0.09 at the 5th; Lloyd from INIT
    # settles at the 11th), so every iteration is compared while it changes the centres.
    km = KMeans(k=5, init=INIT, max_iter=5, tol=0, aggregation=aggregation)
    km.fit(blobs[partitions])
    np.testing.assert_allclose(km.cluster_centers_, numpy_lloyd(WRITEUP_X, INIT, 5),
                               rtol=0, atol=1e-10)
    assert km.n_iter_ == 5 and not km.converged_
    assert [h["iteration"] for h in km.history_] == list(range(1, 6))


def test_inertia_matches_scikit_learn_from_same_init(blobs: dict[int, BlockDataset]) -> None:
    # Lloyd from INIT stops moving at iteration 11 (scikit-learn's strict convergence):
    # 15 iterations end both at that fixed point, as 50 did.
    km = KMeans(k=5, init=INIT, max_iter=15, tol=0).fit(blobs[8])
    sk = SkKMeans(5, init=INIT, n_init=1, max_iter=15, tol=0, algorithm="lloyd").fit(WRITEUP_X)
    assert sk.n_iter_ < 15 and km.history_[-1]["shift"] == 0.0
    assert km.inertia_ == pytest.approx(sk.inertia_, rel=1e-6)
    np.testing.assert_allclose(np.sort(km.cluster_centers_, axis=0),
                               np.sort(sk.cluster_centers_, axis=0), atol=1e-8)


@pytest.mark.parametrize("init", ["k-means||", "k-means++"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_writeup_case_recovers_true_centroids(
    blobs: dict[int, BlockDataset], init: str, seed: int
) -> None:
    km = KMeans(k=5, init=init, max_iter=10, seed=seed).fit(blobs[8])
    assert max_centre_error(km.cluster_centers_, TRUE_CENTRES) < 0.05


def test_writeup_random_init_can_land_in_a_local_optimum(blobs: dict[int, BlockDataset]) -> None:
    """With the write-up's init (k random points) some seeds work and some do not:
    that is k-means, not a bug (docs/kmeans.md, "The write-up's case")."""
    good = KMeans(k=5, init="random", max_iter=10, seed=1).fit(blobs[8])
    bad = KMeans(k=5, init="random", max_iter=10, seed=0).fit(blobs[8])
    assert max_centre_error(good.cluster_centers_, TRUE_CENTRES) < 0.05
    assert bad.inertia_ > 1.5 * good.inertia_  # two true clusters merged, one split


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_same_seed_same_result_for_any_partitioning(
    blobs: dict[int, BlockDataset], init: str
) -> None:
    # Two Lloyd iterations after the init: equal centres then show equal iterations too.
    one = KMeans(k=5, init=init, max_iter=2, seed=3).fit(blobs[1])
    many = KMeans(k=5, init=init, max_iter=2, seed=3).fit(blobs[8])
    np.testing.assert_allclose(one.init_centers_, many.init_centers_, atol=1e-12)
    np.testing.assert_allclose(one.cluster_centers_, many.cluster_centers_, atol=1e-9)


def test_random_init_picks_distinct_data_points(sc: Any) -> None:
    pts = [[0.0, 0.0]] * 50 + [[1.0, 1.0]] * 50 + [[2.0, 2.0]]
    km = KMeans(k=3, init="random", max_iter=2, seed=1).fit(sc.parallelize(pts, 3))
    assert {tuple(c) for c in km.init_centers_} == {(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)}


def test_dataframe_inputs_give_the_same_centres(spark: Any, blobs: dict[int, BlockDataset]) -> None:
    from pyspark.ml.linalg import Vectors

    X = WRITEUP_X[:500]  # the input's form is what varies; 500 rows hold all 5 blobs
    ref = KMeans(k=5, init=INIT, max_iter=3, tol=0).fit(spark.sparkContext.parallelize(X.tolist(), 3))
    vec = spark.createDataFrame([(Vectors.dense(x),) for x in X.tolist()], ["features"])
    arr = spark.createDataFrame([(x,) for x in X.tolist()], ["v"])
    cols = spark.createDataFrame([tuple(x) for x in X.tolist()], ["a", "b"])
    for model in (
        KMeans(k=5, init=INIT, max_iter=3, tol=0).fit(vec),
        KMeans(k=5, init=INIT, max_iter=3, tol=0, features_col="v").fit(arr),
        KMeans(k=5, init=INIT, max_iter=3, tol=0, feature_cols=["a", "b"]).fit(cols),
    ):
        np.testing.assert_allclose(model.cluster_centers_, ref.cluster_centers_, atol=1e-10)


def test_weights_act_like_repeated_points(sc: Any) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) + np.repeat([[0, 0], [6, 6]], 100, axis=0)
    w = rng.integers(1, 4, size=200)
    init = X[[0, 150]]
    weighted = KMeans(k=2, init=init, max_iter=3, tol=0).fit(
        sc.parallelize([(x, float(wi)) for x, wi in zip(X.tolist(), w)], 4))
    repeated = KMeans(k=2, init=init, max_iter=3, tol=0).fit(
        sc.parallelize(np.repeat(X, w, axis=0).tolist(), 4))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, atol=1e-10)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)


def test_cosine_distance_is_spherical_kmeans(sc: Any) -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal([5, 1], 0.3, (100, 2)), rng.normal([1, 5], 0.3, (100, 2))])
    init = X[[0, 150]]
    km = KMeans(k=2, init=init, max_iter=5, tol=0, distance="cosine").fit(
        sc.parallelize(X.tolist(), 3))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = init / np.linalg.norm(init, axis=1, keepdims=True)
    for _ in range(5):  # reference: assign by max cosine, mean direction, renormalise
        labels = (U @ C.T).argmax(1)
        C = np.array([U[labels == j].mean(0) for j in range(2)])
        C /= np.linalg.norm(C, axis=1, keepdims=True)
    np.testing.assert_allclose(km.cluster_centers_, C, atol=1e-12)
    labels = (U @ C.T).argmax(1)
    assert km.inertia_ == pytest.approx(float((1 - (U * C[labels]).sum(1)).sum()), rel=1e-9)


@pytest.mark.parametrize("policy", ["farthest", "keep"])
def test_empty_cluster_never_gives_nan(sc: Any, policy: str) -> None:
    X = [[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [10.0, 0.0]]
    init = np.array([[0.0, 1.0], [100.0, 100.0], [10.0, 0.0]])
    km = KMeans(k=3, init=init, max_iter=3, tol=0, empty_cluster=policy).fit(sc.parallelize(X, 2))
    assert np.isfinite(km.cluster_centers_).all()
    assert km.history_[0]["empty_clusters"] == 1
    if policy == "farthest":
        assert len({tuple(c) for c in km.cluster_centers_}) == 3
        assert km.inertia_ == pytest.approx(0.5)  # {(0,0),(0,1)}→(0,.5), {(0,2)}, {(10,0)}
    else:
        np.testing.assert_array_equal(km.cluster_centers_[1], [100.0, 100.0])


def test_empty_cluster_error_policy(sc: Any) -> None:
    init = np.array([[0.0, 1.0], [100.0, 100.0]])
    with pytest.raises(DataValidationError, match="empty cluster"):
        KMeans(k=2, init=init, empty_cluster="error").fit(sc.parallelize([[0.0, 0.0], [0.0, 1.0]]))


def test_converges_before_max_iter_when_centres_stop_moving(blobs: dict[int, BlockDataset]) -> None:
    km = KMeans(k=5, max_iter=100, tol=1e-6, seed=0).fit(blobs[8])
    assert km.converged_ and km.n_iter_ < 100
    assert km.history_[-1]["shift"] < 1e-6
    costs = [h["cost"] for h in km.history_]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(costs))  # Lloyd never increases cost


def test_predict_same_kind_as_input_and_save_load_roundtrip(
    spark: Any, blobs: dict[int, BlockDataset], tmp_path: Any
) -> None:
    km = KMeans(k=5, seed=0, max_iter=3).fit(blobs[8])  # any centres will do
    X = WRITEUP_X[:500]
    expected = ((X[:, None] - km.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(km.predict(X), expected)
    assert km.predict(spark.sparkContext.parallelize(X.tolist(), 3)).collect() == expected.tolist()
    df = spark.createDataFrame([(x,) for x in X.tolist()], ["features"])
    out = km.predict(df)
    assert out.columns == ["features", "prediction"]
    assert [r.prediction for r in out.collect()] == expected.tolist()
    km.save(str(tmp_path / "model"))
    loaded = KMeans.load(str(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.cluster_centers_, km.cluster_centers_)
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert loaded.get_params() == km.get_params()
    with pytest.raises(FileExistsError, match="already exists"):
        km.save(str(tmp_path / "model"))


def test_predict_before_fit_is_a_clear_error() -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        KMeans().predict(np.zeros((1, 2)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": 0}, r"The 'k' parameter must be an int >= 1, got 0"),
        ({"k": 2.5}, r"The 'k' parameter must be an int >= 1, got 2.5"),
        ({"max_iter": -1}, r"'max_iter' parameter must be an int >= 0, got -1"),
        ({"tol": -1.0}, r"'tol' parameter must be a finite float >= 0.0, got -1.0"),
        ({"init": "kmeans"}, r"'init' parameter must be one of 'random', 'k-means\+\+'"),
        ({"distance": "manhattan"}, r"'distance' parameter must be one of"),
        ({"aggregation": "groupByKey"}, r"'aggregation' parameter must be one of"),
        ({"k": 2, "init": [[0.0, 0.0]]}, r"'init' parameter must be an array of shape \(2xn\)"),
    ],
)
def test_invalid_parameters(sc: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        KMeans(**params).fit(sc.parallelize([[0.0, 0.0], [1.0, 1.0]]))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], r"no rows \(empty input\)"),
        ([[0.0, 1.0], [float("nan"), 1.0]],
         r"element 1 of partition 0 has a non-finite value nan in feature 0"),
        ([[0.0, 1.0], [1.0, float("inf")]], r"non-finite value inf in feature 1"),
        ([[0.0, 1.0], [1.0, 2.0, 3.0]], r"element 1 of partition 0 has 3 features, expected 2"),
        ([[0.0, 1.0], ["a", 2.0]], r"element 1 of partition 0 is not numeric"),
    ],
)
def test_bad_input_rdds(sc: Any, rows: list[Any], message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        KMeans(k=1).fit(sc.parallelize(rows, 1))


def test_k_larger_than_distinct_points(sc: Any) -> None:
    rdd = sc.parallelize([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5, 2)
    for init in ("random", "k-means++", "k-means||"):
        with pytest.raises(InvalidParameterError,
                           match=r"'k' parameter must be <= the number of distinct points \(2\), got 3"):
            KMeans(k=3, init=init, seed=0).fit(rdd)
    with pytest.raises(InvalidParameterError, match=r"<= the number of points \(10\), got 11"):
        KMeans(k=11).fit(rdd)


def test_ragged_rows_across_partitions(sc: Any) -> None:
    with pytest.raises(DataValidationError, match=r"differing numbers of features \[2, 3\]"):
        KMeans(k=1).fit(sc.parallelize([[0.0, 1.0], [1.0, 2.0, 3.0]], 2))


def test_fit_unpersists_what_it_cached(sc: Any) -> None:
    before = set(sc._jsc.getPersistentRDDs().keySet().toArray())
    KMeans(k=2, seed=0, max_iter=2).fit(sc.parallelize([[0.0], [1.0], [5.0], [6.0]], 2))
    with pytest.raises(DataValidationError):
        KMeans(k=1).fit(sc.parallelize([[0.0], [float("nan")]], 2))
    after = set(sc._jsc.getPersistentRDDs().keySet().toArray())
    assert after == before
