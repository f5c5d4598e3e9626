"""The direct Parquet reader (:func:`rddml.engine.sources.parquet.read_parquet`) against the
DataFrame path it replaces, ``BlockDataset.from_dataframe(spark.read.parquet(path))``.

Both must give the same dataset: the same rows in the same order (the order of
``spark.read.parquet(path).collect()``, which across files is Spark's, largest byte
range first), the same partitions, blocks, digest, labels and label census, and so the
same fits. Files are written with pyarrow in several row groups, with an empty file, and
with a small ``spark.sql.files.maxPartitionBytes`` so Spark splits files between row
groups. Bad data must be an error naming the file, the row and the column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rddml.engine.sources.parquet as parquet_module
from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.engine.columns import column_names
from rddml.engine.sources.parquet import read_parquet, regroup
from rddml.errors import DataValidationError, InvalidParameterError

FEATURES = ["a", "b", "c"]


def write(path: Path, n: int, seed: int, *, row_group: int = 700, **extra: Any) -> None:
    """``n`` rows of double features a, b, c, a 0/1 label and a weight, in row groups of
    ``row_group`` rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) + 3 * (rng.random((n, 1)) < 0.5)
    columns = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2],
               "label": (X.sum(1) + rng.normal(size=n) > 4.5).astype(float),
               "weight": rng.uniform(0.5, 2.0, n), **extra}
    pq.write_table(pa.table(columns), path, row_group_size=row_group)


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four files of different sizes (one empty), several row groups each."""
    d = tmp_path_factory.mktemp("multi") / "data dir"  # a space: URIs are encoded
    d.mkdir()
    for i, n in enumerate([5000, 800, 0, 2300]):
        write(d / f"part-{i}.parquet", n, seed=i)
    return d


@pytest.fixture
def small_splits(spark: Any) -> Iterator[None]:
    """Spark splits files into ranges of 40 KB, between row groups (and restores it)."""
    key = "spark.sql.files.maxPartitionBytes"
    old = spark.conf.get(key)
    spark.conf.set(key, "40000")
    yield
    spark.conf.set(key, old)


def blocks(ds: BlockDataset) -> list[tuple[Any, ...]]:
    def block_arrays(block: Any, _: None) -> list[tuple[Any, ...]]:
        # Local, so cloudpickle ships it by value (workers cannot import test modules).
        return [(block.first_row, np.array(block.X), None if block.y is None else
                 np.array(block.y), None if block.w is None else np.array(block.w))]

    return ds.rows(block_arrays, None)  # type: ignore[no-any-return]


def summary(ds: BlockDataset) -> dict[str, Any]:
    census = ds.label_census
    return {"n_rows": ds.n_rows, "n_features": ds.n_features, "digest": ds.digest,
            "labels": ds.labels, "min_weight": ds.min_weight,
            "partitions": ds.partition_offsets.tolist(),
            "census": None if census is None else (
                census.moments.count.tolist(), census.moments.weight.tolist(),
                census.moments.mean.tolist(), census.moments.m2.tolist())}


def assert_same_blocks(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[0] == y[0]
        for u, v in zip(x[1:], y[1:]):
            if u is None or v is None:
                assert u is None and v is None
            else:
                np.testing.assert_array_equal(u, v)


def both(spark: Any, path: Path, storage: str, **cols: Any) -> tuple[BlockDataset, BlockDataset]:
    direct = read_parquet(spark, str(path), storage=storage, max_block_rows=1000, **cols)
    via_df = BlockDataset.from_dataframe(spark.read.parquet(str(path)), storage=storage,
                                         max_block_rows=1000, **cols)
    return direct, via_df


@pytest.mark.parametrize("storage", ["spark", "executor"])
def test_multi_file_dataset_equals_the_dataframe_paths(
        spark: Any, multi: Path, small_splits: None, storage: str,
        caplog: pytest.LogCaptureFixture) -> None:
    cols = {"features_col": None, "feature_cols": FEATURES, "label_col": "label",
            "weight_col": "weight"}
    with caplog.at_level(logging.INFO, logger="rddml.engine.sources.parquet"):
        direct, via_df = both(spark, multi, storage, **cols)
    try:
        assert "read directly" in caplog.text  # not the fallback: the comparison means something
        assert direct.storage == via_df.storage == storage
        assert direct.num_partitions > 4  # files were split between row groups
        assert summary(direct) == summary(via_df)
        got = blocks(direct)
        assert_same_blocks(got, blocks(via_df))
        # The row order is spark.read.parquet's (an independent reference for it).
        expected = np.array(spark.read.parquet(str(multi)).select(*FEATURES, "label").collect())
        rows = np.vstack([np.column_stack([X, y]) for _, X, y, _ in got])
        np.testing.assert_array_equal(rows, expected)
        assert [first for first, *_ in got] == np.cumsum(
            [0] + [len(X) for _, X, _, _ in got[:-1]]).tolist()
    finally:
        direct.unpersist()
        via_df.unpersist()


def test_single_file_rows_are_the_files_rows_in_order(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    write(path, 4321, seed=7, row_group=1000)
    ds = read_parquet(spark, str(path), feature_cols=FEATURES, label_col="label")
    try:
        table = pq.read_table(path)
        X = np.column_stack([table[c].to_numpy() for c in FEATURES])
        got = blocks(ds)
        np.testing.assert_array_equal(np.vstack([b[1] for b in got]), X)
        np.testing.assert_array_equal(np.concatenate([b[2] for b in got]),
                                      table["label"].to_numpy())
        assert ds.labels == (0.0, 1.0) and ds.n_rows == 4321 and not ds.has_weights
    finally:
        ds.unpersist()


def test_array_and_integer_columns_equal_the_dataframe_path(spark: Any, tmp_path: Path) -> None:
    """An array<double> features column, and integer labels cast to double."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1500, 4))
    table = pa.table({"features": pa.array(list(X), pa.list_(pa.float64())),
                      "ints": pa.array(rng.integers(-5, 5, 1500), pa.int32()),
                      "label": pa.array(rng.integers(0, 2, 1500), pa.int64())})
    pq.write_table(table, tmp_path / "arr.parquet", row_group_size=400)
    for cols in ({"features_col": "features", "label_col": "label"},
                 {"features_col": None, "feature_cols": ["ints"], "weight_col": "label"}):
        direct, via_df = both(spark, tmp_path / "arr.parquet", "executor", **cols)
        try:
            assert summary(direct) == summary(via_df)
            assert_same_blocks(blocks(direct), blocks(via_df))
        finally:
            direct.unpersist()
            via_df.unpersist()


@pytest.mark.parametrize("storage", ["spark", "executor"])
def test_fits_equal_the_dataframe_paths(spark: Any, multi: Path, storage: str) -> None:
    cols = {"features_col": None, "feature_cols": FEATURES, "label_col": "label"}
    direct, via_df = both(spark, multi, storage, **cols)
    try:
        for estimator, attr in ((KMeans(k=2, init="k-means||", seed=3, max_iter=5),
                                 "cluster_centers_"),
                                (LogisticRegression(reg_param=0.01), "coef_")):
            ours = getattr(estimator.fit(direct), attr).copy()
            theirs = getattr(estimator.fit(via_df), attr)
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    finally:
        direct.unpersist()
        via_df.unpersist()


def test_num_partitions_regroups_ranges_keeping_the_row_order(
        spark: Any, multi: Path, small_splits: None) -> None:
    reference = read_parquet(spark, str(multi), feature_cols=FEATURES, storage="spark")
    regrouped = read_parquet(spark, str(multi), feature_cols=FEATURES, storage="spark",
                             num_partitions=2)
    try:
        assert regrouped.num_partitions == 2 < reference.num_partitions
        assert regrouped.digest == reference.digest
        np.testing.assert_array_equal(np.vstack([b[1] for b in blocks(regrouped)]),
                                      np.vstack([b[1] for b in blocks(reference)]))
    finally:
        reference.unpersist()
        regrouped.unpersist()


def test_regroup_cuts_contiguous_runs_of_about_equal_bytes() -> None:
    plan = [[("f", 0, 10)], [("g", 0, 30)], [("f", 10, 10), ("h", 0, 10)], [("i", 0, 40)]]
    assert regroup(plan, 2) == [[("f", 0, 10), ("g", 0, 30), ("f", 10, 10)],
                                [("h", 0, 10), ("i", 0, 40)]]
    assert regroup(plan, 1) == [[s for part in plan for s in part]]
    assert regroup([[]], 3) == [[]]


@pytest.mark.parametrize(("column", "value", "message"), [
    ("b", np.nan, r"row 1234 \(0-based\) of file .*part-1\.parquet has a non-finite value "
                  r"nan in feature 1"),
    ("label", None, r"row 1234 \(0-based\) of file .*part-1\.parquet has a null label in "
                    r"column 'label'"),
    ("a", None, r"row 1234 \(0-based\) of file .*part-1\.parquet has a null in feature "
                r"column\(s\) \['a'\]"),
])
def test_bad_values_name_the_file_row_and_column(spark: Any, tmp_path: Path, column: str,
                                                  value: Any, message: str) -> None:
    write(tmp_path / "part-0.parquet", 3000, seed=0)
    table = pq.read_table(tmp_path / "part-0.parquet")
    values = table[column].to_pylist()
    values[1234] = value
    bad = table.set_column(table.schema.get_field_index(column), column,
                           pa.array(values, pa.float64()))
    pq.write_table(bad, tmp_path / "part-1.parquet", row_group_size=500)
    cols = {"features_col": None, "feature_cols": FEATURES, "label_col": "label"}
    with pytest.raises(DataValidationError, match=message):
        read_parquet(spark, str(tmp_path), **cols)
    with pytest.raises(DataValidationError):  # the DataFrame path rejects it too
        BlockDataset.from_dataframe(spark.read.parquet(str(tmp_path)), **cols)


def test_a_file_without_a_column_or_with_a_text_one_is_named(tmp_path: Path) -> None:
    """Each file is checked against its own schema (Spark takes the schema of one)."""
    pq.write_table(pa.table({"a": [1.0], "b": [2.0]}), tmp_path / "f.parquet")
    pq.write_table(pa.table({"a": [1.0], "b": ["x"]}), tmp_path / "g.parquet")
    cases = [("f", column_names(None, ["a", "b"], "label"),
              r"file .*f\.parquet has no label column 'label'; its columns are \['a', 'b'\]"),
             ("g", column_names(None, ["a", "b"]),
              r"file .*g\.parquet: the feature column 'b' must be numeric, but it has type "
              r"string")]
    for name, cols, message in cases:
        uri = (tmp_path / f"{name}.parquet").as_uri()
        (item,) = parquet_module._read_partition(
            0, [[(uri, 0, 10**9)]], names=cols, has_y=cols["label_source"] is not None,
            has_w=False, max_rows=None)
        assert isinstance(item, parquet_module.BlockError)
        assert re.search(message, item.message), item.message


def test_schema_errors_name_the_path_and_column(spark: Any, multi: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"data dir.*'nope' is not in"):
        read_parquet(spark, str(multi), feature_cols=["a", "nope"])
    with pytest.raises(DataValidationError, match=r"does not exist"):
        read_parquet(spark, str(multi / "missing"), feature_cols=FEATURES)


def test_vector_columns_and_unopenable_uris_fall_back_to_the_dataframe_path(
        spark: Any, tmp_path: Path, multi: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from pyspark.ml.linalg import Vectors

    rows = [(Vectors.dense([float(i), 2.0 * i]), float(i % 2)) for i in range(50)]
    spark.createDataFrame(rows, ["features", "label"]).write.parquet(str(tmp_path / "vec"))
    with caplog.at_level(logging.WARNING, logger="rddml.engine.sources.parquet"):
        ds = read_parquet(spark, str(tmp_path / "vec"), features_col="features",
                          label_col="label")
    try:
        assert "is a vector" in caplog.text and ds.n_rows == 50 and ds.labels == (0.0, 1.0)
    finally:
        ds.unpersist()
    monkeypatch.setattr(parquet_module, "_pyarrow_cannot_open",
                        lambda uri: f"no filesystem for {uri}")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rddml.engine.sources.parquet"):
        direct, via_df = both(spark, multi, "spark", features_col=None, feature_cols=FEATURES)
    try:
        assert "no filesystem for" in caplog.text
        assert summary(direct) == summary(via_df)
    finally:
        direct.unpersist()
        via_df.unpersist()
