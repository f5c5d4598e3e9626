"""The fused numba kernels against the NumPy ones they replace (no Spark).

Where all the arithmetic is exact (small integers times a power of two) the two must agree
bit for bit, ties included. On arbitrary floats the labels may differ only where a row's
two closest centres are within rounding of each other (BLAS does not sum every shape of
product in the same order), the per-cluster sums must then equal NumPy's sums over the
fused labels bit for bit, and every float within 1e-12 of the size of what was summed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rddml import _jit
from rddml.cluster import fused as cfused
from rddml.cluster.kernels import assign_block, lloyd_partial_stats, partial_sums
from rddml.linear import fused as lfused
from rddml.linear.kernels import block_loss_grad, effective_weights, sigmoid

ROOT = Path(__file__).resolve().parents[1]
needs_numba = pytest.mark.skipif(not _jit.numba_available(), reason="numba is not installed")
SETTINGS = settings(max_examples=150, deadline=None)
RTOL = 1e-12


@pytest.fixture(autouse=True)
def _default_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_jit.KERNELS_ENV, raising=False)


def _cost_scale(X: np.ndarray, w: np.ndarray | None, C: np.ndarray) -> float:
    """Σ w (‖x‖² + max‖c‖²): the size of what the cost's rounding is relative to."""
    s = np.einsum("ij,ij->i", X, X) + float(np.einsum("ij,ij->i", C, C).max())
    return float(s.sum() if w is None else s @ w)


def check_lloyd(X: np.ndarray, w: np.ndarray | None, C: np.ndarray, exact: bool) -> None:
    k = C.shape[0]
    sums, counts, cost = cfused.lloyd_block_fused(X, w, C)
    labels, dists = cfused.assign_block_fused(X, C)
    ref = lloyd_partial_stats(X, w, C, n_far=0)
    assert sums.shape == (k, X.shape[1]) and counts.shape == (k,) and labels.dtype == np.int64
    if X.shape[0] == 0:
        assert not sums.any() and not counts.any() and cost == 0.0 and labels.size == 0
        return
    ref_labels, ref_dists = assign_block(X, C)
    if exact:
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_array_equal(counts, ref.counts)
        np.testing.assert_array_equal(sums, ref.sums)
        assert cost == ref.cost
        np.testing.assert_array_equal(dists, ref_dists)
        return
    # A different label only at a near tie: its NumPy distance is the minimum to rounding.
    full = np.maximum(((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2), 0.0)
    rows = np.arange(X.shape[0])
    tie_tol = 1e-12 * (np.einsum("ij,ij->i", X, X) + np.einsum("ij,ij->i", C, C).max()) + 1e-300
    assert np.all(np.abs(full[rows, labels] - full[rows, ref_labels]) <= tie_tol)
    ref_sums, ref_counts = partial_sums(X, labels, k, w)
    np.testing.assert_array_equal(sums, ref_sums)
    np.testing.assert_array_equal(counts, ref_counts)
    assert abs(cost - ref.cost) <= RTOL * max(abs(ref.cost), _cost_scale(X, w, C))
    np.testing.assert_allclose(dists, ref_dists, rtol=0, atol=float(tie_tol.max()))


# ------------------------------------------------------------------ k-means
@needs_numba
@pytest.mark.parametrize("d", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8, 9, 33])
@pytest.mark.parametrize("weighted", [False, True])
def test_lloyd_matches_numpy_on_random_blocks(d: int, k: int, weighted: bool) -> None:
    rng = np.random.default_rng(d * 100 + k)
    X = rng.standard_normal((2000, d)) * 3.0
    C = rng.standard_normal((k, d)) * 3.0
    w = rng.random(2000) * 2.0 if weighted else None
    sums, counts, cost = cfused.lloyd_block_fused(X, w, C)
    ref = lloyd_partial_stats(X, w, C, n_far=0)
    np.testing.assert_array_equal(counts, ref.counts)
    np.testing.assert_array_equal(sums, ref.sums)
    assert cost == pytest.approx(ref.cost, rel=RTOL)
    labels, dists = cfused.assign_block_fused(X, C)
    ref_labels, ref_dists = assign_block(X, C)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(dists, ref_dists, rtol=1e-12, atol=1e-12)


@st.composite
def exact_blocks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Small integers times 2^e: every sum is exact, so ties are exact ties in both
    implementations. Centres are drawn from few values (duplicates, points on a centre)."""
    n = draw(st.integers(0, 40))
    d = draw(st.integers(1, 6))
    k = draw(st.integers(1, 12))
    scale = 2.0 ** draw(st.integers(-400, 400))
    ints = st.integers(-8, 8)
    X = np.array(draw(st.lists(st.lists(ints, min_size=d, max_size=d), min_size=n, max_size=n)),
                 dtype=np.float64).reshape(n, d)
    pool = draw(st.lists(st.lists(st.integers(-3, 3), min_size=d, max_size=d), min_size=1,
                         max_size=3))
    rows = draw(st.lists(st.integers(0, len(pool) - 1), min_size=k, max_size=k))
    C = np.array([pool[r] for r in rows], dtype=np.float64).reshape(k, d)
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.float64)
    return X * scale, w, C * scale


@needs_numba
@SETTINGS
@given(exact_blocks())
def test_lloyd_equals_numpy_exactly_with_ties(block: tuple) -> None:
    X, w, C = block
    check_lloyd(X, w, C, exact=True)


@needs_numba
@SETTINGS
@given(
    st.integers(1, 30), st.integers(1, 5), st.integers(1, 12), st.booleans(),
    st.sampled_from([1e-150, 1e-3, 1.0, 1e3, 1e150]), st.integers(0, 2**32 - 1),
)
def test_lloyd_matches_numpy_on_arbitrary_floats(
    n: int, d: int, k: int, weighted: bool, magnitude: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * magnitude
    C = np.concatenate([rng.standard_normal((k, d)) * magnitude, X[: min(n, 2)]])
    if k > 1:
        C[-1] = C[0]  # an exact duplicate: the lower index must win
    w = rng.random(n) * (rng.random(n) < 0.8) if weighted else None  # some zero weights
    check_lloyd(X, w, C, exact=False)


@needs_numba
def test_lloyd_edge_blocks() -> None:
    C = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    check_lloyd(np.zeros((0, 2)), None, C, exact=True)  # empty block
    check_lloyd(np.zeros((0, 2)), np.zeros(0), C, exact=True)
    check_lloyd(np.array([[0.4, 0.6]]), None, C, exact=False)  # one row
    check_lloyd(np.array([[0.5, 0.5]]), None, C, exact=True)  # equidistant: lowest index
    assert cfused.assign_block_fused(np.array([[0.5, 0.5]]), C)[0].tolist() == [0]
    X = np.random.default_rng(0).standard_normal((50, 2))
    check_lloyd(X, None, C[:1], exact=False)  # k = 1
    check_lloyd(X, np.zeros(50), C, exact=False)  # all weights zero
    sums, counts, cost = cfused.lloyd_block_fused(X, np.zeros(50), C)
    assert not sums.any() and not counts.any() and cost == 0.0


@needs_numba
def test_lloyd_copies_non_contiguous_blocks_and_rejects_bad_shapes() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((300, 6))
    C = rng.standard_normal((4, 3))
    for X in (base[::2, ::2], np.asfortranarray(base[:, :3]), base[:, :3].astype(np.float32)):
        want = cfused.lloyd_block_fused(np.array(X, dtype=np.float64, order="C"), None, C)
        got = cfused.lloyd_block_fused(X, None, C)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[2] == want[2]
        np.testing.assert_array_equal(cfused.assign_block_fused(X, C)[0],
                                      assign_block(np.ascontiguousarray(X, np.float64), C)[0])
    with pytest.raises(ValueError, match="centres"):
        cfused.lloyd_block_fused(base, None, C)
    with pytest.raises(ValueError, match="weights"):
        cfused.lloyd_block_fused(base[:, :3], np.ones(5), C)
    with pytest.raises(ValueError, match="at least one centre"):
        cfused.lloyd_block_fused(base[:, :3], None, C[:0])


# ------------------------------------------------------------------ logistic
def check_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray | None, coef: np.ndarray,
                   b: float, cw: tuple[float, float] | None, keep: np.ndarray | None) -> None:
    got = lfused.loss_grad_block_fused(X, y, w, coef, b, cw, keep)
    ref = block_loss_grad(X, y, w, coef, b, cw, keep)
    assert got.count == ref.count
    assert got.grad_coef.shape == ref.grad_coef.shape
    rows = np.ones(len(y), dtype=bool) if keep is None else keep
    Xk, yk = X[rows], y[rows]
    s = effective_weights(yk, None if w is None else w[rows], cw)
    z = Xk @ coef + b
    # What each sum adds up, in absolute value: its rounding is relative to that.
    loss_size = float(s @ (np.abs(z) + np.log(2.0) + np.abs(yk * z)))
    grad_size = np.abs(Xk).T @ s if len(yk) else np.zeros(X.shape[1])
    assert abs(got.loss - ref.loss) <= RTOL * max(loss_size, 1e-300)
    assert np.all(np.abs(got.grad_coef - ref.grad_coef) <= RTOL * grad_size + 1e-300)
    assert abs(got.grad_intercept - ref.grad_intercept) <= RTOL * float(s.sum()) + 1e-300
    assert got.weight == pytest.approx(ref.weight, rel=RTOL, abs=1e-300)
    # And the residuals themselves, against the definition.
    r = s * (sigmoid(z) - yk)
    assert abs(got.grad_intercept - float(r.sum())) <= RTOL * float(s.sum()) + 1e-300


@needs_numba
@pytest.mark.parametrize("d", [1, 3, 4, 5, 20, 50])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cw", [None, (0.3, 2.5)])
@pytest.mark.parametrize("masked", [False, True])
def test_logistic_matches_numpy_on_random_blocks(
    d: int, weighted: bool, cw: tuple[float, float] | None, masked: bool
) -> None:
    rng = np.random.default_rng(d)
    n = 3000
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.4).astype(np.float64)
    w = rng.random(n) * 3.0 if weighted else None
    keep = rng.random(n) < 0.3 if masked else None
    coef = rng.standard_normal(d)
    got = lfused.loss_grad_block_fused(X, y, w, coef, 0.25, cw, keep)
    ref = block_loss_grad(X, y, w, coef, 0.25, cw, keep)
    assert got.count == ref.count
    assert got.loss == pytest.approx(ref.loss, rel=RTOL)
    np.testing.assert_allclose(got.grad_coef, ref.grad_coef, rtol=RTOL)
    assert got.grad_intercept == pytest.approx(ref.grad_intercept, rel=RTOL)
    assert got.weight == pytest.approx(ref.weight, rel=RTOL)
    check_logistic(X, y, w, coef, 0.25, cw, keep)


@needs_numba
@SETTINGS
@given(
    st.integers(0, 30), st.integers(1, 6), st.booleans(), st.booleans(), st.booleans(),
    st.sampled_from([1e-3, 1.0, 30.0, 1e3]), st.integers(0, 2**32 - 1),
)
def test_logistic_matches_numpy_hypothesis(
    n: int, d: int, weighted: bool, class_weighted: bool, masked: bool, magnitude: float,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * magnitude  # |z| up to ~1e4: the stable forms matter
    y = (rng.random(n) < 0.5).astype(np.float64)
    w = rng.random(n) * (rng.random(n) < 0.8) * 4.0 if weighted else None
    cw = (float(rng.random() + 0.1), float(rng.random() * 3 + 0.1)) if class_weighted else None
    keep = rng.random(n) < 0.5 if masked else None
    coef = rng.standard_normal(d) * 3.0
    check_logistic(X, y, w, coef, float(rng.standard_normal()), cw, keep)


@needs_numba
@pytest.mark.parametrize("d", [2, 10, 70])
def test_logistic_blocks_of_several_chunks(d: int) -> None:
    """Rows are scored and summed a chunk at a time: blocks longer than a chunk, ending
    mid-chunk, with the mask and a NaN feature in the last chunk, against NumPy."""
    step = lfused.chunk_rows(d)
    n = 3 * step + 17
    rng = np.random.default_rng(d + 100)
    X = rng.standard_normal((n, d)) * 4.0
    y = (rng.random(n) < 0.5).astype(np.float64)
    w = rng.random(n) * 2.0
    keep = rng.random(n) < 0.7
    coef = rng.standard_normal(d)
    check_logistic(X, y, w, coef, -0.5, (0.7, 1.9), keep)
    check_logistic(X, y, None, coef, 0.5, None, None)
    X[n - 3, 0] = np.nan
    got = lfused.loss_grad_block_fused(X, y, None, coef, 0.0)
    assert np.isnan(got.loss) and np.isnan(got.grad_intercept)


@needs_numba
def test_logistic_edge_blocks() -> None:
    X = np.array([[1.0, -2.0], [0.5, 0.0], [-3.0, 4.0]])
    y = np.array([1.0, 0.0, 1.0])
    coef = np.array([0.5, -1.0])
    empty = lfused.loss_grad_block_fused(X[:0], y[:0], None, coef, 0.3)
    assert (empty.loss, empty.grad_intercept, empty.weight, empty.count) == (0.0, 0.0, 0.0, 0)
    assert empty.grad_coef.tolist() == [0.0, 0.0]
    none_kept = lfused.loss_grad_block_fused(X, y, None, coef, 0.3, None, np.zeros(3, bool))
    assert none_kept.count == 0 and none_kept.weight == 0.0
    check_logistic(X[:1], y[:1], None, coef, 0.3, None, None)  # one row
    check_logistic(X, y, np.zeros(3), coef, 0.3, (1.0, 2.0), None)  # zero weights
    check_logistic(X, y, None, np.zeros(2), 0.0, None, None)  # z = 0 exactly: log 2
    big = lfused.loss_grad_block_fused(X * 1e3, y, None, coef, 0.0)  # |z| ~ 5000
    ref = block_loss_grad(X * 1e3, y, None, coef, 0.0)
    assert np.isfinite(big.loss) and big.loss == pytest.approx(ref.loss, rel=RTOL)
    fortran = np.asfortranarray(np.random.default_rng(2).standard_normal((40, 3)))
    yy = (np.arange(40) % 2).astype(np.float64)
    got = lfused.loss_grad_block_fused(fortran[::2], yy[::2], None, np.ones(3), 0.0)
    ref = block_loss_grad(np.ascontiguousarray(fortran[::2]), yy[::2], None, np.ones(3), 0.0)
    assert got.loss == pytest.approx(ref.loss, rel=RTOL)
    with pytest.raises(ValueError, match="coef"):
        lfused.loss_grad_block_fused(X, y, None, np.ones(3), 0.0)


# ------------------------------------------------------------------ dispatch
def test_dispatchers_fall_back_to_numpy_without_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_jit, "NUMBA_AVAILABLE", False)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fused kernel must not run without numba")

    monkeypatch.setattr(cfused, "lloyd_block_fused", boom)
    monkeypatch.setattr(cfused, "assign_block_fused", boom)
    monkeypatch.setattr(lfused, "loss_grad_block_fused", boom)
    rng = np.random.default_rng(3)
    X, C, w = rng.standard_normal((100, 3)), rng.standard_normal((4, 3)), rng.random(100)
    y = (rng.random(100) < 0.5).astype(np.float64)
    for mode in ("auto", "fused", "numpy"):
        sums, counts, cost = cfused.lloyd_sums(X, w, C, mode)
        ref = lloyd_partial_stats(X, w, C, n_far=0)
        np.testing.assert_array_equal(sums, ref.sums)
        np.testing.assert_array_equal(counts, ref.counts)
        assert cost == ref.cost
        np.testing.assert_array_equal(cfused.assign(X, C, mode)[0], assign_block(X, C)[0])
        got = lfused.loss_grad(X, y, w, np.ones(3), 0.1, (1.0, 2.0), y > 0.2, kernels=mode)
        want = block_loss_grad(X, y, w, np.ones(3), 0.1, (1.0, 2.0), y > 0.2)
        assert (got.loss, got.grad_intercept, got.weight, got.count) == (
            want.loss, want.grad_intercept, want.weight, want.count)
        np.testing.assert_array_equal(got.grad_coef, want.grad_coef)
    assert cfused.warm_up() is False and lfused.warm_up() is False


@needs_numba
def test_dispatch_follows_the_setting_and_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_lloyd, real_loss = cfused.lloyd_block_fused, lfused.loss_grad_block_fused
    real_blas = cfused.blas.lloyd_block_blas
    monkeypatch.setattr(cfused, "lloyd_block_fused",
                        lambda *a: calls.append("lloyd") or real_lloyd(*a))
    monkeypatch.setattr(lfused, "loss_grad_block_fused",
                        lambda *a: calls.append("logistic") or real_loss(*a))
    monkeypatch.setattr(cfused.blas, "lloyd_block_blas", lambda *a, numba_helpers: calls.append(
        f"blas numba={numba_helpers}") or real_blas(*a, numba_helpers=numba_helpers))
    X = np.random.default_rng(4).standard_normal((20, 100))
    y = np.zeros(20)
    small, large = X[:5, :2], X[:5]  # (d, k) = (2, 2): fused; (100, 100): NumPy under auto
    # auto: the logistic kernel below d = 64 only (use_fused_logistic's docstring says why);
    # many centres and features: the chunked BLAS form, with numba's reduction but in numpy.
    for mode, expect in (("auto", ["lloyd", "blas numba=True", "logistic"]),
                         ("fused", ["lloyd", "lloyd", "logistic", "logistic"]),
                         ("numpy", ["blas numba=False"])):
        calls.clear()
        cfused.lloyd_sums(X[:, :2], None, small, mode)
        cfused.lloyd_sums(X, None, np.tile(large, (20, 1)), mode)
        lfused.loss_grad(X, y, None, np.zeros(100), 0.0, kernels=mode)
        lfused.loss_grad(X[:, :2], y, None, np.zeros(2), 0.0, kernels=mode)
        assert calls == expect, mode
    assert cfused.use_fused_lloyd(2, 2) and not cfused.use_fused_lloyd(100, 100)
    assert lfused.use_fused_logistic(2) and lfused.use_fused_logistic(50)
    assert not lfused.use_fused_logistic(100)
    with pytest.raises(ValueError, match="kernels='gpu'"):
        cfused.lloyd_sums(X[:, :2], None, small, "gpu")
    # The environment is read on the driver only, by resolve_kernels.
    monkeypatch.setenv(_jit.KERNELS_ENV, "numpy")
    assert _jit.resolve_kernels(None) == "numpy" and _jit.resolve_kernels("fused") == "fused"
    calls.clear()
    cfused.lloyd_sums(X[:, :2], None, small)
    assert calls == ["lloyd"]
    monkeypatch.setenv(_jit.KERNELS_ENV, "gpu")
    with pytest.raises(ValueError, match="RDDML_KERNELS"):
        _jit.resolve_kernels(None)


def test_numba_available_has_no_side_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    monkeypatch.setattr(_jit, "NUMBA_AVAILABLE", None)
    frozen = gc.get_freeze_count()
    monkeypatch.setattr(_jit, "freeze_worker_heap", lambda: pytest.fail("froze the heap"))
    _jit.numba_available()
    assert gc.get_freeze_count() == frozen


def test_importing_rddml_does_not_import_numba() -> None:
    script = ("import sys, rddml, rddml.cluster.fused, rddml.linear.fused, rddml.cluster.passes, "
              "rddml.linear.passes; print('numba' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"


def _plus_one(x: float) -> float:
    return x + 1.0


@needs_numba
def test_cache_falls_back_to_a_temporary_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from numba.core import caching, config

    # No locator finds a writable place (as for a read-only install without a home).
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.61
    monkeypatch.setattr(impl, "_locator_classes", [caching.UserProvidedCacheLocator])
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr(_jit, "fallback_cache_dir", lambda: str(tmp_path))
    fn = _jit.njit(_plus_one)
    assert fn(1.0) == 2.0
    assert str(tmp_path) == config.CACHE_DIR
    assert any(tmp_path.rglob("*.nbi"))


@needs_numba
def test_warm_up_compiles() -> None:
    assert cfused.warm_up() is True and lfused.warm_up() is True


@needs_numba
@pytest.mark.parametrize("k", [3, 20])
def test_fused_kernel_reads_float32_blocks_as_their_float64_values(k: int) -> None:
    """A float32 block is read in place and each value widened exactly: the same sums,
    counts, cost, labels and distances as the float64 copy of the same values."""
    rng = np.random.default_rng(8)
    X32 = rng.standard_normal((400, 3)).astype(np.float32)
    C, w = rng.standard_normal((k, 3)), rng.random(400)
    for weights in (None, w):
        got = cfused.lloyd_block_fused(X32, weights, C)
        want = cfused.lloyd_block_fused(X32.astype(np.float64), weights, C)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(cfused.assign_block_fused(X32, C),
                    cfused.assign_block_fused(X32.astype(np.float64), C)):
        np.testing.assert_array_equal(a, b)
