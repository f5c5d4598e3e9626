"""The chunked BLAS Lloyd step (rddml.cluster.blas) against the NumPy reference, in
float64 and float32 (no Spark).

Exact data (small integers: every product and sum exact in either precision) must give
NumPy's labels, counts, sums and cost bit for bit, with or without numba's reduction and
over several chunks. On arbitrary floats a label may differ from NumPy's only where the
row's two best scores are within rounding of each other; the sums must then be NumPy's
sums over the kernel's own labels. A float32 block is compared with the float64 step on
the same (float32-rounded) values: sums and counts exactly where the labels agree, the
cost within 1e-6 relative (the scores are single-precision products).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rddml import _jit
from rddml.cluster import blas
from rddml.cluster.kernels import assign_block, lloyd_partial_stats, one_hot_sums, partial_sums

HELPERS = [False, pytest.param(True, marks=pytest.mark.skipif(
    not _jit.numba_available(), reason="numba is not installed"))]
SETTINGS = settings(max_examples=60, deadline=None)


def test_chunk_rows_keeps_the_scores_in_cache_within_bounds() -> None:
    assert blas.chunk_rows(256, 8) == blas.MIN_CHUNK_ROWS  # 256 KiB / 2 KiB = 128 -> 256
    assert blas.chunk_rows(16, 8) == 2048
    assert blas.chunk_rows(1, 4) == blas.MAX_CHUNK_ROWS
    assert blas.chunk_rows(1000, 4) == blas.MIN_CHUNK_ROWS


@pytest.mark.parametrize("numba_helpers", HELPERS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("weighted", [False, True])
def test_exact_data_matches_numpy_bit_for_bit(numba_helpers: bool, dtype: str,
                                              weighted: bool) -> None:
    rng = np.random.default_rng(7)
    k, d = 300, 5  # 300 centres: chunks of 256 rows, so 700 rows make three chunks
    X = rng.integers(-8, 9, size=(700, d)).astype(dtype)
    C = rng.integers(-8, 9, size=(k, d)).astype(np.float64) / 2
    w = rng.integers(0, 4, size=700).astype(np.float64) if weighted else None
    sums, counts, cost = blas.lloyd_block_blas(X, w, C, numba_helpers=numba_helpers)
    ref = lloyd_partial_stats(X.astype(np.float64), w, C, n_far=0)
    np.testing.assert_array_equal(counts, ref.counts)
    np.testing.assert_array_equal(sums, ref.sums)
    assert cost == ref.cost
    labels, dists = blas.assign_blas(X, C, numba_helpers=numba_helpers)
    ref_labels, ref_dists = assign_block(X.astype(np.float64), C)
    np.testing.assert_array_equal(labels, ref_labels)  # the first minimum, as np.argmin
    np.testing.assert_array_equal(dists, ref_dists)
    assert labels.dtype == np.int64 and sums.dtype == counts.dtype == np.float64


@pytest.mark.parametrize("numba_helpers", HELPERS)
def test_empty_block(numba_helpers: bool) -> None:
    C = np.ones((3, 4))
    sums, counts, cost = blas.lloyd_block_blas(np.zeros((0, 4)), None, C,
                                               numba_helpers=numba_helpers)
    assert sums.shape == (3, 4) and not sums.any() and not counts.any() and cost == 0.0
    labels, dists = blas.assign_blas(np.zeros((0, 4), np.float32), C,
                                     numba_helpers=numba_helpers)
    assert labels.shape == dists.shape == (0,)


def _check_against_numpy(X: np.ndarray, w: np.ndarray | None, C: np.ndarray,
                         numba_helpers: bool) -> None:
    X64 = X.astype(np.float64)
    labels, dists = blas.assign_blas(X, C, numba_helpers=numba_helpers)
    scores = ((X64[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    best = scores.min(axis=1)
    scale = np.einsum("ij,ij->i", X64, X64) + (C * C).sum(axis=1).max() + 1.0
    eps = 1e-5 if X.dtype == np.float32 else 1e-12
    # Each label is a centre whose distance is within rounding of the closest one.
    assert np.all(scores[np.arange(len(labels)), labels] <= best + eps * scale)
    np.testing.assert_allclose(dists, best, rtol=0, atol=eps * scale.max())
    sums, counts, cost = blas.lloyd_block_blas(X, w, C, numba_helpers=numba_helpers)
    ref_sums, ref_counts = partial_sums(X64, labels, C.shape[0], w)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(sums, ref_sums, rtol=1e-12, atol=1e-12 * np.abs(X64).sum())
    ref_cost = float(dists.sum() if w is None else dists @ w)
    assert cost == pytest.approx(ref_cost, rel=1e-12, abs=1e-12 * float(scale.sum()))


@pytest.mark.parametrize("numba_helpers", HELPERS)
@SETTINGS
@given(n=st.integers(1, 600), d=st.integers(1, 12), k=st.integers(1, 40),
       single=st.booleans(), weighted=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_random_blocks_match_numpy(numba_helpers: bool, n: int, d: int, k: int,
                                   single: bool, weighted: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.1, 100)).astype(
        np.float32 if single else np.float64)
    C = rng.standard_normal((k, d)) * rng.uniform(0.1, 100)
    w = rng.uniform(0, 3, n) if weighted else None
    _check_against_numpy(X, w, C, numba_helpers)


@pytest.mark.parametrize("numba_helpers", HELPERS)
def test_float32_block_agrees_with_float64(numba_helpers: bool) -> None:
    """The stated tolerance: on the same values, float32 blocks give the float64 step's
    labels, counts and sums (separated clusters: no near-tie), and its cost within 1e-6."""
    rng = np.random.default_rng(11)
    k, d = 64, 48
    C = rng.standard_normal((k, d)) * 10
    X32 = (C[rng.integers(0, k, 5000)] + rng.standard_normal((5000, d))).astype(np.float32)
    X64 = X32.astype(np.float64)
    s32, c32, cost32 = blas.lloyd_block_blas(X32, None, C, numba_helpers=numba_helpers)
    s64, c64, cost64 = blas.lloyd_block_blas(X64, None, C, numba_helpers=numba_helpers)
    np.testing.assert_array_equal(c32, c64)
    np.testing.assert_array_equal(s32, s64)  # float64 sums of the same values, same order
    assert cost32 == pytest.approx(cost64, rel=1e-6)


def test_one_hot_sums_equal_per_feature_bincounts() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((500, 20)).astype(np.float32)
    X64 = X.astype(np.float64)
    labels = rng.integers(0, 7, 500)
    w = rng.uniform(0, 2, 500)
    for weights in (None, w):
        ref = np.stack([np.bincount(labels, weights=X64[:, j] if weights is None
                                    else X64[:, j] * weights, minlength=9)
                        for j in range(20)], axis=1)
        np.testing.assert_array_equal(one_hot_sums(X, labels, 9, weights), ref)
        sums, _ = partial_sums(X64, labels, 9, weights)  # d > FEW_FEATURES: the same product
        np.testing.assert_array_equal(sums, ref)
