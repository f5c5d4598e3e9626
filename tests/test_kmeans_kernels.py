"""NumPy-only k-means math, checked against per-point reference loops (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rddml.cluster.kernels import (
    SMALL_K,
    LloydStats,
    centre_shift,
    closest_centre,
    lloyd_partial_stats,
    nearest_scores,
    partial_sums,
    row_norms_sq,
    squared_distances,
    update_centres,
    weighted_kmeans_plus_plus,
)
from rddml.errors import DataValidationError

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def reference_stats(X: np.ndarray, w: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-point loop: the definition of the partial sums."""
    k, d = C.shape
    sums, counts, cost = np.zeros((k, d)), np.zeros(k), 0.0
    for x, wi in zip(X, w):
        dist = [float(((x - c) ** 2).sum()) for c in C]
        j = int(np.argmin(dist))
        sums[j] += wi * x
        counts[j] += wi
        cost += wi * dist[j]
    return sums, counts, np.array(cost)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    d=st.integers(1, 4),
    k=st.integers(1, 5),
    data=st.data(),
)
def test_partial_stats_equal_per_point_reference(n: int, d: int, k: int, data: st.DataObject) -> None:
    X = data.draw(arrays(np.float64, (n, d), elements=finite))
    C = data.draw(arrays(np.float64, (k, d), elements=finite))
    w = data.draw(arrays(np.float64, (n,), elements=st.floats(0, 10)))
    stats = lloyd_partial_stats(X, w, C, n_far=k)
    sums, counts, cost = reference_stats(X, w, C)
    # The usual Lloyd step (no far points) forms no per-point distance: same statistics.
    lean = lloyd_partial_stats(X, w, C, n_far=0)
    np.testing.assert_array_equal(lean.sums, stats.sums)
    np.testing.assert_array_equal(lean.counts, stats.counts)
    np.testing.assert_allclose(lean.cost, cost, rtol=1e-7, atol=1e-3)
    # Ties between equidistant centres may resolve differently; compare totals then.
    np.testing.assert_allclose(stats.counts.sum(), counts.sum(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(stats.cost, cost, rtol=1e-7, atol=1e-3)
    if n and len({tuple(c) for c in C}) == k:
        d2 = ((X[:, None, :] - C[None]) ** 2).sum(-1)
        srt = np.sort(d2, axis=1)
        if k == 1 or np.all(srt[:, 1] - srt[:, 0] > 1e-6 * (1 + srt[:, 1])):
            np.testing.assert_allclose(stats.sums, sums, rtol=1e-9, atol=1e-6)
            np.testing.assert_allclose(stats.counts, counts, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 30), d=st.integers(1, 3), data=st.data())
def test_merge_of_split_blocks_equals_whole(n: int, d: int, data: st.DataObject) -> None:
    X = data.draw(arrays(np.float64, (n, d), elements=finite))
    C = np.array([[0.0] * d, [5.0] * d])
    cut = data.draw(st.integers(0, n))
    whole = lloyd_partial_stats(X, None, C, n_far=2)
    merged = lloyd_partial_stats(X[:cut], None, C, n_far=2).merge(
        lloyd_partial_stats(X[cut:], None, C, n_far=2)
    )
    np.testing.assert_allclose(merged.sums, whole.sums, atol=1e-9)
    np.testing.assert_allclose(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.cost, whole.cost, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(np.sort(merged.far_dists), np.sort(whole.far_dists))


def test_squared_distances_match_direct_formula_and_are_never_negative() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 1e4
    C = X[:4] + 1e-9  # nearly identical points stress the ‖x‖²−2x·c+‖c‖² expansion
    d2 = squared_distances(X, C)
    direct = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    assert (d2 >= 0).all()
    np.testing.assert_allclose(d2, direct, atol=1e-3 * 1e8 * 1e-7, rtol=1e-9)


def test_closest_centre_on_empty_block() -> None:
    labels, d2 = closest_centre(np.zeros((0, 2)), np.ones((3, 2)))
    assert labels.shape == (0,) and d2.shape == (0,)


def test_partial_sums_weighted() -> None:
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    sums, counts = partial_sums(X, np.array([0, 0, 2]), 3, np.array([1.0, 2.0, 0.5]))
    np.testing.assert_array_equal(sums, [[7.0, 10.0], [0.0, 0.0], [2.5, 3.0]])
    np.testing.assert_array_equal(counts, [3.0, 0.0, 0.5])


def empty_cluster_case() -> tuple[LloydStats, np.ndarray]:
    X = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [10.0, 0.0]])
    C = np.array([[0.0, 1.0], [100.0, 100.0], [10.0, 0.0]])  # centre 1 attracts nothing
    return lloyd_partial_stats(X, None, C, n_far=3), C


def test_empty_cluster_farthest_moves_centre_to_farthest_point() -> None:
    stats, C = empty_cluster_case()
    new, n_empty = update_centres(stats, C, "farthest")
    assert n_empty == 1
    assert np.isfinite(new).all()
    # Farthest from its centre: (0,0) or (0,2), both at distance 1; the first one wins.
    np.testing.assert_array_equal(new[1], [0.0, 0.0])
    # ... and it left cluster 0, whose mean is now over the other two points.
    np.testing.assert_array_equal(new[0], [0.0, 1.5])


def test_empty_cluster_keep_and_error() -> None:
    stats, C = empty_cluster_case()
    new, n_empty = update_centres(stats, C, "keep")
    np.testing.assert_array_equal(new[1], C[1])
    assert n_empty == 1
    with pytest.raises(DataValidationError, match=r"1 empty cluster\(s\) \[1\]"):
        update_centres(stats, C, "error")


def test_centre_shift_is_the_largest_move() -> None:
    assert centre_shift(np.zeros((2, 2)), np.array([[3.0, 4.0], [1.0, 0.0]])) == 5.0


def test_weighted_kmeans_plus_plus_picks_distinct_heavy_points() -> None:
    pts = np.array([[0.0, 0.0], [0.0, 0.1], [10.0, 10.0], [20.0, 0.0]])
    w = np.array([5.0, 5.0, 1.0, 1.0])
    centres = weighted_kmeans_plus_plus(pts, w, 3, np.random.default_rng(0))
    assert len({tuple(c) for c in centres}) == 3
    # The two far points must both be chosen: any 3-seeding missing one costs far more.
    assert {(10.0, 10.0), (20.0, 0.0)} <= {tuple(c) for c in centres}


@pytest.mark.parametrize("k", [1, 2, 5, SMALL_K, SMALL_K + 1, 60])
@pytest.mark.parametrize("d", [1, 2, 9, 20])
def test_nearest_scores_follow_argmin_including_its_tie_rule(k: int, d: int) -> None:
    # Small integers: every score is exact, so equidistant centres tie exactly and the
    # labels must be np.argmin's (the first closest centre) on both code paths (k <= 32
    # uses the (k, n) layout, larger k the (n, k) one).
    rng = np.random.default_rng(k * 100 + d)
    X = rng.integers(-3, 4, size=(500, d)).astype(np.float64)
    C = rng.integers(-3, 4, size=(k, d)).astype(np.float64)
    C[-1] = C[0]  # a duplicate centre: every point closest to it ties (k >= 2)
    d2 = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    top2 = np.sort(d2, axis=1)[:, :2]
    assert k == 1 or (top2[:, 0] == top2[:, -1]).any()  # ties do occur
    labels, best = nearest_scores(X, C)
    np.testing.assert_array_equal(labels, np.argmin(d2, axis=1))
    np.testing.assert_array_equal(best + (X**2).sum(1), d2.min(axis=1))


@pytest.mark.parametrize("d", [1, 3, 8, 9, 30])
def test_row_norms_sq(d: int) -> None:
    X = np.random.default_rng(d).normal(size=(50, d))
    np.testing.assert_allclose(row_norms_sq(X), (X**2).sum(1), rtol=1e-14)


def test_merge_keeps_n_far_candidates_when_each_slice_has_fewer_rows() -> None:
    # Found by hypothesis: two one-row slices merged with n_far=2 kept only one candidate,
    # so the candidates depended on how the data was split.
    X = np.array([[0.0], [3.0], [7.0]])
    C = np.array([[0.0], [5.0]])
    parts = [lloyd_partial_stats(X[i:i + 1], None, C, n_far=2) for i in range(3)]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    whole = lloyd_partial_stats(X, None, C, n_far=2)
    np.testing.assert_array_equal(merged.far_dists, whole.far_dists)
    np.testing.assert_array_equal(merged.far_points, whole.far_points)
    assert len(merged.far_dists) == 2
