"""The DataFrame backend on the classic session: backend choice, validation, checkpoints.

Every algorithm runs on both backends in ``test_backends.py`` (one parametrised
fixture); the same code under Spark Connect is exercised by ``test_connect.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.dataframe_support import BLOB_CENTRES, blob_frame, fit_kmeans_dataframe

from rddml import KMeans
from rddml.engine.backend import has_spark_context, is_connect_dataframe, resolve_backend
from rddml.engine.content_keys import row_keys
from rddml.engine.frames import FrameDataset
from rddml.errors import DataValidationError, InvalidParameterError


@pytest.fixture(scope="module")
def blobs(spark: Any) -> Any:
    df = blob_frame(spark).persist()
    yield df
    df.unpersist()


def _fake_dataframe(module: str, session: Any = None) -> Any:
    cls = type("DataFrame", (), {"__module__": module})
    obj = cls()
    obj.sparkSession = session
    return obj


# ------------------------------------------------------------------- backend choice
def test_auto_runs_classic_dataframes_and_rdds_on_rdds(spark: Any, sc: Any, blobs: Any) -> None:
    assert has_spark_context(blobs)
    assert not is_connect_dataframe(blobs)
    assert resolve_backend(blobs, "auto") == "rdd"
    assert resolve_backend(sc.parallelize([[1.0]]), "auto") == "rdd"
    assert resolve_backend(blobs, "dataframe") == "dataframe"


def test_auto_runs_connect_dataframes_on_the_dataframe_backend() -> None:
    connect_df = _fake_dataframe("pyspark.sql.connect.dataframe")
    assert is_connect_dataframe(connect_df)
    assert resolve_backend(connect_df, "auto") == "dataframe"
    with pytest.raises(InvalidParameterError, match="'rdd' needs a SparkContext"):
        resolve_backend(connect_df, "rdd")


def test_a_session_whose_spark_context_raises_counts_as_connect() -> None:
    class Blocked:
        @property
        def sparkContext(self) -> Any:
            raise RuntimeError("JVM access is blocked on this cluster")

    df = _fake_dataframe("pyspark.sql.classic.dataframe", Blocked())
    assert resolve_backend(df, "auto") == "dataframe"


def test_dataframe_backend_rejects_rdds_and_unknown_backends(sc: Any) -> None:
    with pytest.raises(InvalidParameterError, match="needs a pyspark DataFrame, got an RDD"):
        resolve_backend(sc.parallelize([[1.0]]), "dataframe")
    with pytest.raises(InvalidParameterError, match="'backend' parameter must be one of"):
        resolve_backend(sc.parallelize([[1.0]]), "spark")


# -------------------------------------------------------------------- content keys
def test_row_keys_depend_only_on_the_values() -> None:
    X = np.random.default_rng(0).normal(size=(50, 3))
    perm = np.random.default_rng(1).permutation(50)
    keys = row_keys(X)
    np.testing.assert_array_equal(row_keys(X[perm]), keys[perm])
    assert len(np.unique(keys)) == 50
    assert row_keys(np.array([[-0.0, 1.0]]))[0] == row_keys(np.array([[0.0, 1.0]]))[0]
    y = np.zeros(50)
    assert not np.array_equal(row_keys(X, y), keys)  # extra columns change the key


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("rows", "schema", "message"),
    [
        ([([1.0, 2.0],), ([1.0, float("nan")],)], "features array<double>",
         r"Invalid data in DataFrame columns \['features'\]: row 1 of the partition has a "
         r"non-finite value nan in feature 1"),
        ([([1.0, 2.0],), ([1.0, None],)], "features array<double>",
         r"row 1 of the partition has a null in feature column\(s\) \['features'\]"),
        ([([1.0, 2.0],), ([1.0, 2.0, 3.0],)], "features array<double>",
         "row 1 of the partition has 3 features, expected 2"),
        ([], "features array<double>", r"it has no rows \(empty input\)"),
    ],
)
def test_bad_rows_raise_a_clear_error(spark: Any, rows: list[Any], schema: str,
                                      message: str) -> None:
    df = spark.createDataFrame(rows, schema).coalesce(1)
    with pytest.raises(DataValidationError, match=message):
        FrameDataset.from_dataframe(df, features_col="features")


def test_bad_columns_and_weights_raise_before_fitting(spark: Any, blobs: Any) -> None:
    with pytest.raises(InvalidParameterError, match="'nope' is not in the DataFrame"):
        fit_kmeans_dataframe(blobs, k=2, feature_cols=["x0", "nope"])
    negative = spark.createDataFrame([([0.0], -1.0), ([1.0], 1.0)], "features array<double>, w double")
    with pytest.raises(InvalidParameterError, match="Sample weights must be >= 0"):
        fit_kmeans_dataframe(negative, k=1, weight_col="w")
    zero = spark.createDataFrame([([0.0, 0.0],), ([1.0, 0.0],)], "features array<double>")
    with pytest.raises(DataValidationError, match="distance='cosine' needs non-zero points"):
        fit_kmeans_dataframe(zero, k=1, distance="cosine")
    with pytest.raises(InvalidParameterError, match="number of distinct points"):
        fit_kmeans_dataframe(spark.createDataFrame([([1.0],)] * 3, "features array<double>"),
                             k=2, init="random", seed=0)


def test_dataframe_backend_fit_checkpoints_and_resumes(blobs: Any, tmp_path: Any) -> None:
    params = dict(k=3, init=BLOB_CENTRES, tol=0.0, weight_col="w", backend="dataframe",
                  checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_interval=1)
    KMeans(max_iter=2, **params).fit(blobs)
    resumed = KMeans(max_iter=4, **params).fit(blobs)
    straight = KMeans(max_iter=4, **{**params, "checkpoint_dir": None}).fit(blobs)
    assert resumed.resumed_iteration_ == 2
    np.testing.assert_array_equal(resumed.cluster_centers_, straight.cluster_centers_)
    assert resumed.history_ == [{**h, "seconds": r["seconds"]} for h, r in
                                zip(straight.history_, resumed.history_)]


@pytest.mark.parametrize("storage", ["executor", "spark"])
def test_the_mapinarrow_fallback_builds_the_same_blocks(
        spark: Any, monkeypatch: pytest.MonkeyPatch, storage: str) -> None:
    """Where Spark's Arrow export (``toArrowBatchRdd``) cannot be reached, the conversion
    falls back to ``mapInArrow``: same rows in the same order, same summary and digest,
    and the same file:row error for a non-finite value."""
    import rddml.engine.blocks as blocks_module
    from rddml import BlockDataset

    rng = np.random.default_rng(5)
    X = rng.standard_normal((301, 3))
    y = (rng.random(301) < 0.4).astype(float)
    df = spark.createDataFrame(
        [(*map(float, row), float(t)) for row, t in zip(X, y)], "a double, b double, c double, "
        "label double").repartition(3)
    def rows_with_labels(block: Any, _: None) -> list[tuple[float, ...]]:
        # Local, so cloudpickle ships it by value (workers cannot import test modules).
        return [tuple(r) for r in np.column_stack([block.X, block.y]).tolist()]

    built = {}
    for path in ("export", "fallback"):
        if path == "fallback":
            monkeypatch.setattr(blocks_module.convert, "_arrow_batch_rdd",
                                lambda _df, _rows=None: None)
        ds = BlockDataset.from_dataframe(df, feature_cols=["a", "b", "c"], label_col="label",
                                         storage=storage)
        try:
            rows = ds.rows(rows_with_labels, None)
            built[path] = (ds.n_rows, ds.digest, ds.labels, rows)
        finally:
            ds.unpersist()
        bad = df.withColumn("b", np.inf * (df["a"] > 1.5).cast("double") + df["b"])
        with pytest.raises(DataValidationError, match=r"(?i)finite|inf"):
            BlockDataset.from_dataframe(bad, feature_cols=["a", "b", "c"], label_col="label",
                                        storage=storage)
    assert built["export"] == built["fallback"]
    assert built["export"][0] == 301
