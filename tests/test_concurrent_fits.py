"""Fits at the same time on one session: each keeps its own cache, none touches the user's.

Two DataFrame-backend datasets of the same DataFrame must not share the cache entry one
of them releases; a fit must never uncache what the user cached; a conversion must
never write the session's ``spark.sql.execution.arrow.maxRecordsPerBatch`` (its batch
size goes to its own export). CrossValidator and TrainValidationSplit with
``parallelism=2`` run rddml.ml fits in threads on both backends: their metrics must
equal the serial run's and the session conf must be as the user left it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pyspark import StorageLevel, cloudpickle
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit
from pyspark.sql.conf import RuntimeConfig

from rddml import BlockDataset, KMeans
from rddml.cluster.passes import cost_pass
from rddml.engine.convert import _arrow_batch_rdd
from rddml.engine.frames import FrameDataset
from rddml.errors import DatasetReleasedError
from rddml.ml import LogisticRegression

KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"
COLS = {"features_col": None, "feature_cols": ["a", "b"]}
CENTRES = np.array([[0.0, 0.0], [5.0, 5.0]])
# Module-level functions below run in Spark tasks, which cannot import a test module.
cloudpickle.register_pickle_by_value(__import__(__name__))


@pytest.fixture(scope="module")
def frame(spark: Any) -> Any:
    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 5.0])
    y = (X.sum(axis=1) + rng.normal(scale=2.0, size=1000) > 5.0).astype(float)
    return spark.createDataFrame([(float(a), float(b), float(t)) for (a, b), t in zip(X, y)],
                                 ["a", "b", "label"]).repartition(2)


@pytest.fixture
def conf_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every key written to a session's conf (``set``/``unset``) while the test runs."""
    writes: list[str] = []
    set_, unset = RuntimeConfig.set, RuntimeConfig.unset

    def recording_set(self: Any, key: str, value: Any) -> None:
        writes.append(key)
        set_(self, key, value)

    def recording_unset(self: Any, key: str) -> None:
        writes.append(key)
        unset(self, key)

    monkeypatch.setattr(RuntimeConfig, "set", recording_set)
    monkeypatch.setattr(RuntimeConfig, "unset", recording_unset)
    yield writes


def user_value(spark: Any, value: str | None) -> None:
    """Set (or unset) the Arrow batch size as the user would, outside any recording."""
    if value is None:
        spark._jsparkSession.conf().unset(KEY)
    else:
        spark._jsparkSession.conf().set(KEY, value)


# ---------------------------------------------------------------- cache entries
def test_two_datasets_of_one_dataframe_keep_their_own_cache(frame: Any) -> None:
    first = FrameDataset.from_dataframe(frame, **COLS)
    second = FrameDataset.from_dataframe(frame, **COLS)
    expected = cost_pass(first, CENTRES)
    first.unpersist()  # e.g. the fit that built it ended
    assert second.df.storageLevel != StorageLevel.NONE
    assert cost_pass(second, CENTRES) == expected
    second.unpersist()
    assert second.df.storageLevel == StorageLevel.NONE
    second.unpersist()  # nothing the second time
    with pytest.raises(DatasetReleasedError, match="This FrameDataset was unpersisted"):
        cost_pass(second, CENTRES)


def test_a_fit_never_uncaches_the_users_cache(frame: Any) -> None:
    mine = frame.select("a", "b").cache()
    mine.count()
    level = mine.storageLevel
    try:
        KMeans(k=2, init=CENTRES, max_iter=3, backend="dataframe", **COLS).fit(frame)
        assert mine.storageLevel == level != StorageLevel.NONE
    finally:
        mine.unpersist()


# ------------------------------------------------------------ the Arrow batch size
def _count(items: Any) -> list[int]:
    return [sum(1 for _ in items)]


def test_the_batch_size_goes_to_the_export_not_to_the_session(spark: Any,
                                                              conf_writes: list[str]) -> None:
    df = spark.range(0, 60000, numPartitions=1).selectExpr("cast(id as double) as a")
    try:
        for before, default_batches in ((None, 6), ("20000", 3)):
            user_value(spark, before)
            # 60000 rows: 2 batches of 50000 rows at most for this export, while the
            # session's own setting (10000 by default) still holds for everything else.
            assert _arrow_batch_rdd(df, 50000).mapPartitions(_count).collect() == [2]
            assert _arrow_batch_rdd(df).mapPartitions(_count).collect() == [default_batches]
            assert spark.conf.get(KEY, None) == before
    finally:
        user_value(spark, None)
    assert KEY not in conf_writes


def test_concurrent_conversions_leave_the_session_conf_alone(spark: Any, frame: Any,
                                                             conf_writes: list[str]) -> None:
    errors: list[BaseException] = []

    def convert() -> None:
        try:
            for _ in range(3):
                with BlockDataset.from_dataframe(frame, **COLS) as ds:
                    assert ds.n_rows == 1000
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    try:
        for before in (None, "5000"):
            user_value(spark, before)
            threads = [threading.Thread(target=convert) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors
            assert spark.conf.get(KEY, None) == before
    finally:
        user_value(spark, None)
    assert KEY not in conf_writes


# ------------------------------------------------------- tuning with parallelism
@pytest.mark.parametrize("backend", ["rdd", "dataframe"])
def test_tuning_in_parallel_equals_serial_and_leaves_the_conf(spark: Any, frame: Any,
                                                             backend: str,
                                                             conf_writes: list[str]) -> None:
    features = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(frame)
    features = features.select("features", "label").cache()
    features.count()
    lr = LogisticRegression(backend=backend, maxIter=10)
    grid = ParamGridBuilder().addGrid(lr.regParam, [0.001, 0.3]).build()
    evaluator = BinaryClassificationEvaluator()
    results: dict[str, list[Any]] = {"cv": [], "tvs": []}
    try:
        user_value(spark, "5000")
        for parallelism in (1, 2):
            cv = CrossValidator(estimator=lr, estimatorParamMaps=grid, evaluator=evaluator,
                                numFolds=2, seed=3, parallelism=parallelism).fit(features)
            results["cv"].append((np.asarray(cv.avgMetrics), cv.bestModel.getRegParam()))
            tvs = TrainValidationSplit(estimator=lr, estimatorParamMaps=grid,
                                       evaluator=evaluator, trainRatio=0.7, seed=3,
                                       parallelism=parallelism).fit(features)
            results["tvs"].append((np.asarray(tvs.validationMetrics),
                                   tvs.bestModel.getRegParam()))
            assert spark.conf.get(KEY) == "5000"
    finally:
        user_value(spark, None)
        features.unpersist()
    for name, ((serial, best), (parallel, best_parallel)) in results.items():
        np.testing.assert_allclose(parallel, serial, rtol=0, atol=1e-12, err_msg=name)
        assert best_parallel == best, name
        assert 0.6 < serial.max() <= 1.0, name  # a real signal, not a degenerate fit
    assert KEY not in conf_writes
