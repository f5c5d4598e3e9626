"""Standardisation statistics gathered during conversion: the label census.

Every labelled dataset's summary pass also computes the per-class weighted feature
moments (:class:`~rddml.engine.census.LabelCensus`) of its rows, so a standardised or
class-balanced logistic regression needs no statistics pass. Checked here against the
statistics pass itself and a NumPy closed form, on both backends and every conversion
path, and through fits: one pass fewer, the same coefficients; a transformed view has no
census and falls back to the pass. The first tests need no Spark.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from tests.dataframe_support import labelled_arrays, labelled_frame

import rddml.linear.logistic as logistic_module
import rddml.linear.multinomial as multinomial_module
from rddml import BlockDataset, LogisticRegression
from rddml.cluster.passes import unit_rows_view
from rddml.engine.census import LabelCensus, block_label_census
from rddml.engine.dataset import BlockView, Dataset
from rddml.engine.frames import FrameDataset
from rddml.engine.records import (
    MAX_CENSUS_VALUES,
    Block,
    PartitionSummary,
    merged_census,
    summarise_partition,
)
from rddml.errors import DataValidationError
from rddml.linear.kernels import pooled_mean_std
from rddml.linear.passes import label_census_pass

TIGHT = {"tol": 1e-10, "max_iter": 500}


def assert_same_optimum(a: Any, b: Any, *, reg_param: float) -> None:
    """Two binomial L-BFGS fits of the same objective (statistics equal to 1e-13) reached
    the same optimum.

    Not to 1e-10: the passes' summation order (the fused kernel sums rows in order, BLAS
    does not) sends the two L-BFGS paths apart by far more than rounding, and each stops
    wherever its gradient or its relative decrease falls below the tolerance (measured:
    4e-8 apart in ``coef_``). What holds: both objective values are the optimum's to
    ``OBJECTIVE_RTOL`` (the solver stops when an iteration gains ≤ 1e-15 relative), and
    the objective, ``reg_param``-strongly convex along the coefficients in the
    standardised space, puts each fit within ``√(2 · gap / reg_param)`` of the optimum,
    a coefficient in original units within that divided by its feature's std.
    """
    fa, fb = a.loss_history_[-1], b.loss_history_[-1]
    assert a.converged_ and b.converged_
    assert abs(fa - fb) <= OBJECTIVE_RTOL * abs(fa)
    radius = 2.0 * np.sqrt(2.0 * OBJECTIVE_RTOL * abs(fa) / reg_param)
    np.testing.assert_array_less(np.abs(np.ravel(a.coef_) - np.ravel(b.coef_)),
                                 radius / np.asarray(a.feature_std_))


OBJECTIVE_RTOL = 1e-14


def three_classes(n: int = 900, seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes on features of different scales, far from 0 (where a naive
    Σx² − n·mean² would lose digits), row weights in [0.5, 2] and a few zero weights."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.float64)
    X = (rng.normal(size=(n, 4)) * [1.0, 30.0, 0.01, 2.0] + [1e3, -50.0, 7.0, 0.0]
         + np.outer(y, [0.5, -3.0, 0.002, 1.0]))
    w = rng.uniform(0.5, 2.0, n)
    w[::97] = 0.0
    return X, y, w


def closed_form(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and unbiased weighted std ``M2 / (W − ΣW²/W)`` (as Spark's Summarizer)."""
    W = w.sum()
    mean = np.average(X, axis=0, weights=w)
    return mean, np.sqrt(w @ (X - mean) ** 2 / (W - (w @ w) / W))


def assert_same_census(got: LabelCensus, want: LabelCensus) -> None:
    """Counts exact, weights and moments within 1e-12 relative, the same invalid labels."""
    np.testing.assert_array_equal(got.moments.count, want.moments.count)
    for name in ("weight", "weight_sq", "mean", "m2"):
        np.testing.assert_allclose(getattr(got.moments, name), getattr(want.moments, name),
                                   rtol=1e-12, atol=0, err_msg=name)
    assert (got.bad, got.n_bad) == (want.bad, want.n_bad)


# --------------------------------------------------------------- no Spark
def blocks_of(X: np.ndarray, y: np.ndarray | None, w: np.ndarray | None, rows: int,
              partition: int = 0) -> list[Block]:
    return [Block(partition, s, X[s:s + rows], None if y is None else y[s:s + rows],
                  None if w is None else w[s:s + rows]) for s in range(0, X.shape[0], rows)]


def test_a_partition_summary_carries_the_merged_block_censuses() -> None:
    X, y, w = three_classes()
    y[5], y[6] = 2.5, -1.0  # invalid labels are carried, as the pass carries them
    summary = summarise_partition(0, blocks_of(X, y, w, 128))
    assert summary.census is not None
    want = LabelCensus.empty(4)
    for block in blocks_of(X, y, w, 128):
        want = want.merge(block_label_census(block.X, block.y, block.w))
    assert_same_census(summary.census, want)
    assert summary.census.bad == (-1.0, 2.5) and summary.census.n_bad == 2
    ok = (y >= 0) & (y == np.floor(y))
    mean, std = pooled_mean_std(summary.census.moments, None)
    want_mean, want_std = closed_form(X[ok], w[ok])
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12)
    np.testing.assert_allclose(std, want_std, rtol=1e-12)


def test_the_census_is_none_without_labels_and_when_too_large() -> None:
    X, _, w = three_classes(n=50)
    assert summarise_partition(0, blocks_of(X, None, w, 16)).census is None
    wide = np.zeros((4, MAX_CENSUS_VALUES // 2 + 1))  # two classes x that many features
    assert summarise_partition(0, [Block(0, 0, wide, np.array([0.0, 1, 0, 1]), None)]
                               ).census is None
    fits = np.zeros((4, MAX_CENSUS_VALUES // 2))
    assert summarise_partition(0, [Block(0, 0, fits, np.array([0.0, 1, 0, 1]), None)]
                               ).census is not None


def test_partitions_merge_in_order_and_empty_ones_are_left_out() -> None:
    X, y, w = three_classes()
    parts = [summarise_partition(p, blocks_of(X[p::3], y[p::3], w[p::3], 100, p))
             for p in range(3)]
    empty = PartitionSummary(3, 0, None, False, False, (), None, None)  # positional, as before
    census = merged_census([parts[2], empty, parts[0], parts[1]])
    assert census is not None
    assert parts[0].census is not None and parts[1].census is not None
    assert parts[2].census is not None
    want = parts[0].census.merge(parts[1].census).merge(parts[2].census)
    np.testing.assert_array_equal(census.moments.mean, want.moments.mean)
    np.testing.assert_array_equal(census.moments.m2, want.moments.m2)
    unlabelled = summarise_partition(4, blocks_of(X[:10], None, None, 10, 4))
    assert merged_census([*parts, unlabelled]) is None
    assert merged_census([empty]) is None


def test_the_census_pickles_small_and_takes_no_part_in_equality() -> None:
    X, y, w = three_classes(n=60_000)
    summary = summarise_partition(0, blocks_of(X, y, w, 50_000))
    assert summary.census is not None
    without = PartitionSummary(*[getattr(summary, f) for f in (
        "partition", "n_rows", "n_features", "has_labels", "has_weights", "labels",
        "min_weight", "error", "skipped", "skipped_examples", "digest")])
    # Only the K x d moments travel (3 classes x 4 features), never a block's rows.
    extra = len(pickle.dumps(summary, protocol=5)) - len(pickle.dumps(without, protocol=5))
    assert extra < 1200, extra
    assert summary == without and hash(summary) == hash(without)


# ------------------------------------------------------------------ Spark
@pytest.fixture(scope="module")
def frames(spark: Any) -> Iterator[dict[int, Any]]:
    """``three_classes`` as DataFrames of 1 and 3 partitions."""
    import pandas as pd

    X, y, w = three_classes()
    pdf = pd.DataFrame({"label": y, "w": w})
    pdf["features"] = [row.tolist() for row in X]
    df = spark.createDataFrame(pdf)
    out = {p: df.repartition(p).persist() for p in (1, 3)}
    yield out
    for frame in out.values():
        frame.unpersist()


BUILDS = ["from_numpy", "from_numpy-spark-storage", "from_dataframe", "frame"]


def build(kind: str, sc: Any, frame: Any, partitions: int) -> Dataset:
    X, y, w = three_classes()
    columns = {"features_col": "features", "label_col": "label", "weight_col": "w"}
    if kind == "from_numpy":
        return BlockDataset.from_numpy(sc, X, y, w, num_partitions=partitions,
                                       max_block_rows=128)
    if kind == "from_numpy-spark-storage":
        return BlockDataset.from_numpy(sc, X, y, w, num_partitions=partitions,
                                       max_block_rows=128, storage="spark")
    if kind == "from_dataframe":
        return BlockDataset.from_dataframe(frame, max_block_rows=128, **columns)
    return FrameDataset.from_dataframe(frame, **columns)


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("kind", BUILDS)
def test_the_conversion_census_equals_the_statistics_pass(
        sc: Any, frames: dict[int, Any], kind: str, partitions: int) -> None:
    X, _, w = three_classes()
    with build(kind, sc, frames[partitions], partitions) as ds:
        assert ds.num_partitions == partitions
        census = ds.label_census
        assert census is not None and census.n_classes == 3
        assert_same_census(census, label_census_pass(ds))
    mean, std = pooled_mean_std(census.moments, None)
    want_mean, want_std = closed_form(X, w)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12)
    np.testing.assert_allclose(std, want_std, rtol=1e-12)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> dict[str, int]:
    """Count the calls of ``module.name`` (still running it)."""
    calls = {"n": 0}
    real: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def fit_with_and_without_census(ds: Dataset, calls: dict[str, int], **params: Any
                                ) -> tuple[LogisticRegression, LogisticRegression]:
    """The fit on ``ds`` as it is, then with its census removed (forcing the pass)."""
    census = ds.label_census
    assert census is not None
    quick = LogisticRegression(**params).fit(ds)
    assert calls["n"] == 0
    ds.label_census = None
    try:
        forced = LogisticRegression(**params).fit(ds)
    finally:
        ds.label_census = census
    assert calls["n"] == 1
    return quick, forced


@pytest.fixture(scope="module")
def binary(spark: Any) -> Iterator[Any]:
    df = labelled_frame(spark).persist()
    yield df
    df.unpersist()


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("backend", ["rdd", "dataframe"])
def test_a_standardised_binomial_fit_runs_no_statistics_pass(
        binary: Any, monkeypatch: pytest.MonkeyPatch, backend: str,
        class_weight: str | None) -> None:
    calls = counting(monkeypatch, logistic_module, "label_census_pass")
    cls = BlockDataset if backend == "rdd" else FrameDataset
    with cls.from_dataframe(binary, features_col="features", label_col="label",
                            weight_col="w") as ds:
        quick, forced = fit_with_and_without_census(
            ds, calls, reg_param=0.01, class_weight=class_weight, **TIGHT)
    assert quick.converged_ and forced.converged_
    # L-BFGS: one pass per objective evaluation, plus the statistics pass when it runs.
    assert quick.n_passes_ == len(quick.loss_history_)
    assert forced.n_passes_ == len(forced.loss_history_) + 1
    np.testing.assert_allclose(quick.feature_std_, forced.feature_std_, rtol=1e-13)
    if class_weight is not None:
        np.testing.assert_allclose(quick.class_weight_, forced.class_weight_, rtol=1e-13)
    assert_same_optimum(quick, forced, reg_param=0.01)


@pytest.mark.parametrize("backend", ["rdd", "dataframe"])
def test_a_standardised_multinomial_fit_runs_no_statistics_pass(
        sc: Any, frames: dict[int, Any], monkeypatch: pytest.MonkeyPatch,
        backend: str) -> None:
    calls = counting(monkeypatch, multinomial_module, "label_census_pass")
    with build("from_numpy" if backend == "rdd" else "frame", sc, frames[3], 3) as ds:
        quick, forced = fit_with_and_without_census(
            ds, calls, reg_param=0.01, class_weight="balanced", **TIGHT)
    assert quick.family_ == forced.family_ == "multinomial"
    assert quick.n_passes_ == len(quick.loss_history_)
    assert forced.n_passes_ == len(forced.loss_history_) + 1
    np.testing.assert_allclose(quick.coef_, forced.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quick.intercept_, forced.intercept_, rtol=0, atol=1e-10)


def test_invalid_labels_are_reported_from_the_census_as_from_the_pass(
        sc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty labels exceed the label summary, so the census finds the invalid ones."""
    calls = counting(monkeypatch, multinomial_module, "label_census_pass")
    y = np.array([float(v) for v in range(20)] * 2 + [2.5, 30.25])
    X = np.random.default_rng(0).normal(size=(y.shape[0], 2))
    with BlockDataset.from_numpy(sc, X, y, num_partitions=2) as ds:
        messages = []
        for census in (ds.label_census, None):
            ds.label_census = census
            with pytest.raises(DataValidationError) as caught:
                LogisticRegression(max_iter=2).fit(ds)
            messages.append(str(caught.value))
    assert calls["n"] == 1
    assert messages[0] == messages[1] and "[2.5, 30.25]" in messages[0]


SCALE = np.array([2.0, 0.25, 3.0])
SHIFT = np.array([1.0, -4.0, 0.5])


@pytest.mark.parametrize("backend", ["rdd", "dataframe"])
def test_a_transformed_view_has_no_census_and_fits_with_the_pass(
        sc: Any, binary: Any, monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    def affine(block: BlockView, _: None) -> BlockView:
        # Local, so cloudpickle ships it by value (workers cannot import test modules).
        return block._replace(X=block.X * SCALE + SHIFT)

    calls = counting(monkeypatch, logistic_module, "label_census_pass")
    X, y, w = labelled_arrays()
    cls = BlockDataset if backend == "rdd" else FrameDataset
    with cls.from_dataframe(binary, features_col="features", label_col="label",
                            weight_col="w") as ds:
        assert ds.label_census is not None
        assert unit_rows_view(ds).label_census is None
        view = ds.transform(affine, None)
        assert view.label_census is None and ds.label_census is not None
        on_view = LogisticRegression(reg_param=0.01, **TIGHT).fit(view)
    assert calls["n"] == 1 and on_view.n_passes_ == len(on_view.loss_history_) + 1
    with BlockDataset.from_numpy(sc, X * SCALE + SHIFT, y, w, num_partitions=3) as moved:
        assert moved.label_census is not None
        reference = LogisticRegression(reg_param=0.01, **TIGHT).fit(moved)
    assert calls["n"] == 1
    np.testing.assert_allclose(on_view.feature_mean_, reference.feature_mean_, rtol=1e-12)
    np.testing.assert_allclose(on_view.feature_std_, reference.feature_std_, rtol=1e-12)
    assert_same_optimum(on_view, reference, reg_param=0.01)
