"""NumPy-only tests of the chunked generators (rddml.data.synthetic, rddml.data.synthetic_exact).

References are closed forms (group counts, means, covariances, binomial flip rates)
or scikit-learn itself; statistical tolerances are 5-6 standard errors, so a correct
generator fails with probability well below 1e-5 per check.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.datasets import make_blobs as sk_make_blobs
from sklearn.datasets import make_classification as sk_make_classification

from rddml.data import synthetic
from rddml.data.synthetic_exact import replay_classification, sklearn_classification


def _all_chunks(spec: synthetic.ChunkSource) -> tuple[np.ndarray, np.ndarray]:
    parts = [spec.chunk(i) for i in range(spec.n_chunks)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _blobs(n: int = 10_007, k: int = 7, seed: int = 5, chunk_rows: int = 1000,
           std: float | np.ndarray = 1.0, d: int = 2) -> synthetic.BlobsSpec:
    asked = synthetic.BlobsParams(n_samples=n, n_features=d, centers=k, cluster_std=std,
                                  center_box=(-10.0, 10.0))
    return synthetic.blobs_spec(asked, entropy=seed, chunk_rows=chunk_rows)


def test_chunk_seed_is_the_spawned_child_of_the_seed_sequence() -> None:
    children = np.random.SeedSequence(42).spawn(2)[1].spawn(9)
    for i in (0, 3, 8):
        expected = np.random.Generator(np.random.PCG64(children[i])).random(4)
        assert np.array_equal(synthetic.chunk_rng(42, i).random(4), expected)


def test_default_chunk_rows_is_a_power_of_two_within_both_bounds() -> None:
    assert synthetic.default_chunk_rows(2) == 65536
    assert synthetic.default_chunk_rows(64) == 65536
    assert synthetic.default_chunk_rows(100) == 32768  # 2**22 / 100 = 41943 -> 32768
    assert synthetic.default_chunk_rows(10**8) == 1


@pytest.mark.parametrize("n_chunks,parts", [(10, 1), (10, 7), (3, 7), (1, 2), (153, 16)])
def test_partitions_cover_every_chunk_once_in_order(n_chunks: int, parts: int) -> None:
    chunks = [i for p in range(parts) for i in synthetic.partition_chunks(n_chunks, parts, p)]
    assert chunks == list(range(n_chunks))


def test_a_chunk_depends_only_on_seed_and_index() -> None:
    spec = _blobs()
    X3, y3 = spec.chunk(3)
    again = _blobs().chunk(3)  # a fresh spec, chunk made alone
    assert np.array_equal(X3, again[0]) and np.array_equal(y3, again[1])
    assert not np.array_equal(X3, _blobs(seed=6).chunk(3)[0])
    assert X3.shape == (1000, 2) and spec.chunk(10)[0].shape == (7, 2)


def test_blob_sizes_equal_scikit_learns_and_chunks_are_shuffled() -> None:
    n, k = 10_007, 7
    _, y = _all_chunks(_blobs(n, k))
    _, y_sk = sk_make_blobs(n_samples=n, centers=k, random_state=0)
    assert np.array_equal(np.bincount(y, minlength=k), np.bincount(y_sk, minlength=k))
    assert not np.array_equal(y[:1000], np.arange(1000) % k)


def test_blob_means_and_stds_match_the_generating_parameters() -> None:
    stds = np.array([0.5, 1.0, 2.0])
    spec = _blobs(n=150_000, k=3, std=stds, chunk_rows=16384, d=3)
    X, y = _all_chunks(spec)
    assert np.all((spec.centers >= -10) & (spec.centers <= 10))
    for g in range(3):
        rows = X[y == g]
        n_g = rows.shape[0]
        # mean: standard error std/sqrt(n); sample std: relative standard error 1/sqrt(2n)
        np.testing.assert_allclose(rows.mean(axis=0), spec.centers[g],
                                   atol=5 * stds[g] / np.sqrt(n_g))
        np.testing.assert_allclose(rows.std(axis=0, ddof=1), stds[g],
                                   rtol=5 / np.sqrt(2 * n_g))


def test_given_centres_are_used_and_set_the_width() -> None:
    centres = np.array([[0.0, 0.0, 0.0], [100.0, 100.0, 100.0]])
    asked = synthetic.BlobsParams(n_samples=10, n_features=2, centers=centres, cluster_std=0.0,
                                  center_box=(-1.0, 1.0))
    spec = synthetic.blobs_spec(asked, entropy=1, chunk_rows=4)
    X, y = _all_chunks(spec)
    assert np.array_equal(X, centres[y])  # std 0: every row is its centre


def _classification(n: int = 120_000, **kw: object) -> synthetic.ClassificationSpec:
    args: dict[str, object] = dict(
        n_samples=n, n_features=6, n_informative=3, n_redundant=1, n_classes=3,
        n_clusters_per_class=2, class_sep=1.5, flip_y=0.05,
    )
    args.update(kw)
    asked = synthetic.ClassificationParams(**args)  # type: ignore[arg-type]
    return synthetic.classification_spec(asked, entropy=11, chunk_rows=8192)


def test_classification_clusters_sit_on_distinct_hypercube_vertices() -> None:
    spec = _classification(n=10)
    assert set(np.unique(spec.centroids).tolist()) <= {-1.5, 1.5}
    assert len({tuple(r) for r in spec.centroids.tolist()}) == spec.n_clusters == 6
    assert sorted(spec.feature_order.tolist()) == list(range(6))


def test_classification_cluster_means_and_covariances_match_closed_forms() -> None:
    spec = _classification()
    parts = [spec.chunk_with_clusters(i) for i in range(spec.n_chunks)]
    X = np.concatenate([p[0] for p in parts])
    cluster = np.concatenate([p[2] for p in parts])
    n_inf, n_red = spec.n_informative, spec.n_redundant
    B = spec.redundant
    inverse = np.argsort(spec.feature_order)  # generated column g is output column inverse[g]
    for c in range(spec.n_clusters):
        rows = X[cluster == c]
        n_c = rows.shape[0]
        S = spec.transforms[c].T @ spec.transforms[c]  # cov of z @ A
        top = np.hstack([S, S @ B, np.zeros((n_inf, 2))])
        mid = np.hstack([B.T @ S, B.T @ S @ B, np.zeros((n_red, 2))])
        low = np.hstack([np.zeros((2, n_inf + n_red)), np.eye(2)])
        cov = np.vstack([top, mid, low])[np.ix_(spec.feature_order, spec.feature_order)]
        sd = np.sqrt(np.diag(cov))
        np.testing.assert_allclose(rows.mean(axis=0), spec.cluster_centers()[c],
                                   atol=float(np.max(5 * sd / np.sqrt(n_c))))
        # sd of a sample covariance entry: sqrt((s_ii s_jj + s_ij^2) / n)
        se = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n_c)
        assert np.all(np.abs(np.cov(rows, rowvar=False) - cov) <= 6 * se + 1e-12)
        # redundant features are exact linear maps of the informative ones
        informative = rows[:, inverse[:n_inf]]
        np.testing.assert_allclose(rows[:, inverse[n_inf:n_inf + n_red]], informative @ B,
                                   rtol=1e-12, atol=1e-12)


def test_classification_flip_rate_and_class_balance() -> None:
    spec = _classification()
    parts = [spec.chunk_with_clusters(i) for i in range(spec.n_chunks)]
    y = np.concatenate([p[1] for p in parts])
    cluster = np.concatenate([p[2] for p in parts])
    n, k = y.size, spec.n_classes
    assert np.array_equal(np.bincount(cluster), np.full(6, n // 6))
    # A flipped label is redrawn uniformly, so it changes with probability 1 - 1/k.
    p = spec.flip_y * (1 - 1 / k)
    changed = np.mean(y != cluster % k)
    assert abs(changed - p) <= 5 * np.sqrt(p * (1 - p) / n)
    counts = np.bincount(y, minlength=k)
    assert np.all(np.abs(counts - n / k) <= 5 * np.sqrt(n * spec.flip_y))


def test_hypercube_vertices_beyond_thirty_dimensions_stay_distinct() -> None:
    v = synthetic.hypercube_vertices(50, 33, np.random.default_rng(0))
    assert v.shape == (50, 33) and set(np.unique(v).tolist()) <= {0.0, 1.0}
    assert len({tuple(r) for r in v.tolist()}) == 50


@pytest.mark.parametrize("args", [
    dict(n_samples=10_000, n_features=2, n_informative=2, n_redundant=0,
         n_clusters_per_class=1, n_classes=2, flip_y=0.01, class_sep=1.0, seed=123),
    dict(n_samples=997, n_features=12, n_informative=3, n_redundant=4,
         n_clusters_per_class=2, n_classes=3, flip_y=0.1, class_sep=2.0, seed=0),
    dict(n_samples=200, n_features=40, n_informative=32, n_redundant=2,
         n_clusters_per_class=2, n_classes=2, flip_y=0.0, class_sep=1.0, seed=7),
])
def test_replay_reproduces_scikit_learns_make_classification(args: dict[str, int]) -> None:
    seed = args.pop("seed")
    X_sk, y_sk = sk_make_classification(**args, n_repeated=0, random_state=seed)
    X, y, params = replay_classification(**args, n_repeated=0, seed=seed)
    assert np.array_equal(X, X_sk) and np.array_equal(y, y_sk)
    assert params["transforms"].shape == (args["n_classes"] * args["n_clusters_per_class"],
                                          args["n_informative"], args["n_informative"])


def test_exact_classification_reports_the_generating_centroids() -> None:
    X, y, params = sklearn_classification(synthetic.ClassificationParams(
        n_samples=2000, n_features=2, n_informative=2, n_redundant=0, n_classes=2,
        n_clusters_per_class=1, class_sep=1.0, flip_y=0.0,
    ), seed=123)
    assert params is not None
    for c in range(2):  # no flips: class c is cluster c, centred on its vertex
        np.testing.assert_allclose(X[y == c].mean(axis=0), params["centroids"][c], atol=0.1)


def test_text_formats_match_csv_repr_and_numpy_savetxt() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3)) * 10.0 ** rng.integers(-320, 300, size=(300, 3))
    X[0] = [0.0, -0.0, 1e16]
    y = rng.integers(0, 2, 300)
    lines = synthetic.points_csv_text(X).split("\n")
    assert lines[0] == "0.0,-0.0,1e+16"
    assert np.array_equal(np.array([[float(v) for v in ln.split(",")] for ln in lines]), X)
    buf = io.BytesIO()
    np.savetxt(buf, np.column_stack((X.astype(str), y.astype(str))), fmt="%s")
    assert (synthetic.labeled_text(X, y) + "\n").encode() == buf.getvalue()


def test_label_sums_match_per_label_loops() -> None:
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((500, 2)), rng.integers(0, 3, 500)
    counts, sums = synthetic.label_sums(X, y, 4)
    assert counts.tolist() == [int(np.sum(y == g)) for g in range(4)]
    np.testing.assert_allclose(sums[:3], [X[y == g].sum(axis=0) for g in range(3)], rtol=1e-12)
    assert np.array_equal(sums[3], [0.0, 0.0])


def test_json_values_are_plain_and_nan_becomes_null() -> None:
    doc = synthetic.as_json_value({"a": np.array([[1.0, np.nan]]), "b": np.int64(3)})
    assert doc == {"a": [[1.0, None]], "b": 3}
    assert type(doc["b"]) is int
