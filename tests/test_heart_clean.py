"""Step 3: cleaning — impossible values, sparse columns, duplicates; counts on the real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality

from rddml.errors import InvalidParameterError
from rddml.heart.clean import clean, count_rule_changes, drop_duplicates
from rddml.heart.load import load_heart_disease

DATA = Path(__file__).resolve().parents[1] / "data/uci-heart-disease"
SCHEMA = "source string, line bigint, chol double, trestbps double, oldpeak double, ca double"


@pytest.fixture(scope="module")
def raw(spark: Any) -> Any:
    loaded = load_heart_disease(spark, str(DATA))
    yield loaded.df
    loaded.unpersist()


@pytest.fixture(scope="module")
def cleaned(raw: Any) -> Any:
    result = clean(raw)
    result.df.cache()
    yield result
    result.df.unpersist()


@pytest.fixture()
def small(spark: Any) -> Any:
    return spark.createDataFrame([
        ("a", 1, 0.0, 120.0, 1.5, None),
        ("a", 2, 250.0, 0.0, -0.5, None),
        ("a", 3, None, 130.0, 0.0, 1.0),
        ("b", 1, 0.0, 0.0, None, None),
        ("b", 2, 250.0, 0.0, -2.0, None),   # same as a/2 after the rules
        ("b", 3, 200.0, 140.0, 2.0, 3.0),
    ], SCHEMA)


def test_rules_nulls_counts_sparse_columns_and_duplicates(spark: Any, small: Any) -> None:
    result = clean(small, candidate_columns=["chol", "trestbps", "oldpeak", "ca"],
                   max_missing_fraction=0.5)
    expected = spark.createDataFrame([
        ("a", 1, None, 120.0, 1.5),
        ("a", 2, 250.0, None, None),
        ("a", 3, None, 130.0, 0.0),
        ("b", 1, None, None, None),
        ("b", 3, 200.0, 140.0, 2.0),
    ], "source string, line bigint, chol double, trestbps double, oldpeak double")
    assert_df_equality(result.df, expected, ignore_row_order=True, ignore_nullable=True)
    assert result.rule_changes == {"chol == 0": 2, "trestbps == 0": 3, "oldpeak < 0": 2}
    assert result.dropped_columns == ["ca"]           # 4/6 missing > 0.5; trestbps 3/6 is not
    assert result.missing_after_rules["trestbps"] == 0.5
    assert (result.n_before, result.n_duplicates, result.n_after) == (6, 1, 5)


def test_duplicates_keep_the_smallest_key_and_nulls_compare_equal(spark: Any) -> None:
    df = spark.createDataFrame([
        ("va", 9, 1.0, None), ("cleveland", 5, 1.0, None), ("va", 2, 1.0, None),
        ("va", 3, 1.0, 2.0),
    ], "source string, line bigint, x double, y double")
    for frame in (df, df.repartition(3)):
        expected = spark.createDataFrame([("cleveland", 5, 1.0, None), ("va", 3, 1.0, 2.0)],
                                         "source string, line bigint, x double, y double")
        assert_df_equality(drop_duplicates(frame), expected, ignore_row_order=True,
                           ignore_nullable=True)


def test_duplicates_without_key_columns_use_every_column(spark: Any) -> None:
    df = spark.createDataFrame([(1.0, None), (1.0, None), (2.0, 1.0)], "x double, y double")
    expected = spark.createDataFrame([(1.0, None), (2.0, 1.0)], "x double, y double")
    assert_df_equality(drop_duplicates(df, key_columns=()), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_rule_counts_ignore_nulls_and_both_rules_count_a_shared_value(small: Any) -> None:
    counts = count_rule_changes(small, [["oldpeak", "<", 0.0], ["oldpeak", "<=", 0.0]])
    assert counts == {"oldpeak < 0": 2, "oldpeak <= 0": 3}


def test_real_files_rule_counts_dropped_columns_and_918_rows(cleaned: Any) -> None:
    assert cleaned.rule_changes == {"chol == 0": 172, "trestbps == 0": 1, "oldpeak < 0": 12}
    assert cleaned.dropped_columns == ["slope", "ca", "thal"]
    assert cleaned.missing_after_rules.round(4).to_dict() == pytest.approx({
        "age": 0.0, "sex": 0.0, "cp": 0.0, "trestbps": 0.0652, "chol": 0.2196,
        "fbs": 0.0978, "restecg": 0.0022, "thalach": 0.0598, "exang": 0.0598,
        "oldpeak": 0.0804, "slope": 0.3359, "ca": 0.6641, "thal": 0.5283})
    assert (cleaned.n_before, cleaned.n_duplicates, cleaned.n_after) == (920, 2, 918)
    assert cleaned.df.count() == 918 and cleaned.df.filter("disease = 1").count() == 508


def test_real_duplicates_are_the_write_ups_two_rows(raw: Any, cleaned: Any) -> None:
    kept = {(r["source"], r["line"]) for r in cleaned.df.select("source", "line").collect()}
    everything = {(r["source"], r["line"]) for r in raw.select("source", "line").collect()}
    # The write-up's duplicates: (58, male, cp 3, 150, 219, ...) and (49, female, cp 2, ...).
    assert everything - kept == {("hungarian", 103), ("va", 188)}
    assert "chol" in cleaned.df.columns and "ca" not in cleaned.df.columns


def test_cleaned_values_follow_the_rules(cleaned: Any) -> None:
    df = cleaned.df
    assert df.filter("chol = 0 or trestbps = 0 or oldpeak < 0").count() == 0
    # 30 '?' + 172 zeros, less the dropped Hungarian duplicate (its chol was '?').
    assert df.filter("chol is null").count() == 30 + 172 - 1


def test_bad_rules_and_fraction_are_rejected(small: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"'rules' parameter must be a list of"):
        clean(small, rules=[["chol", "=", 0]])
    with pytest.raises(InvalidParameterError, match="'max_missing_fraction' parameter"):
        clean(small, max_missing_fraction=1.5)
