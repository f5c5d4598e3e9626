"""Executor-resident block storage (``storage="executor"``) against the Spark-cached one.

The two storages hold the same blocks, so every pass must give bit-identical results;
the files live under Spark's own local directories (or ``spark.rddml.storageDir``) and
go away with the dataset without anything being computed; a pass whose files vanished,
lost one block or belong to another build rebuilds them from lineage and gives the same
answer, unless the source gives other rows the second time, which is an error naming
the partition; and the bytes held, measured on the executors, stay close to raw.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark import cloudpickle

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.cluster.passes import cost_pass, lloyd_pass
from rddml.engine.sources.text import read_points_csv
from rddml.errors import DatasetReleasedError, DataValidationError, InvalidParameterError

RNG = np.random.default_rng(4)
X = np.vstack([RNG.normal(size=(3000, 3)), RNG.normal(size=(3000, 3)) + 5])
Y = (np.arange(6000) >= 3000).astype(float)
W = RNG.uniform(0.5, 2.0, 6000)
INIT = X[[0, 3500]]
# The module-level functions below run in Spark tasks, whose Python cannot import a
# test module: ship them by value.
cloudpickle.register_pickle_by_value(__import__(__name__))


def _local_dirs(_: Any) -> str:
    return os.environ["SPARK_LOCAL_DIRS"]


def spark_local_dirs(sc: Any) -> list[str]:
    """The executor's local directories, as a task sees them (local mode: one executor)."""
    [dirs] = set(sc.parallelize([0], 1).map(_local_dirs).collect())
    return str(dirs).split(",")


def dataset_dirs(sc: Any) -> set[str]:
    """This application's dataset directories under the executor's local directories."""
    found = set()
    for root in spark_local_dirs(sc):
        app = os.path.join(root, "rddml-blocks", sc.applicationId)
        if os.path.isdir(app):
            found.update(os.listdir(app))
    return found


def partition_dir(ds: Any, partition: int) -> str:
    [handle] = [h for h in ds._storage.handles if h.partition == partition]
    return str(handle.directory)


@contextlib.contextmanager
def spark_conf(sc: Any, key: str, value: str) -> Iterator[None]:
    """Set a key of the running SparkContext's conf for the block (as spark-submit's
    ``--conf`` would have), then remove it."""
    sc._conf.set(key, value)
    try:
        yield
    finally:
        sc._conf._jconf.remove(key)


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
    assert files and all(f.endswith(".npy") or f == "build" for f in files)
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
        lost = partition_dir(ds, 1)
        shutil.rmtree(lost)  # this test's own dataset: as if the executor's disk was cleaned
        assert cost_pass(ds, INIT) == expected
        rebuilt = partition_dir(ds, 1)
        assert os.path.isdir(rebuilt) and rebuilt != lost  # rebuilt from lineage
        # The first build's other files went with the rebuild: one directory a partition.
        assert len(os.listdir(os.path.dirname(rebuilt))) == 3


def test_files_live_under_the_executors_spark_local_directories(sc: Any) -> None:
    roots = spark_local_dirs(sc)
    with BlockDataset.from_numpy(sc, X, num_partitions=2, storage="executor") as ds:
        for handle in ds._storage.handles:
            root = handle.directory.split(os.sep + "rddml-blocks" + os.sep)[0]
            assert root in roots, (handle.directory, roots)
            # <local dir>/rddml-blocks/<application>/<dataset>/p<partition>-<build>-<write>
            app, dataset, name = handle.directory.split(os.sep)[-3:]
            assert (app, dataset) == (sc.applicationId, ds._storage.dataset_id)
            assert name.startswith(f"p{handle.partition:05d}-{ds._storage.build.nonce}-")


def test_storage_dir_conf_puts_the_files_there_and_checks_the_value(sc: Any,
                                                                     tmp_path: Path) -> None:
    with spark_conf(sc, "spark.rddml.storageDir", str(tmp_path)):
        ds = BlockDataset.from_numpy(sc, X, num_partitions=2, storage="executor")
        expected = cost_pass(ds, INIT)
        blocks = tmp_path / "rddml-blocks" / sc.applicationId / ds._storage.dataset_id
        assert sorted(p.name.split("-")[0] for p in blocks.iterdir()) == ["p00000", "p00001"]
        with BlockDataset.from_numpy(sc, X, num_partitions=2, storage="spark") as ref:
            assert cost_pass(ref, INIT) == expected
        ds.unpersist()
        assert not (tmp_path / "rddml-blocks").exists()
    with spark_conf(sc, "spark.rddml.storageDir", "relative/dir"), \
            pytest.raises(InvalidParameterError,
                          match=r"'spark\.rddml\.storageDir' must be a comma-separated list "
                                r"of absolute directory paths on the executor hosts, got "
                                r"'relative/dir'"):
        BlockDataset.from_numpy(sc, X, num_partitions=2, storage="executor")


def test_a_missing_block_file_is_rebuilt_from_lineage(sc: Any) -> None:
    with BlockDataset.from_numpy(sc, X, num_partitions=3, max_block_rows=500,
                                 storage="executor") as ds:
        expected = cost_pass(ds, INIT)
        directory = partition_dir(ds, 1)
        os.remove(os.path.join(directory, "b000002.X.npy"))  # the directory stays
        assert cost_pass(ds, INIT) == expected
        assert partition_dir(ds, 1) != directory
        assert len(os.listdir(partition_dir(ds, 1))) == 5  # four blocks and the identity


def test_another_builds_files_are_never_opened(sc: Any) -> None:
    other = X[::-1] * 3.0 + 1.0
    with BlockDataset.from_numpy(sc, X, num_partitions=2, storage="executor") as ds, \
            BlockDataset.from_numpy(sc, other, num_partitions=2, storage="executor") as foreign:
        expected = cost_pass(ds, INIT)
        mine = partition_dir(ds, 1)
        # Same shapes, another dataset's (another build's) files in this handle's place.
        shutil.rmtree(mine)
        shutil.copytree(partition_dir(foreign, 1), mine)
        assert cost_pass(ds, INIT) == expected
        assert partition_dir(ds, 1) != mine


def _random_rows(i: int) -> list[float]:
    # No seed: every evaluation of the source gives other rows.
    return np.random.default_rng().normal(size=3).tolist()


def test_a_source_that_changes_when_rebuilt_is_an_error_naming_the_partition(sc: Any) -> None:
    source = sc.parallelize(range(400), 2).map(_random_rows)
    with BlockDataset.from_rdd(source, storage="executor") as ds:
        cost_pass(ds, INIT)
        shutil.rmtree(partition_dir(ds, 1))
        with pytest.raises(DataValidationError,
                           match=r"Partition\(s\) 0, 1 of the dataset were rebuilt from their "
                                 "source .* now hold other rows .* not deterministic"):
            cost_pass(ds, INIT)
    # The handle of a lost executor is recomputed by Spark inside the pass's task.
    with BlockDataset.from_rdd(source, storage="executor") as ds:
        cost_pass(ds, INIT)
        ds._storage.rdd.unpersist(blocking=True)  # as if the executor holding it was lost
        with pytest.raises(DataValidationError,
                           match=r"partition [01] was recomputed from its source and now "
                                 r"holds 200 rows with content digest [0-9a-f]{32}; the "
                                 "dataset was built with 200 rows"):
            cost_pass(ds, INIT)


def _count_rows(row: list[float], *, counter: Any) -> list[float]:
    counter.add(1)
    return row


def test_unpersist_computes_nothing_and_is_idempotent(sc: Any) -> None:
    from functools import partial

    for storage in ("executor", "spark"):
        reads = sc.accumulator(0)
        source = sc.parallelize(X[:1000].tolist(), 2).map(partial(_count_rows, counter=reads))
        ds = BlockDataset.from_rdd(source, storage=storage)
        assert reads.value == 1000
        ds.unpersist()
        ds.unpersist()
        assert reads.value == 1000, storage
        assert ds.released
        if storage == "executor":
            assert ds._storage.dataset_id not in dataset_dirs(sc)


def _fail_in_partition_one(index: int, rows: Any, *, log: str) -> Any:
    with open(log, "a") as f:
        f.write(f"{index}\n")
    if index == 1:
        raise RuntimeError("the source cannot be read")
    return rows


def test_a_failed_conversion_runs_the_failing_partition_once(sc: Any, tmp_path: Path) -> None:
    from functools import partial

    log = tmp_path / "attempts.txt"
    source = sc.parallelize(X[:100].tolist(), 2).mapPartitionsWithIndex(
        partial(_fail_in_partition_one, log=str(log)))
    with pytest.raises(Exception, match="the source cannot be read"):
        BlockDataset.from_rdd(source, storage="executor")
    assert sorted(log.read_text().split()).count("1") == 1  # local[2]: no task retries


@pytest.mark.parametrize("storage", ["executor", "spark"])
def test_a_fit_on_an_unpersisted_dataset_is_an_error(sc: Any, storage: str) -> None:
    ds = BlockDataset.from_numpy(sc, X, Y, num_partitions=2, storage=storage)
    view = ds.transform(_identity_block, None)
    ds.unpersist()
    message = "This BlockDataset was unpersisted: its cached data is gone"
    with pytest.raises(DatasetReleasedError, match=message):
        KMeans(k=2, init=INIT, max_iter=3).fit(ds)
    with pytest.raises(DatasetReleasedError, match=message):
        LogisticRegression(max_iter=3).fit(ds)
    with pytest.raises(DatasetReleasedError, match=message):
        cost_pass(view, INIT)


def _identity_block(block: Any, params: Any) -> Any:
    return block


def test_bytes_held_stay_close_to_raw(stored: dict[str, Any]) -> None:
    raw = X.nbytes + Y.nbytes + W.nbytes
    held = stored["executor"].cached_bytes()
    assert raw <= held <= 1.05 * raw


def test_bytes_held_are_measured_on_the_executors(stored: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver never looks at the files (on a cluster they are not on its disk): with
    the driver's directory listings and file sizes disabled, the figure is unchanged."""
    raw = X.nbytes + Y.nbytes + W.nbytes
    looked: list[str] = []

    def refused(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
        looked.append(str(path))
        raise PermissionError(f"the driver looked at {path}")

    with monkeypatch.context() as patch:
        for name in ("listdir", "scandir"):
            patch.setattr(os, name, refused)
        patch.setattr(os.path, "getsize", refused)
        held = stored["executor"].cached_bytes()
    assert not looked
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
