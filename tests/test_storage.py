"""Executor-resident block storage (``storage="executor"``) against the Spark-cached one.

The two storages hold the same blocks, so every pass must give bit-identical results;
the files must go away with the dataset, a pass whose files vanished must rebuild them
from lineage and give the same answer, and the bytes held must stay close to raw.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.cluster.passes import cost_pass, lloyd_pass
from rddml.engine.sources.text import read_points_csv
from rddml.engine.storage import storage_root
from rddml.errors import InvalidParameterError

RNG = np.random.default_rng(4)
X = np.vstack([RNG.normal(size=(3000, 3)), RNG.normal(size=(3000, 3)) + 5])
Y = (np.arange(6000) >= 3000).astype(float)
W = RNG.uniform(0.5, 2.0, 6000)
INIT = X[[0, 3500]]


def dataset_dirs(sc: Any) -> set[str]:
    root = storage_root()
    return set(os.listdir(root)) if os.path.isdir(root) else set()


@pytest.fixture(scope="module")
def stored(sc: Any) -> Any:
    datasets = {s: BlockDataset.from_numpy(sc, X, Y, W, num_partitions=3, max_block_rows=700,
                                           storage=s) for s in ("spark", "executor")}
    yield datasets
    for ds in datasets.values():
        ds.unpersist()


def test_both_storages_hold_the_same_rows(stored: dict[str, Any]) -> None:
    spark_ds, exec_ds = stored["spark"], stored["executor"]
    assert exec_ds.storage == "executor" and spark_ds.storage == "spark"
    assert exec_ds.digest == spark_ds.digest and exec_ds.n_rows == 6000
    for aggregation in ("tree", "reduceByKey"):
        a = lloyd_pass(spark_ds, INIT, aggregation=aggregation, n_far=2)
        b = lloyd_pass(exec_ds, INIT, aggregation=aggregation, n_far=2)
        np.testing.assert_array_equal(a.sums, b.sums)
        np.testing.assert_array_equal(a.far_points, b.far_points)
        assert a.cost == b.cost


@pytest.mark.parametrize("estimator", [
    KMeans(k=2, init="k-means||", seed=3, max_iter=5),
    LogisticRegression(reg_param=0.01),
], ids=["kmeans", "logistic"])
def test_fits_are_identical_on_both_storages(stored: dict[str, Any], estimator: Any) -> None:
    a = estimator.set_params(storage="spark").fit(stored["spark"])
    attr = "cluster_centers_" if isinstance(a, KMeans) else "coef_"
    first = getattr(a, attr).copy()
    b = estimator.fit(stored["executor"])
    np.testing.assert_array_equal(getattr(b, attr), first)


def test_files_go_away_with_the_dataset_and_nothing_accumulates(sc: Any) -> None:
    before = dataset_dirs(sc)
    ds = BlockDataset.from_numpy(sc, X, num_partitions=2, storage="executor")
    new = dataset_dirs(sc) - before
    assert len(new) == 1
    files = [f for h in ds._storage.handles for f in os.listdir(h.directory)]
    assert files and all(f.endswith(".npy") for f in files)
    ds.unpersist()
    assert dataset_dirs(sc) == before
    rdd = sc.parallelize(X.tolist(), 2)
    for _ in range(2):  # fits that build their own dataset release its files
        KMeans(k=2, init=INIT, max_iter=2, storage="executor").fit(rdd)
        LogisticRegression(max_iter=3, storage="executor").fit(
            sc.parallelize(list(zip(X.tolist(), Y.tolist())), 2))
    assert dataset_dirs(sc) == before


def test_a_pass_whose_files_vanished_rebuilds_them_and_gives_the_same_answer(sc: Any) -> None:
    with BlockDataset.from_rdd(sc.parallelize(X.tolist(), 3), storage="executor") as ds:
        expected = cost_pass(ds, INIT)
        lost = ds._storage.handles[1].directory
        shutil.rmtree(lost)  # this test's own dataset: as if the executor's disk was cleaned
        assert cost_pass(ds, INIT) == expected
        assert os.path.isdir(ds._storage.handles[1].directory)  # rebuilt from lineage


def test_bytes_held_stay_close_to_raw(stored: dict[str, Any]) -> None:
    raw = X.nbytes + Y.nbytes + W.nbytes
    held = stored["executor"].cached_bytes()
    assert raw <= held <= 1.05 * raw


def test_skipped_rows_are_counted_with_executor_storage(sc: Any, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("0,1\n2,x\n4,5\n")
    with read_points_csv(sc, str(path), on_bad_rows="skip", storage="executor") as ds:
        assert (ds.n_rows, ds.n_skipped) == (2, 1)
        assert cost_pass(ds, np.array([[0.0, 1.0]])) == pytest.approx(32.0)


def test_executor_storage_on_the_dataframe_backend_is_an_error(spark: Any) -> None:
    df = spark.createDataFrame([([0.0, 1.0],), ([2.0, 3.0],)], "features array<double>")
    with pytest.raises(InvalidParameterError, match="'storage' parameter 'executor' needs"):
        KMeans(k=1, backend="dataframe", storage="executor").fit(df)
    with pytest.raises(InvalidParameterError, match="'storage' parameter must be one of"):
        KMeans(k=1, storage="disk").fit(df)


def test_dataframe_conversion_writes_files_directly_and_matches_spark_storage(spark: Any) -> None:
    import pandas as pd

    pdf = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": Y, "w": W})
    df = spark.createDataFrame(pdf).repartition(3)
    cols = dict(features_col=None, feature_cols=["a", "b", "c"], label_col="y", weight_col="w")
    with BlockDataset.from_dataframe(df, storage="spark", **cols) as a, \
            BlockDataset.from_dataframe(df, storage="executor", **cols) as b:
        assert b.storage == "executor" and a.digest == b.digest
        assert a.n_rows == b.n_rows == 6000 and b.labels == (0.0, 1.0)
        np.testing.assert_array_equal(a.partition_offsets, b.partition_offsets)
        sa = lloyd_pass(a, INIT, aggregation="tree", n_far=3)
        sb = lloyd_pass(b, INIT, aggregation="tree", n_far=3)
        np.testing.assert_array_equal(sa.sums, sb.sums)
        np.testing.assert_array_equal(sa.far_points, sb.far_points)
