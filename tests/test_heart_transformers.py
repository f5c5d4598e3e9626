"""The custom pyspark.ml stages, each alone on hand-made frames, and their persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import OneHotEncoder, StringIndexer
from pyspark.ml.functions import vector_to_array

from rddml.errors import DataValidationError, InvalidParameterError
from rddml.heart.transformers import (
    DropFirstSlot,
    DropSparseColumns,
    DropSparseColumnsModel,
    ImpossibleValueToNull,
    MissingIndicator,
)

RULES = [["chol", "==", 0.0], ["oldpeak", "<", 0.0], ["oldpeak", ">", 9.0]]


@pytest.fixture(scope="module")
def frame(spark: Any) -> Any:
    return spark.createDataFrame([
        (1, 0.0, -1.0, 1.0),
        (2, 250.0, 10.0, None),
        (3, None, 0.0, 2.0),
        (4, 180.0, float("nan"), None),
    ], "id int, chol double, oldpeak double, cp double")


def test_impossible_values_become_null_and_other_columns_are_untouched(spark: Any,
                                                                      frame: Any) -> None:
    out = ImpossibleValueToNull(rules=RULES).transform(frame)
    expected = spark.createDataFrame([
        (1, None, None, 1.0), (2, 250.0, None, None), (3, None, 0.0, 2.0),
        (4, 180.0, float("nan"), None),
    ], "id int, chol double, oldpeak double, cp double")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True,
                       allow_nan_equality=True)


def test_rules_naming_an_absent_column_or_a_bad_operator_are_errors(frame: Any) -> None:
    with pytest.raises(DataValidationError, match=r"column\(s\) \['thal'\] not found"):
        ImpossibleValueToNull(rules=[["thal", "==", 0]]).transform(frame)
    with pytest.raises(InvalidParameterError, match="operator one of ==, <, <=, >, >="):
        ImpossibleValueToNull(rules=[["chol", "!=", 0]])


def test_missing_indicator_flags_null_and_nan(spark: Any, frame: Any) -> None:
    out = MissingIndicator(inputCols=["chol", "oldpeak", "cp"]).transform(frame)
    expected = frame.join(spark.createDataFrame(
        [(1, 0, 0, 0), (2, 0, 0, 1), (3, 1, 0, 0), (4, 0, 1, 1)],
        "id int, chol_missing int, oldpeak_missing int, cp_missing int"), on="id", how="inner")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True,
                       allow_nan_equality=True)


def test_drop_sparse_columns_learns_then_drops(frame: Any) -> None:
    model = DropSparseColumns(inputCols=["chol", "oldpeak", "cp"],
                              maxMissingFraction=0.3).fit(frame)
    assert model.getDroppedCols() == ["cp"]                  # 2/4 > 0.3; chol 1/4 and
    assert model.getMissingFractions() == {"chol": 0.25, "oldpeak": 0.25, "cp": 0.5}  # NaN
    assert model.transform(frame).columns == ["id", "chol", "oldpeak"]


def test_drop_first_slot_removes_the_reference_level_and_keeps_names(spark: Any) -> None:
    train = spark.createDataFrame([(1.0,), (2.0,), (4.0,), (2.0,)], "cp double")
    indexer = StringIndexer(inputCol="cp", outputCol="i", stringOrderType="alphabetAsc",
                            handleInvalid="keep").fit(train)
    encoder = OneHotEncoder(inputCol="i", outputCol="v", dropLast=True).fit(
        indexer.transform(train))
    scored = spark.createDataFrame([(1.0,), (4.0,), (3.0,)], "cp double")   # 3: unseen
    out = DropFirstSlot(inputCols=["v"], outputCols=["w"]).transform(
        encoder.transform(indexer.transform(scored)))
    rows = out.select("cp", vector_to_array("w").alias("w")).collect()
    assert {r["cp"]: r["w"] for r in rows} == {1.0: [0.0, 0.0], 4.0: [0.0, 1.0],
                                               3.0: [0.0, 0.0]}
    attr = out.schema["w"].metadata["ml_attr"]
    assert attr["num_attrs"] == 2
    assert [a["name"] for a in attr["attrs"]["binary"]] == ["2.0", "4.0"]


def test_drop_first_slot_needs_matching_columns(frame: Any) -> None:
    with pytest.raises(InvalidParameterError, match="same length, got 1 and 2"):
        DropFirstSlot(inputCols=["cp"], outputCols=["a", "b"]).transform(frame)


def test_custom_stages_save_and_reload_inside_a_pipeline_model(frame: Any,
                                                               tmp_path: Path) -> None:
    model = Pipeline(stages=[
        ImpossibleValueToNull(rules=RULES),
        # After the rules: chol 2/4 missing, oldpeak 3/4, cp 2/4.
        DropSparseColumns(inputCols=["chol", "oldpeak", "cp"], maxMissingFraction=0.6),
        MissingIndicator(inputCols=["chol", "cp"], suffix="_na"),
    ]).fit(frame)
    model.write().save(str(tmp_path / "m"))
    loaded = PipelineModel.load(str(tmp_path / "m"))
    assert [type(s).__name__ for s in loaded.stages] == [
        "ImpossibleValueToNull", "DropSparseColumnsModel", "MissingIndicator"]
    assert loaded.stages[0].getRules() == RULES
    assert isinstance(loaded.stages[1], DropSparseColumnsModel)
    assert loaded.stages[1].getDroppedCols() == ["oldpeak"]
    assert_df_equality(loaded.transform(frame), model.transform(frame), ignore_row_order=True,
                       allow_nan_equality=True)
    assert loaded.transform(frame).columns == ["id", "chol", "cp", "chol_na", "cp_na"]
