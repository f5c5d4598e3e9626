"""The DataFrame → blocks conversion's fast paths keep its results.

The conversion selects double columns without renaming them, exports Arrow batches of
about :data:`~rddml.engine.convert.ARROW_BATCH_BYTES`, reads the batches' buffers
without pandas and computes the content digest chunk by chunk. Checked here: the digest
equals its whole-array definition (and the values the earlier code gave), the selection
gives the rows NumPy holds whatever the column types and repeats, the batch size is set
for the export only, and a batch is read without importing pandas. The first tests need
no Spark.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from rddml import BlockDataset
from rddml.engine.columns import select_model_columns
from rddml.engine.content_keys import row_keys
from rddml.engine.convert import _arrow_batch_rdd, arrow_batch_rows
from rddml.engine.counter_rng import _mix
from rddml.engine.records import _DIGEST_SALT, content_digest


def whole_array_digest(X: np.ndarray, y: np.ndarray | None,
                       w: np.ndarray | None) -> tuple[int, int]:
    """The digest's definition: sums of the row hashes and of their salted mix."""
    h = row_keys(X, y, w)
    with np.errstate(over="ignore"):
        second = _mix(h ^ _DIGEST_SALT)
    return int(h.sum(dtype=np.uint64)), int(second.sum(dtype=np.uint64))


@pytest.mark.parametrize("n", [0, 1, 8191, 8192, 8193, 25000])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_the_chunked_digest_equals_its_whole_array_definition(n: int, d: int) -> None:
    rng = np.random.default_rng(n + d)
    X = rng.normal(size=(n, d))
    X[rng.random((n, d)) < 0.1] = -0.0
    X[rng.random((n, d)) < 0.05] = np.nan  # hashed by bit pattern like any value
    y = rng.integers(0, 3, n).astype(np.float64)
    w = rng.random(n)
    for args in [(X, None, None), (X, y, None), (X, y, w), (X[:, ::-1], None, w)]:
        assert content_digest(*args) == whole_array_digest(*args)


def test_the_digest_of_fixed_rows_is_the_one_earlier_versions_computed() -> None:
    """Pinned: checkpoint fingerprints hold digests, so the same rows keep theirs."""
    rng = np.random.default_rng(17)
    X = rng.normal(size=(20000, 3))
    X[::7, 1] = -0.0
    X[::11, 2] = 0.0
    y = rng.integers(0, 2, 20000).astype(np.float64)
    w = rng.random(20000)
    assert content_digest(X, y, w) == (0xF2312234938A9416, 0xA124251E9583F34B)
    assert content_digest(X, None, None) == (0xDB7638B0BE57A823, 0x8A1B68796E7089A1)
    negated = X.copy()
    negated[negated == 0.0] = -0.0  # every zero now negative: the same values
    assert content_digest(negated, None, None) == content_digest(X, None, None)


def test_arrow_batches_are_read_without_importing_pandas() -> None:
    """pyarrow's ``Array.to_numpy`` imports pandas (about 0.2 s in every new worker).
    The batch reaches the fresh interpreter as IPC bytes, as it reaches a worker
    (making it there with ``pa.array`` would import pandas itself)."""
    import pyarrow as pa

    batch = pa.record_batch([pa.array(np.arange(6.0)), pa.array(np.ones(6))], ["a", "y"])
    code = (
        "import sys, pyarrow as pa\n"
        "from rddml.engine.columns import arrow_batch_columns\n"
        "schema = pa.schema([('a', pa.float64()), ('y', pa.float64())])\n"
        "b = pa.ipc.read_record_batch(pa.py_buffer(sys.stdin.buffer.read()), schema)\n"
        "X, y, w = arrow_batch_columns(b.slice(2), True, False, "
        "{'feature_source': ['a'], 'label_source': 'y'}, 0)\n"
        "assert X[0].tolist() == [2.0, 3.0, 4.0, 5.0] and y.tolist() == [1.0] * 4\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], input=batch.serialize().to_pybytes(),
                   check=True)


def test_batch_rows_aim_at_the_batch_bytes_but_never_below_spark_default() -> None:
    assert arrow_batch_rows(2) == 65536
    assert arrow_batch_rows(11) == 11915
    assert arrow_batch_rows(500) == 10000


# ---------------------------------------------------------------------- with Spark
def test_double_columns_are_selected_as_they_are_and_others_cast(spark: Any, sc: Any) -> None:
    """Doubles keep their name (no renaming projection in the plan); an integer column,
    a repeated column and a label that is also a feature are cast and renamed; the
    blocks hold the rows NumPy holds (same digest as the arrays themselves)."""
    rng = np.random.default_rng(3)
    a, c = rng.normal(size=500), rng.normal(size=500)
    b = rng.integers(-5, 5, 500)
    y = (rng.random(500) < 0.5).astype(np.float64)
    df = spark.createDataFrame(
        [(float(p), int(q), float(r), float(t)) for p, q, r, t in zip(a, b, c, y)],
        "a double, b int, c double, label double").repartition(3).persist()
    try:
        features = ["a", "b", "c", "a", "label"]
        selected = select_model_columns(df, features_col=None, feature_cols=features,
                                        label_col="label")
        assert selected.columns == ["a", "__rddml_x1", "c", "__rddml_x3", "label", "__rddml_y"]
        plain = select_model_columns(df, features_col=None, feature_cols=["c", "a"])
        plan = plain._jdf.queryExecution().executedPlan().toString()
        assert "Project" not in plan, plan
        ds = BlockDataset.from_dataframe(df, features_col=None, feature_cols=features,
                                         label_col="label")
        X = np.column_stack([a, b, c, a, y])
        reference = BlockDataset.from_numpy(sc, X, y, num_partitions=2)
        try:
            assert (ds.n_rows, ds.n_features, ds.labels) == (500, 5, (0.0, 1.0))
            assert ds.digest == reference.digest
        finally:
            ds.unpersist()
            reference.unpersist()
    finally:
        df.unpersist()


@pytest.mark.parametrize("before", [None, "777"])
def test_the_export_batch_size_is_set_for_that_export_only(spark: Any,
                                                           before: str | None) -> None:
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    if before is not None:
        spark.conf.set(key, before)
    try:
        df = spark.range(0, 25000, numPartitions=1).selectExpr("cast(id as double) as x")
        ipc = _arrow_batch_rdd(df, 10000)
        assert ipc is not None
        assert spark.conf.get(key, None) == before  # restored (or still unset)
        assert ipc.map(len).count() == 3  # 10000 + 10000 + 5000 rows
        default = _arrow_batch_rdd(df)
        assert default is not None
        assert default.map(len).count() == (33 if before else 3)  # the session's own
    finally:
        spark.conf.unset(key)
