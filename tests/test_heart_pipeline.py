"""Steps 4-5 on hand-made rows: the seeded split and the preprocessing fitted on train.

The same checks on the real files are in ``test_heart_study.py`` (one study run).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from rddml.errors import DataValidationError, InvalidParameterError
from rddml.heart.columns import IMPOSSIBLE_VALUE_RULES
from rddml.heart.pipeline import (
    feature_names,
    fitted_statistics,
    prepare_splits,
)
from rddml.heart.split import train_test_split
from rddml.heart.transformers import DropSparseColumnsModel, ImpossibleValueToNull

COLUMNS = ("source string, line bigint, age double, sex double, cp double, trestbps double, "
           "chol double, fbs double, restecg double, thalach double, exang double, "
           "oldpeak double, disease int")
N = None
# Hand-made training rows: zeros, a negative oldpeak and nulls in every imputed column.
TRAIN = [
    ("t", 1, 40.0, 1.0, 1.0, 120.0, 200.0, 0.0, 0.0, 150.0, 0.0, 1.0, 0),
    ("t", 2, 50.0, 0.0, 2.0, 140.0, 0.0, 1.0, 1.0, N, 1.0, -1.0, 1),
    ("t", 3, 60.0, 1.0, 4.0, N, 300.0, N, 0.0, 130.0, 0.0, 2.0, 1),
    ("t", 4, 70.0, 1.0, 4.0, 160.0, 250.0, 0.0, N, 170.0, N, 0.0, 0),
    ("t", 5, 45.0, 0.0, 2.0, 0.0, 220.0, 0.0, 1.0, 140.0, 1.0, 3.0, 1),
]
# Scoring rows: unseen cp 3 and restecg 2, impossible values, values beyond the train range.
TEST = [
    ("s", 6, 55.0, 1.0, 3.0, N, 0.0, 1.0, 2.0, N, 0.0, -2.0, 1),
    ("s", 7, 80.0, 0.0, 1.0, 200.0, 400.0, 0.0, 0.0, 100.0, 1.0, 5.0, 0),
]
NAMES = ["age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak",
         "oldpeak_missing", "trestbps_missing", "thalach_missing", "chol_missing",
         "restecg_missing", "exang_missing", "fbs_missing", "cp_2", "cp_4", "restecg_1"]
# Expected unscaled features. Medians are Spark's (exact, the lower middle value for an
# even count): trestbps 140 of {120, 140, 160}; chol 220 of {200, 220, 250, 300};
# thalach 140 of {130, 140, 150, 170}; oldpeak 1 of {0, 1, 2, 3}. Modes: ties -> smallest.
RAW_TRAIN = [
    [40, 1, 120, 200, 0, 150, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [50, 0, 140, 220, 1, 140, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1],
    [60, 1, 140, 300, 0, 130, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0],
    [70, 1, 160, 250, 0, 170, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0],
    [45, 0, 140, 220, 0, 140, 1, 3, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1],
]
RAW_TEST = [
    [55, 1, 140, 220, 1, 140, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
    [80, 0, 200, 400, 0, 100, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
]


def stages(columns: list[str] | None = None) -> tuple[ImpossibleValueToNull,
                                                      DropSparseColumnsModel]:
    rules = ImpossibleValueToNull(rules=[list(r) for r in IMPOSSIBLE_VALUE_RULES])
    return rules, DropSparseColumnsModel(droppedCols=columns or ["slope", "ca", "thal"])


def vectors(df: Any, column: str) -> Any:
    return df.select("source", "line", vector_to_array(column).alias(column))


@pytest.fixture(scope="module")
def small(spark: Any) -> Any:
    train = spark.createDataFrame(TRAIN, COLUMNS)
    test = spark.createDataFrame(TEST, COLUMNS)
    model, train_p, test_p, unseen = prepare_splits(train, test, *stages())
    return train, test, model, train_p, test_p, unseen


# ------------------------------------------------------------------------------- split
def test_split_is_a_partition_of_the_rows(spark: Any) -> None:
    df = spark.createDataFrame([("a", i, float(i)) for i in range(300)],
                               "source string, line bigint, x double")
    train, test = train_test_split(df, seed=7)
    assert train.join(test, on=["source", "line"], how="inner").count() == 0
    assert_df_equality(train.unionByName(test), df, ignore_row_order=True)


def test_split_does_not_depend_on_partitioning(spark: Any) -> None:
    df = spark.createDataFrame([(s, i, float(i)) for s in ("a", "b") for i in range(150)],
                               "source string, line bigint, x double")
    one, _ = train_test_split(df.repartition(1), seed=11)
    many, _ = train_test_split(df.repartition(7, "x"), seed=11)
    assert_df_equality(one, many, ignore_row_order=True)
    other, _ = train_test_split(df, seed=12)
    assert {r["x"] for r in other.collect()} != {r["x"] for r in one.collect()}


def test_split_fraction_is_bernoulli_close_to_requested(spark: Any) -> None:
    n = 2000
    df = spark.range(n).select(F.lit("k").alias("source"), F.col("id").alias("line"))
    sizes = [train_test_split(df, seed=s)[0].count() / n for s in (0, 1, 2)]
    # Binomial(2000, 0.7): standard deviation 0.0102; allow 4 of them.
    assert all(abs(size - 0.7) < 0.041 for size in sizes), sizes


def test_split_rejects_bad_fraction_and_missing_key(spark: Any) -> None:
    df = spark.createDataFrame([(1.0,)], "x double")
    with pytest.raises(DataValidationError, match=r"row key column\(s\) \['source', 'line'\]"):
        train_test_split(df)
    with pytest.raises(InvalidParameterError, match="'train_fraction' parameter"):
        train_test_split(df, train_fraction=1.0, key_columns=["x"])


# ------------------------------------------------------- preprocessing on hand-made rows
def test_hand_made_features_before_scaling(spark: Any, small: Any) -> None:
    *_, model, train_p, test_p, _ = small
    assert feature_names(model) == NAMES
    schema = "source string, line bigint, features_raw array<double>"
    expected_train = spark.createDataFrame(
        [("t", i + 1, [float(v) for v in row]) for i, row in enumerate(RAW_TRAIN)], schema)
    expected_test = spark.createDataFrame(
        [("s", 6 + i, [float(v) for v in row]) for i, row in enumerate(RAW_TEST)], schema)
    assert_df_equality(vectors(train_p, "features_raw"), expected_train, ignore_row_order=True,
                       ignore_nullable=True)
    assert_df_equality(vectors(test_p, "features_raw"), expected_test, ignore_row_order=True,
                       ignore_nullable=True)


def test_hand_made_scaling_uses_train_min_max_only(small: Any) -> None:
    *_, test_p, _ = small
    lo, hi = np.min(RAW_TRAIN, axis=0), np.max(RAW_TRAIN, axis=0)
    expected = (np.array(RAW_TEST, dtype=float) - lo) / (hi - lo)
    got = np.array([r["features"] for r in vectors(test_p, "features").orderBy("line")
                    .collect()])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[1, 0] == pytest.approx((80 - 40) / 30)      # beyond the train range: > 1


def test_hand_made_fitted_statistics_and_unseen_categories(small: Any) -> None:
    *_, model, _, _, unseen = small
    stats = fitted_statistics(model)
    assert stats["medians"] == {"oldpeak": 1.0, "trestbps": 140.0, "thalach": 140.0,
                                "chol": 220.0}
    assert stats["modes"] == {"restecg": 0.0, "exang": 0.0, "fbs": 0.0}
    assert stats["levels"] == {"cp": ["1.0", "2.0", "4.0"], "restecg": ["0.0", "1.0"]}
    assert unseen == {"cp": 1, "restecg": 1}


def test_empty_training_split_is_rejected(spark: Any) -> None:
    empty = spark.createDataFrame([], COLUMNS)
    with pytest.raises(DataValidationError, match="empty training split"):
        prepare_splits(empty, empty, *stages())
