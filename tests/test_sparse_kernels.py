"""NumPy/SciPy-only sparse math: CSR blocks, their checks, row keys, label census, the
logistic and k-means kernels, each against the dense kernels (the reference) on the
same rows, and the driver-side k-means initialisation on CSR candidates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rddml.cluster import kernels as dense_km
from rddml.cluster import sparse_kernels as sparse_km
from rddml.engine.census import block_label_census
from rddml.engine.content_keys import value_key_sums, value_keys
from rddml.engine.sparse import (
    canonical,
    check_csr,
    csr,
    csr_from_dense,
    row_norms_sq,
    row_slice,
    vstack,
)
from rddml.errors import DataValidationError
from rddml.linear.kernels import block_loss_grad
from rddml.linear.softmax import block_softmax_loss_grad
from rddml.linear.sparse_kernels import csr_loss_grad, csr_softmax_loss_grad


def sparse_rows(n: int, d: int, density: float, seed: int) -> np.ndarray:
    """A dense matrix with about ``density`` of its entries non-zero."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    return X


def where(r: int) -> str:
    return f"row {r}"


# ------------------------------------------------------------------ CSR blocks
def test_csr_layout_round_trips_and_slices() -> None:
    X = sparse_rows(50, 30, 0.1, 0)
    X[3] = 0.0  # an empty row
    A = csr_from_dense(X)
    np.testing.assert_array_equal(A.toarray(), X)
    assert A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
    np.testing.assert_array_equal(row_slice(A, 2, 9).toarray(), X[2:9])
    np.testing.assert_array_equal(vstack([row_slice(A, 0, 7), row_slice(A, 7, 50)], 30)
                                  .toarray(), X)
    np.testing.assert_allclose(row_norms_sq(A), (X * X).sum(axis=1), rtol=1e-15)
    B = canonical(sp.coo_matrix(([1.0, 2.0, 3.0], ([0, 0, 1], [2, 2, 0])), shape=(2, 3)))
    np.testing.assert_array_equal(B.toarray(), [[0, 0, 3.0], [3.0, 0, 0]])


@pytest.mark.parametrize(("indices", "data", "message"), [
    ([0, 2, 1], [1.0, 1.0, 1.0], "has the feature index 1 after 2"),
    ([0, 2, 2], [1.0, 1.0, 1.0], "repeats the feature index 2"),
    ([0, 5, 1], [1.0, 1.0, 1.0], "has the feature index 5, outside 0 .. 3"),
    ([-1, 0, 1], [1.0, 1.0, 1.0], "has the feature index -1, outside 0 .. 3"),
    ([0, 1, 2], [1.0, np.nan, 1.0], "has a non-finite value nan in feature 1"),
    ([0, 1, 2], [1.0, 1.0, np.inf], "has a non-finite value inf in feature 2"),
])
def test_check_csr_names_the_row_and_what_is_wrong(indices: list[int], data: list[float],
                                                   message: str) -> None:
    # row 0: index 3; row 1: the three entries under test
    X = csr(np.array([1.0, *data]), np.array([3, *indices], dtype=np.int32),
            np.array([0, 1, 4], dtype=np.int32), 4)
    with pytest.raises(ValueError, match=r"^row 1 ") as info:
        check_csr(X, where)
    assert message in str(info.value)


def test_check_csr_accepts_a_decrease_across_a_row_boundary() -> None:
    X = csr(np.ones(4), np.array([2, 3, 0, 1], dtype=np.int32),
            np.array([0, 2, 2, 4], dtype=np.int32), 4)
    check_csr(X, where)


# ------------------------------------------------------------------ row keys
def test_value_keys_are_the_same_for_both_layouts_and_skip_zeros() -> None:
    X = sparse_rows(300, 40, 0.2, 1)
    X[5] = 0.0
    X[7, X[7] == 0] = -0.0
    A = csr_from_dense(X)
    y = np.arange(300) % 3 * 1.0
    w = np.linspace(0.5, 2.0, 300)
    np.testing.assert_array_equal(value_keys(X), value_keys(A))
    np.testing.assert_array_equal(value_keys(X, y, w), value_keys(A, y, w))
    assert value_key_sums(X, y, None, salt=np.uint64(3)) == value_key_sums(
        A, y, None, salt=np.uint64(3))
    # a stored zero is no different from a zero left out
    B = A.copy()
    B.data[B.indices == B.indices[0]] = 0.0
    dense_b = B.toarray()
    np.testing.assert_array_equal(value_keys(B), value_keys(dense_b))
    # keys depend on values and on the column they sit in
    keys = value_keys(X)
    assert len(set(keys.tolist())) == 300
    moved = X.copy()
    moved[:, [0, 1]] = moved[:, [1, 0]]
    changed = (X[:, 0] != X[:, 1])
    assert np.all(value_keys(moved)[changed] != keys[changed])
    assert not np.array_equal(value_keys(X, y), keys)


# ------------------------------------------------------------------ census
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_label_census_equals_the_dense_one(weighted: bool) -> None:
    X = sparse_rows(400, 25, 0.15, 2) + 0.0
    X[:, 3] = 0.0  # a feature that is always zero
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 400).astype(np.float64)
    y[::50] = 7.5  # invalid labels are counted and left out the same way
    w = rng.random(400) if weighted else None
    dense = block_label_census(X, y, w)
    sparse = block_label_census(csr_from_dense(X), y, w)
    assert sparse.bad == dense.bad and sparse.n_bad == dense.n_bad
    for name in ("count", "weight", "weight_sq", "mean", "m2"):
        np.testing.assert_allclose(getattr(sparse.moments, name), getattr(dense.moments, name),
                                   rtol=1e-12, atol=1e-13, err_msg=name)


# ------------------------------------------------------------- logistic kernels
@pytest.mark.parametrize("case", ["plain", "weights", "class_weights", "mini_batch"])
def test_sparse_logistic_loss_and_gradient_equal_the_dense_kernel(case: str) -> None:
    X = sparse_rows(500, 60, 0.05, 4)
    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.4).astype(np.float64)
    coef = rng.normal(size=60)
    w = rng.random(500) if case == "weights" else None
    cw = (0.7, 2.0) if case == "class_weights" else None
    keep = rng.random(500) < 0.3 if case == "mini_batch" else None
    ref = block_loss_grad(X, y, w, coef, 0.3, cw, keep)
    got = csr_loss_grad(csr_from_dense(X), y, w, coef, 0.3, cw, keep)
    assert got.count == ref.count
    np.testing.assert_allclose([got.loss, got.grad_intercept, got.weight],
                               [ref.loss, ref.grad_intercept, ref.weight], rtol=1e-12)
    np.testing.assert_allclose(got.grad_coef, ref.grad_coef, rtol=1e-11, atol=1e-12)
    assert got.grad_coef.shape == (60,)


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_softmax_loss_and_gradient_equal_the_dense_kernel(weighted: bool) -> None:
    X = sparse_rows(400, 30, 0.1, 6)
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 400).astype(np.float64)
    coef = rng.normal(size=(4, 30))
    b = rng.normal(size=4)
    w = rng.random(400) if weighted else None
    cw = np.array([1.0, 0.5, 2.0, 1.5])
    ref = block_softmax_loss_grad(X, y, w, coef, b, cw)
    got = csr_softmax_loss_grad(csr_from_dense(X), y, w, coef, b, cw)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-12)
    np.testing.assert_allclose(got.grad_coef, ref.grad_coef, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(got.grad_intercept, ref.grad_intercept, rtol=1e-12, atol=1e-13)


# -------------------------------------------------------------- k-means kernels
def blobs(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse non-negative rows drawn around k sparse centres (text-like clusters)."""
    rng = np.random.default_rng(seed)
    centres = rng.random((k, d)) * (rng.random((k, d)) < 0.3) * 5
    labels = rng.integers(0, k, n)
    X = centres[labels] + rng.random((n, d)) * (rng.random((n, d)) < 0.05)
    X[centres[labels] == 0] *= rng.random((n, d))[centres[labels] == 0] < 0.5
    return X, centres


def test_sparse_distances_assignment_and_sums_equal_the_dense_kernels() -> None:
    X, C = blobs(600, 50, 5, 8)
    A = csr_from_dense(X)
    np.testing.assert_allclose(sparse_km.squared_distances(A, C),
                               dense_km.squared_distances(X, C), rtol=1e-11, atol=1e-10)
    labels, d2 = sparse_km.assign(A, C)
    ref_labels, ref_d2 = dense_km.closest_centre(X, C)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-11, atol=1e-10)
    # sparse centres give the same assignment
    np.testing.assert_array_equal(sparse_km.assign(A, csr_from_dense(C))[0], ref_labels)
    w = np.random.default_rng(9).random(600)
    for weights in (None, w):
        part = sparse_km.lloyd_partial(A, weights, C, n_far=0).to_stats()
        ref = dense_km.lloyd_partial_stats(X, weights, C, n_far=0)
        np.testing.assert_allclose(part.sums, ref.sums, rtol=1e-13)
        np.testing.assert_allclose(part.counts, ref.counts, rtol=1e-14)
        np.testing.assert_allclose(part.cost, ref.cost, rtol=1e-11)
    far = sparse_km.lloyd_partial(A, w, C, n_far=3).to_stats()
    ref_far = dense_km.lloyd_partial_stats(X, w, C, n_far=3)
    np.testing.assert_array_equal(far.far_labels, ref_far.far_labels)
    np.testing.assert_allclose(far.far_points, ref_far.far_points)
    np.testing.assert_allclose(far.far_dists, ref_far.far_dists, rtol=1e-10)


def test_centre_terms_give_the_array_results_bit_for_bit_and_pickle_as_the_centres() -> None:
    """A pass hands its blocks CentreTerms (one transposed copy per task): the same
    labels, sums, counts and cost as the plain centres, to the bit, and only the centres
    travel when it is pickled."""
    import pickle

    X, C = blobs(700, 40, 6, 11)
    A = csr_from_dense(X)
    terms = sparse_km.CentreTerms(C)
    w = np.random.default_rng(12).random(700)
    for weights, n_far in ((None, 0), (w, 0), (w, 4)):
        got = sparse_km.lloyd_partial(A, weights, terms, n_far).to_stats()
        ref = sparse_km.lloyd_partial(A, weights, C, n_far).to_stats()
        np.testing.assert_array_equal(got.sums, ref.sums)
        np.testing.assert_array_equal(got.counts, ref.counts)
        assert got.cost == ref.cost
        np.testing.assert_array_equal(got.far_labels, ref.far_labels)
    assert terms.transposed().flags.c_contiguous and terms.transposed().shape == (40, 6)
    clone = pickle.loads(pickle.dumps(terms))
    assert clone._t is None and clone._sq is None  # the terms are not shipped
    np.testing.assert_array_equal(clone.C, C)
    assert len(pickle.dumps(terms)) < C.nbytes + 1000


def test_partition_fold_in_place_equals_merging() -> None:
    """absorb_block (the fold's in-place accumulation) gives merge's result, and merge
    leaves its arguments unchanged."""
    X, C = blobs(900, 40, 4, 10)
    A = csr_from_dense(X)
    parts = [sparse_km.lloyd_partial(piece, None, C, n_far=0)
             for piece in sparse_km.split_rows(A, 200)]
    merged = sparse_km.CsrLloydPartial.empty(4, 40)
    for p in parts:
        merged = merged.merge(p)
    first_sums = parts[0].sums.toarray()
    acc = parts[0]
    for p in parts[1:]:
        acc = acc.absorb_block(p)
    whole = dense_km.lloyd_partial_stats(X, None, C, n_far=0)
    for got in (merged.to_stats(), acc.to_stats()):
        np.testing.assert_allclose(got.sums, whole.sums, rtol=1e-13)
        np.testing.assert_allclose(got.cost, whole.cost, rtol=1e-11)
    np.testing.assert_array_equal(parts[1].sums.toarray(),
                                  sparse_km.lloyd_partial(sparse_km.split_rows(A, 200)[1],
                                                          None, C, 0).sums.toarray())
    assert first_sums.shape == (4, 40)


def test_unit_rows_and_zero_rows() -> None:
    X = sparse_rows(40, 12, 0.3, 11)
    X[4] = 0.0
    A = csr_from_dense(X)
    np.testing.assert_array_equal(sparse_km.zero_rows(A), np.flatnonzero((X != 0).sum(1) == 0))
    with pytest.raises(DataValidationError, match="row 4 of the block is all zeros"):
        sparse_km.unit_rows(A)
    keep = np.flatnonzero((X != 0).any(axis=1))
    B = csr_from_dense(X[keep])
    np.testing.assert_allclose(sparse_km.unit_rows(B).toarray(), dense_km.normalise_rows(X[keep]),
                               rtol=1e-15)


def test_row_sets_sort_and_deduplicate_like_the_dense_code() -> None:
    rng = np.random.default_rng(12)
    X = np.round(rng.normal(size=(30, 6)) * (rng.random((30, 6)) < 0.4), 1)
    X[10] = X[3]
    X[11] = -0.0 * X[3] + X[3]
    A = csr_from_dense(X)
    np.testing.assert_array_equal(sparse_km.sorted_rows(A).toarray(),
                                  X[np.lexsort(X.T[::-1])])
    np.testing.assert_array_equal(sparse_km.unique_rows_in_order(A).toarray(),
                                  X[np.sort(np.unique(X, axis=0, return_index=True)[1])])
    both = sparse_km.add_distinct(A[:3], A, 8)
    assert both.shape[0] == 8 and len({tuple(r) for r in both.toarray()}) == 8


def test_driver_side_init_on_csr_candidates_equals_the_dense_one() -> None:
    X, _ = blobs(80, 30, 4, 13)
    X = np.unique(X, axis=0)
    w = np.random.default_rng(14).random(X.shape[0]) + 0.1
    A = csr_from_dense(X)
    dense = dense_km.weighted_kmeans_plus_plus(X, w, 4, np.random.default_rng(15))
    sparse = sparse_km.weighted_kmeans_plus_plus(A, w, 4, np.random.default_rng(15))
    np.testing.assert_array_equal(sparse.toarray(), dense)
    ref = dense_km.weighted_lloyd(X, w, dense)
    got = sparse_km.weighted_lloyd(A, w, sparse)
    np.testing.assert_allclose(got.toarray(), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sparse_km.weighted_cost(A, w, got),
                               dense_km.weighted_cost(X, w, ref), rtol=1e-10)
